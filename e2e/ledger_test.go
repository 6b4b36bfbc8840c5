package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/invalidation/budget"
	"github.com/edgeflush/edgeflush/internal/planner"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// siteBuckets creates an artifact bucket and a site bucket and returns them with a
// function that stores a site version as an artifact zip.
func siteBuckets(t *testing.T) (s3c *s3.Client, site string, put func(key string, files map[string]string) testkit.Artifact) {
	t.Helper()
	ctx := context.Background()
	s3c = awsconf.NewS3(moto.Config(t))
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)
	artifacts := "artifacts-" + suffix
	site = "site-" + suffix
	for _, b := range []string{artifacts, site} {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	put = func(key string, files map[string]string) testkit.Artifact {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(artifacts), Key: aws.String(key), Body: bytes.NewReader(testkit.ArtifactZip(t, files))}); err != nil {
			t.Fatal(err)
		}
		return testkit.Artifact{Name: "BuildOutput", Bucket: artifacts, Key: key, Revision: key}
	}
	return s3c, site, put
}

// covers reports whether one of the (URL-encoded) paths matches the URL of key.
func covers(t *testing.T, paths []string, key string) bool {
	t.Helper()
	for _, p := range paths {
		raw, err := url.PathUnescape(p)
		if err != nil {
			t.Fatalf("path %q: %v", p, err)
		}
		u := "/" + key
		if raw == u || strings.HasSuffix(raw, "*") && strings.HasPrefix(u, strings.TrimSuffix(raw, "*")) ||
			strings.HasSuffix(key, "index.html") && (raw == "/"+strings.TrimSuffix(key, "index.html")) {
			return true
		}
	}
	return false
}

// Why-item 1: a job that fails after its uploads (CreateInvalidation denied, as on a
// first setup without the permission) and is retried, as the failure message advises,
// must still invalidate what the first attempt changed, although the retry (a new job
// id) finds nothing left to upload.
func TestDeployRetryAfterFailedInvalidationStillInvalidates(t *testing.T) {
	_, site, put := siteBuckets(t)
	s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: 200 * time.Millisecond})
	dist := s.siteDist(site)
	params := fmt.Sprintf(`{"DistributionId": %q, "Bucket": %q, "MaxPaths": 30}`, dist, site)

	d := s.driver(params)
	d.InputArtifacts = []testkit.Artifact{put("p/v1.zip", deploySite(1))}
	if c := s.run(d); !c.Succeeded() {
		t.Fatalf("v1: %s", final(t, c))
	}

	// v2: the upload happens, then CreateInvalidation is denied.
	v2 := put("p/v2.zip", deploySite(2))
	s.cf.Inject(testkit.FaultAccessDenied, 1)
	d = s.driver(params)
	d.InputArtifacts = []testkit.Artifact{v2}
	res := final(t, s.run(d))
	if res.Success || res.FailureType != "PermissionError" {
		t.Fatalf("v2 with CreateInvalidation denied: %s, want a PermissionError", res)
	}
	if n := len(s.cf.Invalidations(dist)); n != 1 {
		t.Fatalf("%d invalidations after the denied job, want v1's only", n)
	}

	// The retry: a new execution of the stage with the same artifact.
	d = s.driver(params)
	d.InputArtifacts = []testkit.Artifact{v2}
	chain := s.run(d)
	if !chain.Succeeded() {
		t.Fatalf("retry: %s", final(t, chain))
	}
	if got := final(t, chain).OutputVariables["Uploaded"]; got != "0" {
		t.Errorf("retry uploaded %s, want 0 (the denied job uploaded already)", got)
	}
	invs := s.cf.Invalidations(dist)
	if len(invs) != 2 {
		t.Fatalf("%d invalidations, want 2 (v1, the retry)", len(invs))
	}
	for _, key := range []string{"blog/b/index.html", "about/index.html"} {
		if !covers(t, invs[1].Paths, key) {
			t.Errorf("the retry's invalidation %v does not cover %s, changed by the denied job", invs[1].Paths, key)
		}
	}
}

// manyDirs is a site of n folders of 6 pages and one stylesheet each; version v
// changes every page, so that one wildcard per folder ("/dN/p*") names the changed
// pages alone: the plan's wildcards grow with the room free.
func manyDirs(n, v int) map[string]string {
	files := map[string]string{"index.html": "<p>home</p>"}
	for d := range n {
		files[fmt.Sprintf("d%d/u.css", d)] = "body{}"
		for p := range 6 {
			files[fmt.Sprintf("d%d/p%d.html", d, p)] = fmt.Sprintf("<p>%d %d v%d</p>", d, p, v)
		}
	}
	return files
}

// Why-item 2: a redelivered first event, with the wildcard slots half occupied and
// the first delivery's own invalidation now holding more of them, must send the very
// batch the first delivery sent (same caller reference): one invalidation, and the job
// succeeds instead of failing on InvalidArgument.
func TestRedeliveredDeployWithHalfTheWildcardsBusy(t *testing.T) {
	ctx := context.Background()
	_, site, put := siteBuckets(t)
	s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: time.Hour})
	dist := s.siteDist(site)
	s.cf.Occupy(t, dist, 7, 0) // 8 of 15 wildcard slots left
	params := fmt.Sprintf(`{"DistributionId": %q, "Bucket": %q, "MaxPaths": 10, "Wait": false}`, dist, site)

	d := s.driver(params)
	d.InputArtifacts = []testkit.Artifact{put("p/v1.zip", manyDirs(6, 1))}
	if c := s.run(d); !c.Succeeded() {
		t.Fatalf("v1: %s", final(t, c))
	}
	s.cf.Complete(dist, "") // v1's "/*" and the occupying one; occupy again below
	s.cf.Occupy(t, dist, 7, 0)

	d = s.driver(params)
	d.InputArtifacts = []testkit.Artifact{put("p/v2.zip", manyDirs(6, 2))}
	d.Redeliver = 1
	chain := s.run(d)
	if !chain.Succeeded() {
		t.Fatalf("v2 delivered twice: %s", final(t, chain))
	}
	var ours []testkit.ProxyInvalidation
	for _, inv := range s.cf.Invalidations(dist) {
		if !strings.Contains(strings.Join(inv.Paths, " "), "/busy") && !slices.Equal(inv.Paths, []string{"/*"}) {
			ours = append(ours, inv)
		}
	}
	if len(ours) != 1 {
		t.Fatalf("%d invalidations for v2, want exactly 1", len(ours))
	}
	first := ours[0].Paths
	_, wild := countWildcards(first)
	if wild == 0 {
		t.Fatalf("v2's plan %v uses no wildcard: the scenario does not exercise the wildcard room", first)
	}
	// The scenario is the one of the issue: planned again now, with the first
	// delivery's invalidation in progress, the batch would differ.
	cfg, err := testkit.SDKConfig(ctx, s.cf.URL)
	if err != nil {
		t.Fatal(err)
	}
	var keys, changed []string
	for k := range manyDirs(6, 2) {
		keys = append(keys, k)
		if strings.HasSuffix(k, ".html") && k != "index.html" {
			changed = append(changed, k)
		}
	}
	slices.Sort(keys)
	slices.Sort(changed)
	again, _, err := budget.Plan(ctx, cloudfront.NewFromConfig(cfg), []string{dist}, planner.Input{All: keys, Changed: changed, MaxPaths: 10}, nil)
	if err == nil && slices.Equal(again.Paths, first) {
		t.Fatalf("a replan gives the same batch %v: the scenario does not exercise the redelivery", first)
	}
	// The redelivery was handled (it reported to a job that already had its result).
	redelivered := 0
	for _, l := range s.logLines() {
		if msg, _ := l["msg"].(string); strings.Contains(msg, "reusing the first delivery's planned paths") {
			redelivered++
		}
	}
	if redelivered != 1 {
		b, _ := json.Marshal(s.logLines())
		t.Errorf("%d redeliveries reused the stored paths, want 1; logs: %.2000s", redelivered, b)
	}
}

func countWildcards(paths []string) (exact, wild int) {
	for _, p := range paths {
		if strings.HasSuffix(p, "*") {
			wild++
		} else {
			exact++
		}
	}
	return
}

// Review item: a result that could not be reported (here the function's role cannot
// call PutJobSuccessResult yet, as right after setup) makes the invocation fail, so
// that Lambda delivers the event again; the redelivery is idempotent (the ledger's
// batch, the caller reference) and reports the result: one invalidation, one result.
func TestUnreportedResultIsDeliveredAgain(t *testing.T) {
	_, site, put := siteBuckets(t)
	s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: 200 * time.Millisecond})
	dist := s.siteDist(site)
	s.jobs.FailNext("PutJobSuccessResult", 1, "AccessDeniedException")
	d := s.driver(fmt.Sprintf(`{"DistributionId": %q, "Bucket": %q}`, dist, site))
	d.InputArtifacts = []testkit.Artifact{put("p/v1.zip", deploySite(1))}
	d.LambdaRetries, d.RetryDelay = 2, 50*time.Millisecond
	chain := s.run(d)
	if !chain.Succeeded() {
		t.Fatalf("final result %s, want success", final(t, chain))
	}
	if n := chain.Invocations(); n != 2 {
		t.Errorf("%d invocations, want 2 (the failed report, then Lambda's retry)", n)
	}
	if inv := chain.Jobs[0].Invocations[0]; inv.Err == nil {
		t.Error("the invocation whose result was not reported returned no error: Lambda would not deliver it again")
	}
	if n := len(s.cf.Invalidations(dist)); n != 1 {
		t.Errorf("%d invalidations, want 1", n)
	}
}

// A deploy larger than one invocation: 2,000 files with the function's timeout at 10 s.
// The sync goes on over continuation jobs (its state in the site's ledger, not in the
// token) with a progress percentage; pages go after every asset, one invalidation
// covers the whole deploy, and the job succeeds.
func TestDeployLargerThanOneInvocation(t *testing.T) {
	ctx := context.Background()
	s3c, site, put := siteBuckets(t)
	s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: 200 * time.Millisecond}, "AWS_LAMBDA_FUNCTION_TIMEOUT=10")
	dist := s.siteDist(site)
	files := map[string]string{"index.html": "<p>home</p>"}
	for i := range 1000 {
		files[fmt.Sprintf("docs/p%04d.html", i)] = fmt.Sprintf("<p>%d</p>", i)
		files[fmt.Sprintf("img/i%04d.svg", i)] = fmt.Sprintf("<svg>%d</svg>", i)
	}
	d := s.driver(fmt.Sprintf(`{"DistributionId": %q, "Bucket": %q}`, dist, site))
	d.InputArtifacts = []testkit.Artifact{put("p/big.zip", files)}
	d.ResultTimeout = 30 * time.Second
	start := time.Now()
	chain := s.run(d)
	if !chain.Succeeded() {
		t.Fatalf("final result %s, want success", final(t, chain))
	}
	res := final(t, chain)
	if got := res.OutputVariables["Uploaded"]; got != "2001" {
		t.Errorf("Uploaded %s, want 2001", got)
	}
	deploying := 0
	for _, l := range s.logLines() {
		if msg, _ := l["msg"].(string); msg == "deploy continues in a new job" {
			deploying++
		}
	}
	if deploying == 0 {
		t.Fatalf("the deploy fit one invocation (%d jobs in %s): the test proves nothing", len(chain.Jobs), time.Since(start))
	}
	for _, j := range chain.Jobs {
		for _, inv := range j.Invocations {
			if inv.Err != nil {
				t.Errorf("job %s: invocation failed (timed out?): %v", j.ID, inv.Err)
			}
		}
	}
	if n := len(s.cf.Invalidations(dist)); n != 1 {
		t.Errorf("%d invalidations, want 1", n)
	}
	if paths := s.cf.Invalidations(dist)[0].Paths; !slices.Equal(paths, []string{"/*"}) {
		t.Errorf("paths %v, want /* (every object is new)", paths)
	}
	n := 0
	pager := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(site)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			if !strings.HasPrefix(aws.ToString(o.Key), ".edgeflush/") {
				n++
			}
		}
	}
	if n != len(files) {
		t.Errorf("%d objects in the bucket, want %d", n, len(files))
	}
	t.Logf("%d jobs, %d deploy continuations, %s", len(chain.Jobs), deploying, time.Since(start).Round(time.Second))
}
