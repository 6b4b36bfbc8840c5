package artifactdeploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/sitesync"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

type env struct {
	client *s3.Client
	d      *Deployer
}

func setup(t *testing.T) env {
	m := testkit.StartMoto(t)
	cfg := m.Config(t)
	client := awsconf.NewS3(cfg)
	for _, b := range []string{"artifacts", "site"} {
		if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	testDist = siteDistribution(t, m.URL)
	return env{client: client, d: &Deployer{Config: cfg, TempDir: t.TempDir()}}
}

func (e env) put(t *testing.T, key string, body []byte) codepipeline.ArtifactLocation {
	t.Helper()
	if _, err := e.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
	return codepipeline.ArtifactLocation{Bucket: "artifacts", Key: key}
}

// testDist is the distribution of the requests that name none, created by setup: it
// reads the bucket "site" (deploy checks that before writing), and an invalidation
// recorded on it under a made-up id counts as completed when checked
// (NoSuchInvalidation).
var testDist string

func request(job string, loc codepipeline.ArtifactLocation, p codepipeline.Params) codepipeline.DeployRequest {
	if p.Bucket == "" {
		p.Bucket = "site"
	}
	if p.MaxDeletes == 0 {
		p.MaxDeletes = codepipeline.DefaultMaxDeletes
	}
	if len(p.DistributionIDs) == 0 {
		p.DistributionIDs = []string{testDist}
	}
	return codepipeline.DeployRequest{JobID: job, Params: p, Artifact: loc,
		ArtifactCredentials: aws.Credentials{AccessKeyID: "ASIAARTIFACT", SecretAccessKey: "artifact-secret", SessionToken: "tok"}}
}

var v1 = map[string]string{
	"index.html":           `<html><script src="/assets/app.js"></script></html>`,
	"blog/post/index.html": "<p>post</p>",
	"blog/other.html":      "<p>other</p>",
	"assets/app.js":        "console.log(1)",
	"docs/a b ü.txt":       "x",
	".edgeflush.yaml":      "rules:\n  - match: \"assets/**\"\n    headers: {Cache-Control: \"max-age=31536000\"}\n",
}

func TestDeployRedeliveryAndChange(t *testing.T) {
	ctx := context.Background()
	e := setup(t)
	loc := e.put(t, "p/a1.zip", testkit.ArtifactZip(t, v1))
	res, err := e.d.Deploy(ctx, request("job-1", loc, codepipeline.Params{}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Uploaded != 5 || res.Deleted != 0 || strings.Join(res.Paths, ",") != "/*" {
		t.Fatalf("first deploy: %+v", res)
	}
	head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("site"), Key: aws.String("assets/app.js")})
	if err != nil || aws.ToString(head.CacheControl) != "max-age=31536000" {
		t.Errorf("rule from the artifact's config not applied: %v %v", err, aws.ToString(head.CacheControl))
	}
	if _, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("site"), Key: aws.String(".edgeflush.yaml")}); err == nil {
		t.Error("the config file was uploaded")
	}
	// The same job delivered again: nothing to upload, the same paths.
	again, err := e.d.Deploy(ctx, request("job-1", loc, codepipeline.Params{}))
	if err != nil {
		t.Fatal(err)
	}
	if again.Uploaded != 0 || strings.Join(again.Paths, ",") != "/*" {
		t.Errorf("redelivery: %+v, want 0 uploads and the first paths", again)
	}
	// The handler reports job 1's invalidation completed: its keys leave the ledger.
	track(t, e.d, "job-1", codepipeline.Params{}, true)
	// A new job with one page changed and one removed.
	v2 := map[string]string{}
	for k, v := range v1 {
		v2[k] = v
	}
	v2["blog/post/index.html"] = "<p>post v2</p>"
	delete(v2, "blog/other.html")
	loc2 := e.put(t, "p/a2.zip", testkit.ArtifactZip(t, v2))
	res, err = e.d.Deploy(ctx, request("job-2", loc2, codepipeline.Params{MaxPaths: 5, Wait: true}))
	if err != nil {
		t.Fatal(err)
	}
	// The removed page stays until job 2's invalidation, which covers it, completed.
	if res.Uploaded != 1 || res.Deleted != 0 {
		t.Errorf("second deploy: %+v, want 1 upload and no delete yet", res)
	}
	if _, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("site"), Key: aws.String("blog/other.html")}); err != nil {
		t.Errorf("removed page deleted before its invalidation completed: %v", err)
	}
	joined := strings.Join(res.Paths, " ")
	if strings.Contains(joined, "/index.html") && !strings.Contains(joined, "/blog") || strings.Contains(joined, "/assets") || joined == "/*" {
		t.Errorf("paths %v reach beyond the blog", res.Paths)
	}
	for _, want := range []string{"/blog/"} {
		if !strings.Contains(joined, want) {
			t.Errorf("paths %v miss %s", res.Paths, want)
		}
	}
	track(t, e.d, "job-2", codepipeline.Params{MaxPaths: 5, Wait: true}, true)
	if _, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("site"), Key: aws.String("blog/other.html")}); err == nil {
		t.Error("removed page still there after its invalidation completed")
	}
}

// track tells the Deployer, as the handler does, that job's invalidation on testDist
// was created (and completed).
func track(t *testing.T, d *Deployer, job string, p codepipeline.Params, completed bool) {
	t.Helper()
	p = request(job, codepipeline.ArtifactLocation{}, p).Params
	err := d.Track(context.Background(), codepipeline.DeployProgress{FirstJobID: job, Params: p, Distributions: p.DistributionIDs,
		IDs: []string{"I-" + job}, Completed: completed})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeployErrors(t *testing.T) {
	ctx := context.Background()
	e := setup(t)
	loc := e.put(t, "a.zip", testkit.ArtifactZip(t, v1))
	if _, err := e.d.Deploy(ctx, request("j1", loc, codepipeline.Params{})); err != nil {
		t.Fatal(err)
	}
	small := e.put(t, "small.zip", testkit.ArtifactZip(t, map[string]string{"index.html": "only"}))
	_, err := e.d.Deploy(ctx, request("j2", small, codepipeline.Params{MaxDeletes: 2}))
	var ce *codepipeline.ConfigError
	if !errors.As(err, &ce) || ce.Key != "MaxDeletes" || !strings.Contains(err.Error(), "refusing to delete 4 objects") {
		t.Fatalf("guard: %v", err)
	}
	if strings.Contains(err.Error(), "--no-delete") {
		t.Errorf("guard message mentions a CLI flag: %v", err)
	}
	if _, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("site"), Key: aws.String("blog/other.html")}); err != nil {
		t.Errorf("guarded deploy deleted: %v", err)
	}
	_, err = e.d.Deploy(ctx, request("j3", loc, codepipeline.Params{Config: "site/missing.yaml"}))
	if !errors.As(err, &ce) || ce.Key != "Config" {
		t.Errorf("missing Config: %v", err)
	}
	bad := e.put(t, "bad.zip", []byte("not a zip"))
	if _, err = e.d.Deploy(ctx, request("j4", bad, codepipeline.Params{})); !errors.As(err, &ce) {
		t.Errorf("not a zip: %v", err)
	}
	if _, err = e.d.Deploy(ctx, request("j5", codepipeline.ArtifactLocation{Bucket: "artifacts", Key: "nope.zip"}, codepipeline.Params{})); err == nil || !strings.Contains(err.Error(), "nope.zip") {
		t.Errorf("missing artifact: %v", err)
	}
	badCfg := e.put(t, "badcfg.zip", testkit.ArtifactZip(t, map[string]string{"cfg.yaml": "rules: {}", "index.html": "x"}))
	if _, err = e.d.Deploy(ctx, request("j6", badCfg, codepipeline.Params{Config: "cfg.yaml"})); !errors.As(err, &ce) || !strings.Contains(err.Error(), "cfg.yaml") {
		t.Errorf("bad config: %v", err)
	}
}

func TestDeployWithRole(t *testing.T) {
	ctx := context.Background()
	e := setup(t)
	loc := e.put(t, "a.zip", testkit.ArtifactZip(t, map[string]string{"index.html": "x"}))
	res, err := e.d.Deploy(ctx, request("job-role", loc, codepipeline.Params{RoleARN: "arn:aws:iam::123456789012:role/site-deployer", ExternalID: "ext"}))
	if err != nil || res.Uploaded != 1 {
		t.Fatalf("deploy with role: %+v %v", res, err)
	}
}

// setupWithProxy is setup with CloudFront behind the realism proxy (invalidations in
// progress for an hour), reached through AWS_ENDPOINT_URL_CLOUDFRONT as in the Lambda.
func setupWithProxy(t *testing.T) (env, *testkit.CloudFront, *cloudfront.Client, *bytes.Buffer) {
	m := testkit.StartMoto(t)
	cf := testkit.StartCloudFront(t, m.URL, testkit.CloudFrontOptions{CompleteAfter: time.Hour})
	// The configuration comes from the environment as in the function (awsconf.Load),
	// so that the CloudFront endpoint differs from the others.
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_ENDPOINT_URL_CLOUDFRONT", cf.URL)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	cfg, err := awsconf.Load(context.Background(), awsconf.Options{MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	client := awsconf.NewS3(cfg)
	for _, b := range []string{"artifacts", "site"} {
		if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	var logs bytes.Buffer
	d := &Deployer{Config: cfg, TempDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	return env{client: client, d: d}, cf, cloudfront.NewFromConfig(cfg), &logs
}

func TestDeployPlansWithinTheWildcardsFree(t *testing.T) {
	ctx := context.Background()
	e, cf, c, logs := setupWithProxy(t)
	d1, d2 := siteDistribution(t, cf.URL), siteDistribution(t, cf.URL)
	cf.Occupy(t, d1, 3, 0)
	busy := cf.Occupy(t, d2, 15, 0) // no wildcard free on d2
	p := codepipeline.Params{DistributionIDs: []string{d1, d2}}

	// Everything is new: "/*" would do, but d2 has no wildcard free, so the 5 files'
	// URLs are named exactly.
	loc := e.put(t, "a1.zip", testkit.ArtifactZip(t, v1))
	res, err := e.d.Deploy(ctx, request("job-1", loc, p))
	if err != nil {
		t.Fatal(err)
	}
	if wildcardCount(res.Paths) != 0 || len(res.Paths) < 5 {
		t.Fatalf("paths %v with no wildcard free: want exact paths only", res.Paths)
	}
	if cf.Requests(testkit.OpListInvalidations) < 2 {
		t.Errorf("%d list calls for 2 distributions", cf.Requests(testkit.OpListInvalidations))
	}
	for _, d := range []string{d1, d2} {
		if _, err := invalidation.Create(ctx, c, d, res.Paths, invalidation.CallerReference("job-1", d)); err != nil {
			t.Errorf("the planned paths are refused on %s: %v", d, err)
		}
	}
	if !strings.Contains(logs.String(), "capped_by_in_progress=true") {
		t.Errorf("log does not say the plan was capped:\n%s", logs.String())
	}

	// Once d2's invalidation completes, wildcards are free again: every file changed
	// is "/*" again.
	cf.Complete(d2, busy)
	v2 := map[string]string{}
	for k, v := range v1 {
		if k != ".edgeflush.yaml" {
			v += " v2"
		}
		v2[k] = v
	}
	res, err = e.d.Deploy(ctx, request("job-2", e.put(t, "a2.zip", testkit.ArtifactZip(t, v2)), p))
	if err != nil {
		t.Fatal(err)
	}
	if res.Uploaded != 5 || strings.Join(res.Paths, " ") != "/*" {
		t.Errorf("everything changed with room free: %+v, want /*", res)
	}
}

func TestDeployFallsBackWhenNothingFits(t *testing.T) {
	ctx := context.Background()
	e, cf, _, logs := setupWithProxy(t)
	d := siteDistribution(t, cf.URL)
	busy := cf.Occupy(t, d, 15, 0)
	site := map[string]string{}
	for i := range 12 {
		site[fmt.Sprintf("p%02d/index.html", i)] = "x"
	}
	loc := e.put(t, "many.zip", testkit.ArtifactZip(t, site))
	// 12 pages (24 URLs) in 4 paths need a wildcard, and none is free: planned as
	// asked, for the handler to create once room frees up, with a warning.
	res, err := e.d.Deploy(ctx, request("job-many", loc, codepipeline.Params{DistributionIDs: []string{d}, MaxPaths: 4}))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Paths) == 0 || len(res.Paths) > 4 || wildcardCount(res.Paths) == 0 {
		t.Errorf("paths %v: want the plan as asked (wildcards, at most 4)", res.Paths)
	}
	if !strings.Contains(logs.String(), "no plan fits what CloudFront has free now") || !strings.Contains(logs.String(), busy) {
		t.Errorf("no warning naming %s:\n%s", busy, logs.String())
	}

	// A failed lookup does not fail the deploy either.
	logs.Reset()
	cf.InjectOp(testkit.OpListInvalidations, testkit.FaultAccessDenied, 1)
	site["p00/index.html"] = "y"
	loc = e.put(t, "many2.zip", testkit.ArtifactZip(t, site))
	res, err = e.d.Deploy(ctx, request("job-denied", loc, codepipeline.Params{DistributionIDs: []string{d}, MaxPaths: 4}))
	if err != nil || len(res.Paths) == 0 {
		t.Fatalf("lookup denied: %+v %v", res, err)
	}
	if !strings.Contains(logs.String(), "cannot list the invalidations in progress") || !strings.Contains(logs.String(), "AccessDenied") {
		t.Errorf("no warning for the failed lookup:\n%s", logs.String())
	}
	if cf.FaultsServed(testkit.FaultAccessDenied) != 1 {
		t.Errorf("the lookup did not go through the proxy")
	}
}

// wildcardCount is how many of paths are wildcards.
func wildcardCount(paths []string) int {
	_, w := invalidation.CountPaths(paths)
	return w
}

// siteDistribution creates a distribution reading the test bucket "site" (deploy checks
// that before writing).
func siteDistribution(t *testing.T, endpoint string) string {
	return testkit.CreateDistributionWith(t, endpoint, testkit.DistributionSpec{Origins: []testkit.DistributionOrigin{{ID: "site", DomainName: "site.s3.amazonaws.com"}}})
}

// The artifact's .edgeflush.yaml settings are honoured as in the CLI (UserParameters
// win), or rejected by name; MaxDeletes 0 allows no delete, as --max-deletes 0.
func TestArtifactSettingsHonouredOrRejected(t *testing.T) {
	ctx := context.Background()
	e := setup(t)
	site := map[string]string{"index.html": "a", "a.html": "a", "b.html": "b"}
	if _, err := e.d.Deploy(ctx, request("s1", e.put(t, "s1.zip", testkit.ArtifactZip(t, site)), codepipeline.Params{})); err != nil {
		t.Fatal(err)
	}
	track(t, e.d, "s1", codepipeline.Params{}, true)
	delete(site, "a.html")
	site["index.html"] = "a2"

	// max-deletes: 0 in the artifact's config refuses the removed page ...
	site[".edgeflush.yaml"] = "max-deletes: 0\n"
	_, err := e.d.Deploy(ctx, request("s2", e.put(t, "s2.zip", testkit.ArtifactZip(t, site)), codepipeline.Params{}))
	var ce *codepipeline.ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "refusing to delete 1 objects: more than MaxDeletes 0") {
		t.Fatalf("max-deletes 0 from the artifact: %v", err)
	}
	// ... unless UserParameters says otherwise (they win, as flags in the CLI).
	p := codepipeline.Params{MaxDeletes: 5, Given: map[string]bool{"MaxDeletes": true}}
	if _, err := e.d.Deploy(ctx, request("s3", e.put(t, "s3.zip", testkit.ArtifactZip(t, site)), p)); err != nil {
		t.Fatalf("MaxDeletes given: %v", err)
	}
	// MaxDeletes 0 in UserParameters allows none, as in the CLI.
	delete(site, ".edgeflush.yaml")
	delete(site, "b.html")
	p = codepipeline.Params{MaxDeletes: 0, Given: map[string]bool{"MaxDeletes": true}, KeepRemoved: time.Hour}
	req := request("s4", e.put(t, "s4.zip", testkit.ArtifactZip(t, site)), p)
	req.Params.MaxDeletes = 0
	if _, err := e.d.Deploy(ctx, req); !errors.As(err, &ce) || ce.Key != "MaxDeletes" {
		t.Errorf("MaxDeletes 0: %v, want the guard", err)
	}

	for cfg, want := range map[string]string{
		"output: json\n":           `setting "output"`,
		"bucket: other\n":          `UserParameters Bucket says "site"`,
		"distribution: [EOTHER]\n": "EOTHER",
		"keep-removed: soon\n":     "duration",
	} {
		site[".edgeflush.yaml"] = cfg
		_, err := e.d.Deploy(ctx, request("bad", e.put(t, "bad.zip", testkit.ArtifactZip(t, site)), codepipeline.Params{}))
		if !errors.As(err, &ce) || ce.Key != "Config" || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want a Config error with %q", cfg, err, want)
		}
	}
	if codepipeline.DefaultMaxDeletes != sitesync.DefaultMaxDeletes {
		t.Errorf("the action's default MaxDeletes %d differs from the CLI's %d", codepipeline.DefaultMaxDeletes, sitesync.DefaultMaxDeletes)
	}
}
