package budget

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/planner"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

var sharedMoto *testkit.Moto

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedMoto != nil {
		sharedMoto.Close()
	}
	os.Exit(code)
}

// proxy starts (once) moto and, per test, the CloudFront realism proxy in front of it
// with invalidations that stay in progress for an hour unless completed by the test.
func proxy(t *testing.T) (*testkit.CloudFront, *cloudfront.Client) {
	t.Helper()
	if sharedMoto == nil {
		m, err := testkit.NewMoto()
		if err != nil {
			t.Fatal(err)
		}
		sharedMoto = m
	}
	cf := testkit.StartCloudFront(t, sharedMoto.URL, testkit.CloudFrontOptions{CompleteAfter: time.Hour})
	c := cloudfront.New(cloudfront.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(cf.URL),
		Credentials:      credentials.NewStaticCredentialsProvider(testkit.AccessKeyID, testkit.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	})
	return cf, c
}

// site has 12 directories with distinct first letters whose 3 pages all changed, and
// one unchanged page: a wildcard per directory evicts nothing and saves 2 paths, so
// the best plan within 30 paths uses every wildcard it may from 3 on (with 1 or 2,
// only "/*" fits, which costs the unchanged page; with none, no plan fits).
func site() planner.Input {
	all := []string{"zz.html"}
	var changed []string
	for d := range 12 {
		for p := range 3 {
			k := fmt.Sprintf("%c/p%d.html", 'a'+d, p)
			all = append(all, k)
			changed = append(changed, k)
		}
	}
	return planner.Input{All: all, Changed: changed, IndexDocument: "-"}
}

func mustPlan(t *testing.T, in planner.Input) planner.Result {
	t.Helper()
	res, err := planner.Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestPlanCapsWildcardsToTheFreeOnes(t *testing.T) {
	cf, c := proxy(t)
	ctx := context.Background()
	d1, d2 := testkit.CreateDistribution(t, cf.URL), testkit.CreateDistribution(t, cf.URL)

	free := mustPlan(t, site())
	if free.Wildcards != planner.DefaultMaxWildcards {
		t.Fatalf("test site: the free plan uses %d wildcards, want the default %d", free.Wildcards, planner.DefaultMaxWildcards)
	}
	res, rep, err := Plan(ctx, c, []string{d1, d2}, site(), nil)
	if err != nil || rep.Capped() || !slices.Equal(res.Paths, free.Paths) {
		t.Fatalf("nothing in progress: %v capped=%v paths %v, want %v", err, rep.Capped(), res.Paths, free.Paths)
	}

	cf.Occupy(t, d1, 8, 0)  // 7 free on d1
	cf.Occupy(t, d2, 12, 5) // 3 free on d2: the minimum
	res, rep, err = Plan(ctx, c, []string{d1, d2}, site(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Capped() || rep.MaxWildcards != 3 || rep.RequestedWildcards != planner.DefaultMaxWildcards || rep.MaxPaths != planner.DefaultMaxPaths {
		t.Errorf("report %+v, want wildcards capped from the default to 3", rep)
	}
	in := site()
	in.MaxWildcards = 3
	want := mustPlan(t, in)
	if !slices.Equal(res.Paths, want.Paths) || res.Wildcards != 3 {
		t.Errorf("capped plan %v (%d wildcards), want the planner's at W=3: %v", res.Paths, res.Wildcards, want.Paths)
	}
	// The capped plan is accepted by CloudFront on both distributions now.
	for _, d := range []string{d1, d2} {
		if _, err := invalidation.Create(ctx, c, d, res.Paths, invalidation.CallerReference(t.Name(), d, "planned")); err != nil {
			t.Errorf("create the capped plan on %s: %v", d, err)
		}
	}
	// The uncapped plan would have been refused on d2 (checked on a twin).
	d3 := testkit.CreateDistribution(t, cf.URL)
	cf.Occupy(t, d3, 12, 5)
	if _, err := invalidation.Create(ctx, c, d3, free.Paths, invalidation.CallerReference(t.Name(), "uncapped")); invalidation.Classify(err) != invalidation.KindInProgressLimit {
		t.Errorf("the uncapped plan on a busy distribution: %v, want the in-progress limit", err)
	}
}

func TestPlanWithoutFreeWildcards(t *testing.T) {
	cf, c := proxy(t)
	ctx := context.Background()
	d := testkit.CreateDistribution(t, cf.URL)
	old := cf.Occupy(t, d, 4, 0)
	newer := cf.Occupy(t, d, 11, 0)
	exactOnly := cf.Occupy(t, d, 0, 2)

	// Few changes: exact paths suffice, and the plan has no wildcard.
	small := planner.Input{All: []string{"a.html", "b.html", "c/d.html"}, Changed: []string{"a.html", "c/d.html"}}
	res, rep, err := Plan(ctx, c, []string{d}, small, nil)
	if err != nil || res.Wildcards != 0 || len(res.Paths) != 2 || rep.MaxWildcards != 0 || !rep.Capped() {
		t.Fatalf("small change set with no wildcard free: %v %+v %+v", err, res, rep)
	}
	if _, err := invalidation.Create(ctx, c, d, res.Paths, invalidation.CallerReference(t.Name(), "small")); err != nil {
		t.Errorf("create: %v", err)
	}

	// 36 changed pages in 30 paths need wildcards: a *BusyError naming what is in
	// progress, wrapping ErrInfeasible.
	_, rep, err = Plan(ctx, c, []string{d}, site(), nil)
	var be *BusyError
	if !errors.As(err, &be) || !errors.Is(err, planner.ErrInfeasible) {
		t.Fatalf("infeasible without wildcards: %v", err)
	}
	if rep.Room.Wildcards != 0 || be.Report.MaxWildcards != 0 {
		t.Errorf("report %+v", be.Report)
	}
	for _, id := range []string{old, newer, d} {
		if !strings.Contains(err.Error(), id) {
			t.Errorf("error %q does not name %s", err, id)
		}
	}
	if o, ok := be.Oldest(); !ok || o.ID != old {
		t.Errorf("Oldest() = %v %v, want %s (the oldest holding wildcards, not %s)", o.ID, ok, old, exactOnly)
	}

	// Once they complete, the full budget is back.
	cf.Complete(d, "")
	res, rep, err = Plan(ctx, c, []string{d}, site(), nil)
	if err != nil || rep.Capped() || res.Wildcards != planner.DefaultMaxWildcards {
		t.Errorf("after completion: %v %+v wildcards %d", err, rep, res.Wildcards)
	}
}

func TestPlanNoLookupCases(t *testing.T) {
	cf, c := proxy(t)
	ctx := context.Background()
	d := testkit.CreateDistribution(t, cf.URL)
	cf.Occupy(t, d, 15, 0)

	// No distribution: the plain plan, nothing asked.
	before := cf.Requests(testkit.OpListInvalidations)
	res, rep, err := Plan(ctx, c, nil, site(), nil)
	if err != nil || res.Wildcards != planner.DefaultMaxWildcards || rep.Capped() {
		t.Errorf("no distribution: %v %+v", err, rep)
	}
	// A bad budget is the planner's input error, before any lookup.
	in := site()
	in.MaxWildcards = -2
	var ie *planner.InputError
	if _, _, err := Plan(ctx, c, []string{d}, in, nil); !errors.As(err, &ie) {
		t.Errorf("bad budget: %v", err)
	}
	if n := cf.Requests(testkit.OpListInvalidations) - before; n != 0 {
		t.Errorf("%d lookups without need", n)
	}

	// A plan infeasible by the asked budget alone is the planner's error, not busy.
	d2 := testkit.CreateDistribution(t, cf.URL)
	in = site()
	in.MaxWildcards = planner.NoWildcards
	_, _, err = Plan(ctx, c, []string{d2}, in, nil)
	var be *BusyError
	if !errors.Is(err, planner.ErrInfeasible) || errors.As(err, &be) {
		t.Errorf("infeasible as asked: %v", err)
	}

	// A lookup failure is wrapped with context and keeps its kind.
	cf.InjectOp(testkit.OpListInvalidations, testkit.FaultAccessDenied, 1)
	_, _, err = Plan(ctx, c, []string{d2}, site(), nil)
	var le *LookupError
	if !errors.As(err, &le) || invalidation.Classify(err) != invalidation.KindPermission || !strings.Contains(err.Error(), "look up the invalidations in progress") {
		t.Errorf("lookup denied: %v", err)
	}
}

func TestPlanCountsExtraPaths(t *testing.T) {
	cf, c := proxy(t)
	ctx := context.Background()
	d := testkit.CreateDistribution(t, cf.URL)
	cf.Occupy(t, d, 10, 0)
	extra := []string{"/sitemap.xml", "/feeds/*", "/tags/*"}
	res, rep, err := Plan(ctx, c, []string{d}, site(), extra)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Room.Wildcards != 3 || rep.MaxWildcards != 3 || res.Wildcards != 3 {
		t.Errorf("room %+v max %d used %d: want 15-10-2 = 3", rep.Room, rep.MaxWildcards, res.Wildcards)
	}
	all := append(append([]string(nil), res.Paths...), extra...)
	if _, err := invalidation.Create(ctx, c, d, all, invalidation.CallerReference(t.Name())); err != nil {
		t.Errorf("planned plus extra paths refused: %v", err)
	}
}
