package invalidation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

// smallPages makes the real client list two invalidations a page, so that a few
// invalidations exercise the paginator, and can rewrite what the list says.
type smallPages struct {
	*cloudfront.Client
	lists     atomic.Int32
	afterList func(*cloudfront.ListInvalidationsOutput)
}

func (s *smallPages) ListInvalidations(ctx context.Context, in *cloudfront.ListInvalidationsInput, optFns ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsOutput, error) {
	s.lists.Add(1)
	cp := *in
	cp.MaxItems = aws.Int32(2)
	out, err := s.Client.ListInvalidations(ctx, &cp, optFns...)
	if err == nil && s.afterList != nil {
		s.afterList(out)
	}
	return out, err
}

func mustCreate(t *testing.T, c API, dist string, raw ...string) Invalidation {
	t.Helper()
	paths, err := PreparePaths(raw)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Create(context.Background(), c, dist, paths, CallerReference(append([]string{t.Name(), dist}, raw...)...))
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func wildcards(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("/%s%d/*", prefix, i)
	}
	return out
}

func TestInProgressCountsOnlyInProgress(t *testing.T) {
	moto := startMoto(t)
	cf := testkit.StartCloudFront(t, moto, testkit.CloudFrontOptions{CompleteAfter: time.Hour})
	c := newClient(cf.URL)
	ctx := context.Background()
	d := createDistribution(t, cf.URL)

	u, err := InProgress(ctx, c, d)
	if err != nil || u.Exact != 0 || u.Wildcards != 0 || len(u.Invalidations) != 0 {
		t.Fatalf("fresh distribution: %+v %v", u, err)
	}
	if u.FreeWildcards() != MaxInProgressWildcards || u.FreeExact() != MaxInProgressPaths {
		t.Errorf("free on a fresh distribution: %d wildcards, %d exact", u.FreeWildcards(), u.FreeExact())
	}

	a := mustCreate(t, c, d, append(wildcards(3, "a"), "/x.html", "/y.html")...)
	b := mustCreate(t, c, d, append(wildcards(4, "b"), "/z.html")...)
	done := mustCreate(t, c, d, wildcards(5, "done")...)
	cf.Complete(d, done.ID)
	// One created behind the proxy's back: moto completes it at once.
	mustCreate(t, newClient(moto), d, wildcards(6, "moto")...)

	sp := &smallPages{Client: c}
	u, err = InProgress(ctx, sp, d)
	if err != nil {
		t.Fatal(err)
	}
	if u.Wildcards != 7 || u.Exact != 3 {
		t.Errorf("usage %d wildcards %d exact, want 7 and 3", u.Wildcards, u.Exact)
	}
	if got := ids(u.Invalidations); got != b.ID+" "+a.ID {
		t.Errorf("in progress %q, want %q (newest first)", got, b.ID+" "+a.ID)
	}
	if n := sp.lists.Load(); n != 2 {
		t.Errorf("%d list calls for 4 invalidations 2 a page, want 2", n)
	}
	if u.FreeWildcards() != 8 || u.FreeExact() != MaxInProgressPaths-3 {
		t.Errorf("free: %d wildcards, %d exact", u.FreeWildcards(), u.FreeExact())
	}

	// What InProgress counts is what CloudFront enforces: the free wildcards are
	// accepted, one more is refused.
	if _, err := Create(ctx, c, d, wildcards(u.FreeWildcards()+1, "over"), CallerReference(t.Name(), "over")); Classify(err) != KindInProgressLimit {
		t.Fatalf("one wildcard over the free ones: %v, want the in-progress limit", err)
	}
	mustCreate(t, c, d, wildcards(u.FreeWildcards(), "fill")...)
	u, err = InProgress(ctx, c, d)
	if err != nil || u.FreeWildcards() != 0 || u.Wildcards != MaxInProgressWildcards {
		t.Errorf("after filling: %+v %v", u, err)
	}
}

func ids(invs []Invalidation) string {
	var s []string
	for _, inv := range invs {
		s = append(s, inv.ID)
	}
	return strings.Join(s, " ")
}

func TestInProgressStatusCaseAndRace(t *testing.T) {
	moto := startMoto(t)
	cf := testkit.StartCloudFront(t, moto, testkit.CloudFrontOptions{CompleteAfter: time.Hour})
	c := newClient(cf.URL)
	ctx := context.Background()
	d := createDistribution(t, cf.URL)
	mustCreate(t, c, d, "/a/*", "/b.html")

	// Emulators spell the status in other cases.
	lower := &smallPages{Client: c, afterList: func(out *cloudfront.ListInvalidationsOutput) {
		for i := range out.InvalidationList.Items {
			out.InvalidationList.Items[i].Status = aws.String(strings.ToUpper(aws.ToString(out.InvalidationList.Items[i].Status)))
		}
	}}
	u, err := InProgress(ctx, lower, d)
	if err != nil || u.Wildcards != 1 || u.Exact != 1 {
		t.Errorf("INPROGRESS not counted: %+v %v", u, err)
	}

	// Listed in progress, completed by the time it is read: not counted.
	race := &smallPages{Client: c, afterList: func(*cloudfront.ListInvalidationsOutput) { cf.Complete(d, "") }}
	u, err = InProgress(ctx, race, d)
	if err != nil || u.Wildcards != 0 || u.Exact != 0 || len(u.Invalidations) != 0 {
		t.Errorf("completed in between: %+v %v", u, err)
	}
}

func TestInProgressErrors(t *testing.T) {
	moto := startMoto(t)
	cf := testkit.StartCloudFront(t, moto, testkit.CloudFrontOptions{CompleteAfter: time.Hour})
	c := newClient(cf.URL)
	ctx := context.Background()

	if _, err := InProgress(ctx, c, ""); err == nil {
		t.Error("empty distribution id accepted")
	}
	// (moto, and so the proxy, lists an unknown distribution's invalidations as none
	// where CloudFront answers NoSuchDistribution: errors come from injected faults.)
	d := createDistribution(t, cf.URL)
	cf.InjectOp(testkit.OpListInvalidations, testkit.FaultAccessDenied, 1)
	_, err := InProgress(ctx, c, d)
	if Classify(err) != KindPermission || !strings.Contains(err.Error(), "list invalidations for "+d) {
		t.Errorf("list denied: %v (%v)", err, Classify(err))
	}
	mustCreate(t, c, d, "/a/*")
	cf.InjectOp(testkit.OpGetInvalidation, testkit.FaultAccessDenied, 1)
	_, err = InProgress(ctx, c, d)
	if Classify(err) != KindPermission || !strings.Contains(err.Error(), "get invalidation") {
		t.Errorf("get denied: %v (%v)", err, Classify(err))
	}
}

func TestRoomOnIsTheMinimumOverDistributions(t *testing.T) {
	moto := startMoto(t)
	cf := testkit.StartCloudFront(t, moto, testkit.CloudFrontOptions{CompleteAfter: time.Hour})
	c := newClient(cf.URL)
	ctx := context.Background()
	d1, d2, d3 := createDistribution(t, cf.URL), createDistribution(t, cf.URL), createDistribution(t, cf.URL)
	i1 := mustCreate(t, c, d1, append(wildcards(2, "a"), "/1.html", "/2.html", "/3.html")...)
	i2 := mustCreate(t, c, d2, append(wildcards(12, "b"), "/1.html")...)

	r, err := RoomOn(ctx, c, []string{d1, d2, d3})
	if err != nil {
		t.Fatal(err)
	}
	if r.Wildcards != 3 || r.Exact != MaxInProgressPaths-3 {
		t.Errorf("room %d wildcards %d exact, want 3 and %d", r.Wildcards, r.Exact, MaxInProgressPaths-3)
	}
	if len(r.Usages) != 3 || len(r.Busy()) != 2 {
		t.Errorf("usages %+v", r.Usages)
	}
	desc := r.Describe()
	for _, want := range []string{d1 + ": " + i1.ID + " (2 wildcard, 3 exact paths)", d2 + ": " + i2.ID + " (12 wildcard, 1 exact paths)"} {
		if !strings.Contains(desc, want) {
			t.Errorf("Describe() = %q, want it to contain %q", desc, want)
		}
	}
	if strings.Contains(desc, d3) {
		t.Errorf("Describe() names the idle distribution: %q", desc)
	}

	empty, err := RoomOn(ctx, c, nil)
	if err != nil || empty.Wildcards != MaxInProgressWildcards || empty.Exact != MaxInProgressPaths || empty.Describe() != "" {
		t.Errorf("no distributions: %+v %v", empty, err)
	}
	// The first list (d1) answers, the second (d2) fails: the error names d2.
	failing := &failSecondList{ListAPI: c}
	if _, err := RoomOn(ctx, failing, []string{d1, d2}); err == nil || !strings.Contains(err.Error(), d2) {
		t.Errorf("a bad distribution among good ones: %v", err)
	}
}

// failSecondList fails the second ListInvalidations call as AWS does for a
// distribution the credentials may not read.
type failSecondList struct {
	ListAPI
	n int
}

func (f *failSecondList) ListInvalidations(ctx context.Context, in *cloudfront.ListInvalidationsInput, optFns ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsOutput, error) {
	f.n++
	if f.n == 2 {
		return nil, errors.New("operation error CloudFront: ListInvalidations, AccessDenied")
	}
	return f.ListAPI.ListInvalidations(ctx, in, optFns...)
}

func TestRoomFit(t *testing.T) {
	for _, tc := range []struct {
		room         Room
		paths, wild  int
		wantP, wantW int
	}{
		{Room{Exact: 3000, Wildcards: 15}, 30, 10, 30, 10},
		{Room{Exact: 3000, Wildcards: 3}, 30, 10, 30, 3},
		{Room{Exact: 3000, Wildcards: 0}, 30, 10, 30, 0},
		{Room{Exact: 3000, Wildcards: 15}, 5, 10, 5, 5},
		{Room{Exact: 20, Wildcards: 15}, 30, 10, 20, 10},
		{Room{Exact: 0, Wildcards: 15}, 30, 10, 0, 0},
		{Room{Exact: 3000, Wildcards: 15}, 30, -1, 30, 0},
	} {
		p, w := tc.room.Fit(tc.paths, tc.wild)
		if p != tc.wantP || w != tc.wantW {
			t.Errorf("%+v.Fit(%d, %d) = %d, %d; want %d, %d", tc.room, tc.paths, tc.wild, p, w, tc.wantP, tc.wantW)
		}
		// Every plan within the result fits the room, whatever its mixture.
		for used := 0; used <= p; used++ {
			for uw := 0; uw <= min(w, used); uw++ {
				if used-uw > tc.room.Exact || uw > tc.room.Wildcards {
					t.Errorf("%+v.Fit(%d, %d): a plan of %d paths with %d wildcards would not fit", tc.room, tc.paths, tc.wild, used, uw)
				}
			}
		}
	}
}

// The listing stops at the first page that ends with an invalidation older than
// InProgressHorizon: later pages (older still, newest-first order) are not read.
func TestInProgressStopsPagingAtOldInvalidations(t *testing.T) {
	moto := startMoto(t)
	cf := testkit.StartCloudFront(t, moto, testkit.CloudFrontOptions{CompleteAfter: time.Hour})
	cfg, err := testkit.SDKConfig(context.Background(), cf.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := &smallPages{Client: cloudfront.NewFromConfig(cfg)}
	dist := testkit.CreateDistribution(t, cf.URL)
	for i := range 6 {
		mustCreate(t, c, dist, fmt.Sprintf("/p%d.html", i))
	}
	// All six in progress, two a page: three pages.
	u, err := InProgress(context.Background(), c, dist)
	if err != nil || u.Exact != 6 || c.lists.Load() != 3 {
		t.Fatalf("recent: %+v %v after %d lists, want 6 paths in 3 lists", u, err, c.lists.Load())
	}
	// The second page ends with an old invalidation: the third is not read.
	c.lists.Store(0)
	c.afterList = func(out *cloudfront.ListInvalidationsOutput) {
		if c.lists.Load() == 2 {
			items := out.InvalidationList.Items
			items[len(items)-1].CreateTime = aws.Time(time.Now().Add(-InProgressHorizon - time.Minute))
		}
	}
	u, err = InProgress(context.Background(), c, dist)
	if err != nil || c.lists.Load() != 2 || u.Exact != 4 {
		t.Errorf("old: %+v %v after %d lists, want 2 lists and the 4 paths read", u, err, c.lists.Load())
	}
}
