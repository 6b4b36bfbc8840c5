package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/planner"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// busySite writes all.txt and changed.txt for 12 directories with distinct first
// letters whose 3 pages all changed, next to one unchanged page: within 30 paths the
// best plan uses every wildcard it may, each evicting nothing, when it may use at
// least 3 (with fewer, only "/*" fits).
func busySite(t *testing.T) (all, changed string) {
	t.Helper()
	allKeys := []string{"zz.html"}
	var ch []string
	for d := range 12 {
		for p := range 3 {
			k := fmt.Sprintf("%c/p%d.html", 'a'+d, p)
			allKeys = append(allKeys, k)
			ch = append(ch, k)
		}
	}
	writeFile(t, "all.txt", strings.Join(allKeys, "\n")+"\n")
	writeFile(t, "changed.txt", strings.Join(ch, "\n")+"\n")
	return "all.txt", "changed.txt"
}

// busyProxy starts the realism proxy (invalidations in progress for an hour) in front
// of the shared moto and points Main's CloudFront calls at it.
func busyProxy(t *testing.T) *testkit.CloudFront {
	t.Helper()
	cf := testkit.StartCloudFront(t, moto(t).URL, testkit.CloudFrontOptions{CompleteAfter: time.Hour})
	useMoto(t, cf.URL)
	return cf
}

func TestInvalidateChangedCapsWildcardsByInProgress(t *testing.T) {
	cf := busyProxy(t)
	d1, d2 := testkit.CreateDistribution(t, cf.URL), testkit.CreateDistribution(t, cf.URL)
	all, changed := busySite(t)
	busy := cf.Occupy(t, d2, 12, 1) // 3 wildcards free on d2, 15 on d1
	cf.Occupy(t, d1, 5, 0)

	r := edgeflush(t, "", "invalidate", "--distribution", d1, "--distribution", d2, "--changed", changed, "--all", all, "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	out := decode(t, r.stdout)
	ip := out.InProgress
	if ip == nil || !ip.Capped || ip.FreeWildcards != 3 || ip.MaxWildcards != 3 || ip.RequestedWildcards != planner.DefaultMaxWildcards || len(ip.Invalidations) != 2 {
		t.Fatalf("inProgress %+v", ip)
	}
	if len(out.Invalidations) != 2 {
		t.Fatalf("invalidations %+v", out.Invalidations)
	}
	for _, inv := range out.Invalidations {
		if inv.ID == "" || wildcardCount(inv.Paths) != 3 || len(inv.Paths) != 30 {
			t.Errorf("%s: %d paths, %d wildcards, id %q: want 30 paths with the 3 free wildcards", inv.Distribution, len(inv.Paths), wildcardCount(inv.Paths), inv.ID)
		}
	}
	if n := cf.Creations(d2); n != 2 || cf.FaultsServed(0) != 0 {
		t.Errorf("%d creations on %s", n, d2)
	}

	r = edgeflush(t, "", "invalidate", "--distribution", d2, "--changed", changed, "--all", all, "--path", "/extra.html")
	// d2 now holds 15 wildcards: 36 pages in 30 paths is impossible without one.
	wantFailure(t, r, 1, "fits what CloudFront has free now", busy, "edgeflush wait --distribution "+d2+" --id "+busy)
	if n := cf.Creations(d2); n != 2 {
		t.Errorf("a refused plan created an invalidation: %d", n)
	}
}

func TestInvalidateChangedWithoutFreeWildcards(t *testing.T) {
	cf := busyProxy(t)
	d := testkit.CreateDistribution(t, cf.URL)
	cf.Occupy(t, d, 15, 0)
	writeFile(t, "all.txt", "a.html\nb.html\nc/d.html\nc/e.html\n")
	writeFile(t, "changed.txt", "a.html\nc/d.html\nc/e.html\n")

	// Exact paths suffice: planned with none, created at once.
	r := edgeflush(t, "", "invalidate", "--distribution", d, "--changed", "changed.txt", "--all", "all.txt")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "free on every distribution: 0 wildcard") || strings.Contains(r.stdout, "*") {
		t.Errorf("output %q: want the in-progress line and no wildcard", r.stdout)
	}
	if !strings.Contains(r.stdout, " 3 paths\n") || cf.Creations(d) != 2 {
		t.Errorf("output %q, %d creations", r.stdout, cf.Creations(d))
	}

	// Over the path budget without wildcards: a failure (exit 1, not usage) naming
	// what is in progress; then, once it completes, the same command works.
	r = edgeflush(t, "", "invalidate", "--distribution", d, "--changed", "changed.txt", "--all", "all.txt", "--max-paths", "2")
	wantFailure(t, r, 1, "in progress", "edgeflush wait --distribution "+d)
	cf.Complete(d, "")
	r = edgeflush(t, "", "invalidate", "--distribution", d, "--changed", "changed.txt", "--all", "all.txt", "--max-paths", "2")
	if r.code != 0 || !strings.Contains(r.stdout, "/c/*") {
		t.Errorf("after completion: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
}

func TestInvalidateDryRunLooksUpInProgress(t *testing.T) {
	cf := busyProxy(t)
	d := testkit.CreateDistribution(t, cf.URL)
	busy := cf.Occupy(t, d, 12, 2)
	all, changed := busySite(t)
	lists := cf.Requests(testkit.OpListInvalidations)

	r := edgeflush(t, "", "invalidate", "--distribution", d, "--changed", changed, "--all", all, "--dry-run")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := fmt.Sprintf("in progress: 1 invalidations (%s/%s: 12 wildcard, 2 exact paths); free on every distribution: 3 wildcard, 2998 exact paths; planned with at most 30 paths, 3 wildcards (30 paths, 10 wildcards asked)\n", d, busy)
	if !strings.HasPrefix(r.stdout, "dry run: nothing created\n"+want) {
		t.Errorf("dry run output:\n%s\nwant it to start with the in-progress line:\n%s", r.stdout, want)
	}
	if wildcardCount(strings.Fields(r.stdout)) != 3 {
		t.Errorf("dry run plans %d wildcards, want 3", wildcardCount(strings.Fields(r.stdout)))
	}
	if cf.Requests(testkit.OpListInvalidations) == lists || cf.Creations(d) != 1 {
		t.Errorf("dry run: %d lists, %d creations", cf.Requests(testkit.OpListInvalidations)-lists, cf.Creations(d))
	}

	// Nothing in progress: the line says so, and the full budget is used.
	cf.Complete(d, "")
	r = edgeflush(t, "", "invalidate", "--distribution", d, "--changed", changed, "--all", all, "--dry-run")
	if !strings.Contains(r.stdout, "in progress: none; free on every distribution: 15 wildcard, 3000 exact paths; planned with at most 30 paths, 10 wildcards\n") {
		t.Errorf("idle dry run: %q", r.stdout)
	}
	// Without --changed there is no plan and no lookup.
	lists = cf.Requests(testkit.OpListInvalidations)
	r = edgeflush(t, "", "invalidate", "--distribution", d, "--path", "/x", "--dry-run", "--output", "json")
	if r.code != 0 || decode(t, r.stdout).InProgress != nil || cf.Requests(testkit.OpListInvalidations) != lists {
		t.Errorf("explicit paths: %q %q", r.stdout, r.stderr)
	}
}

func TestInvalidateLookupFailure(t *testing.T) {
	cf := busyProxy(t)
	d := testkit.CreateDistribution(t, cf.URL)
	all, changed := busySite(t)
	cf.InjectOp(testkit.OpListInvalidations, testkit.FaultAccessDenied, 1)
	r := edgeflush(t, "", "invalidate", "--distribution", d, "--changed", changed, "--all", all)
	wantFailure(t, r, 1, "look up the invalidations in progress", "AccessDenied", "cloudfront:ListInvalidations")
	if cf.Creations(d) != 0 {
		t.Error("created after a failed lookup")
	}
}

// TestPlanWithinInProgress covers the helper `edgeflush deploy` calls in place of
// planner.Plan.
func TestPlanWithinInProgress(t *testing.T) {
	cf := busyProxy(t)
	d := testkit.CreateDistribution(t, cf.URL)
	a := newApp(strings.NewReader(""), io.Discard, io.Discard)
	in := planner.Input{All: []string{"x.html"}, IndexDocument: "-"}
	for d := range 12 {
		for p := range 3 {
			k := fmt.Sprintf("%c/p%d.html", 'a'+d, p)
			in.All = append(in.All, k)
			in.Changed = append(in.Changed, k)
		}
	}
	ctx := context.Background()

	res, err := a.planWithinInProgress(ctx, []string{d}, in)
	if err != nil || res.Wildcards != planner.DefaultMaxWildcards {
		t.Fatalf("idle: %v, %d wildcards", err, res.Wildcards)
	}
	cf.Occupy(t, d, 11, 0)
	if res, err = a.planWithinInProgress(ctx, []string{d}, in); err != nil || res.Wildcards != 4 {
		t.Errorf("11 in progress: %v, %d wildcards, want 4", err, res.Wildcards)
	}
	// No distribution: the plain plan, no lookup.
	lists := cf.Requests(testkit.OpListInvalidations)
	if res, err = a.planWithinInProgress(ctx, nil, in); err != nil || res.Wildcards != planner.DefaultMaxWildcards || cf.Requests(testkit.OpListInvalidations) != lists {
		t.Errorf("no distribution: %v, %d wildcards", err, res.Wildcards)
	}
	busy := cf.Occupy(t, d, 4, 0)
	_, err = a.planWithinInProgress(ctx, []string{d}, in)
	if err == nil || !strings.Contains(err.Error(), busy) || !strings.Contains(err.Error(), "edgeflush wait") {
		t.Errorf("full: %v", err)
	}
}

// deploy plans its invalidation within the wildcards free, like invalidate --changed.
func TestDeployCapsWildcardsByInProgress(t *testing.T) {
	cf := busyProxy(t)
	bucket := "inprogress-deploy"
	d := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{Origins: []testkit.DistributionOrigin{{ID: "site", DomainName: bucket + ".s3.amazonaws.com"}}})
	busy := cf.Occupy(t, d, 15, 0)
	cfg, err := testkit.SDKConfig(context.Background(), moto(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := awsconf.NewS3(cfg).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("site/docs", 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		writeFile(t, fmt.Sprintf("site/docs/p%02d.html", i), fmt.Sprintf("<p>%d</p>", i))
	}

	// A first deploy changes every object, so "/*" alone would be optimal; with every
	// wildcard slot taken, 12 pages do not fit 5 exact paths. The paths are planned
	// before any write, so the deploy fails having written nothing.
	r := edgeflush(t, "", "deploy", "site", "--bucket", bucket, "--distribution", d, "--max-paths", "5")
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"edgeflush: ", "in progress", "edgeflush wait --distribution " + d + " --id " + busy} {
		if r.code != 1 || !strings.Contains(last, want) {
			t.Fatalf("exit %d, last stderr line %q: want exit 1 and %q", r.code, last, want)
		}
	}
	if cf.Creations(d) != 1 {
		t.Errorf("%d creations, want only the one occupying the slots", cf.Creations(d))
	}
	if l, err := awsconf.NewS3(cfg).ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}); err != nil || len(l.Contents) != 0 {
		t.Errorf("the failed deploy wrote %d objects (%v), want none", len(l.Contents), err)
	}

	// Once the wildcards complete, the next deploy uploads everything and invalidates
	// "/*".
	cf.Complete(d, "")
	r = edgeflush(t, "", "deploy", "site", "--bucket", bucket, "--distribution", d, "--max-paths", "5", "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"/*"`) {
		t.Fatalf("after completion: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	var report struct{ Uploads []any }
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil || len(report.Uploads) != 12 {
		t.Errorf("second deploy: %v, %d uploads; want all 12", err, len(report.Uploads))
	}
}

// wildcardCount is how many of paths are wildcards.
func wildcardCount(paths []string) int {
	_, w := invalidation.CountPaths(paths)
	return w
}
