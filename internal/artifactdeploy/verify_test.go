package artifactdeploy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

// TestActionVerify drives the real handler, built as cmd/edgeflush-lambda builds it
// (this Deployer as Deployer and Verifier), through CodePipeline jobs in deploy mode
// with "Verify": true: the job succeeds once the edge serves what was deployed, and
// fails (JobFailed) naming the stale URL when the edge keeps an old copy.
func TestActionVerify(t *testing.T) {
	m := testkit.StartMoto(t)
	cf := testkit.StartCloudFront(t, m.URL, testkit.CloudFrontOptions{CompleteAfter: 300 * time.Millisecond})
	jobs := testkit.StartJobAPI(t)
	for _, kv := range append(m.Env(), "AWS_ENDPOINT_URL_CLOUDFRONT="+cf.URL, "AWS_ENDPOINT_URL_CODEPIPELINE="+jobs.URL,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PROFILE=") {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx := context.Background()
	cfg, err := awsconf.Load(ctx, awsconf.Options{MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	client := awsconf.NewS3(cfg)
	for _, b := range []string{"artifacts", "site"} {
		if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	dist := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins:           []testkit.DistributionOrigin{{ID: "s3", DomainName: "site.s3.us-east-1.amazonaws.com"}},
		DefaultRootObject: "index.html",
	})
	good := edge.Start(t, edge.Options{S3Endpoint: m.URL, Bucket: "site", DistributionID: dist, Invalidations: cf.EdgeInvalidations})
	deaf := edge.Start(t, edge.Options{S3Endpoint: m.URL, Bucket: "site", DistributionID: dist}) // sees no invalidation

	logs := &testkit.SyncBuffer{}
	h := codepipeline.New(cfg, codepipeline.NewLogger(logs))
	h.PollInterval, h.PollBudget, h.SafetyMargin = 50*time.Millisecond, 2*time.Second, 50*time.Millisecond
	d := &Deployer{Config: cfg, TempDir: t.TempDir()}
	h.Deployer, h.Verifier = d, d

	run := func(version string, files map[string]string, base string) testkit.JobResult {
		t.Helper()
		key := "p/" + version + ".zip"
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("artifacts"), Key: aws.String(key), Body: bytes.NewReader(testkit.ArtifactZip(t, files))}); err != nil {
			t.Fatal(err)
		}
		drv := &testkit.Driver{
			Jobs:           jobs,
			Invoke:         func(ctx context.Context, payload []byte) error { return h.Handle(ctx, payload) },
			UserParameters: `{"DistributionId":"` + dist + `","Bucket":"site","Verify":true,"VerifyBaseUrl":"` + base + `"}`,
			InputArtifacts: []testkit.Artifact{{Name: "site", Bucket: "artifacts", Key: key, Revision: version}},
			Delay:          20 * time.Millisecond,
			MaxJobs:        40,
		}
		rctx, cancel := context.WithTimeout(ctx, 45*time.Second)
		defer cancel()
		chain, err := drv.Run(rctx)
		if err != nil {
			t.Fatal(err)
		}
		final, ok := chain.Final()
		if !ok {
			t.Fatal("no final result")
		}
		return final
	}
	warm := func(e *edge.Edge, paths ...string) {
		for _, p := range paths {
			resp, err := http.Get(e.URL + p)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}

	v1 := map[string]string{"index.html": "home v1", "app.css": "css v1"}
	final := run("v1", v1, good.URL)
	if !final.Success || !strings.Contains(final.Summary, "Verified 3 URL(s) fresh at the edge") || final.OutputVariables["Verified"] != "3" {
		t.Fatalf("v1: %s %v", final, final.OutputVariables)
	}
	warm(good, "/app.css", "/")
	warm(deaf, "/app.css", "/")

	v2 := map[string]string{"index.html": "home v1", "app.css": "css v2"}
	if final := run("v2", v2, good.URL); !final.Success || !strings.Contains(final.Summary, "Verified 1 URL(s)") {
		t.Fatalf("v2 through an edge that honours the invalidation: %s", final)
	}
	v3 := map[string]string{"index.html": "home v1", "app.css": "css v3"}
	final = run("v3", v3, deaf.URL)
	if final.Success || final.FailureType != "JobFailed" || !strings.Contains(final.FailureMessage, "/app.css is stale") ||
		!strings.Contains(final.FailureMessage, "Hit from cloudfront") || !strings.Contains(final.FailureMessage, "1 of 1 URLs are not fresh") {
		t.Fatalf("v3 through an edge that kept v1: %s", final)
	}

	// The bucket served at another origin path: a ConfigurationError naming it, before
	// the deploy writes anything (v1's app.css is not uploaded over v3's).
	other := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{{ID: "s3", DomainName: "site.s3.amazonaws.com", OriginPath: "/www"}},
	})
	drv := &testkit.Driver{Jobs: jobs, Invoke: func(ctx context.Context, payload []byte) error { return h.Handle(ctx, payload) },
		UserParameters: `{"DistributionId":"` + other + `","Bucket":"site","Verify":true,"VerifyBaseUrl":"` + good.URL + `"}`,
		InputArtifacts: []testkit.Artifact{{Name: "site", Bucket: "artifacts", Key: "p/v1.zip", Revision: "v1"}},
		Delay:          20 * time.Millisecond, MaxJobs: 40}
	chain, err := drv.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	final, _ = chain.Final()
	if final.Success || final.FailureType != "ConfigurationError" || !strings.Contains(final.FailureMessage, "origin path /www") {
		t.Fatalf("origin path: %s", final)
	}
	obj, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("site"), Key: aws.String("app.css")})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Body.Close()
	if b, _ := io.ReadAll(obj.Body); string(b) != "css v3" {
		t.Errorf("the deploy wrote app.css = %q before the site check failed", b)
	}
	if n := len(cf.Invalidations(other)); n != 0 {
		t.Errorf("%d invalidations on the distribution that does not serve the site", n)
	}
}
