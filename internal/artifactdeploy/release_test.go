package artifactdeploy

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/release"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/kvs"
)

// TestReleaseMode runs the action's release mode ("Release": true) through moto and the
// KeyValueStore stand-in: each job becomes a release named after it and is made current;
// a redelivered job builds nothing again; nothing is left to invalidate.
func TestReleaseMode(t *testing.T) {
	ctx := context.Background()
	store := kvs.Start(t, kvs.Options{})
	arn, _ := store.CreateStore("site")
	e := setup(t)
	// The function's configuration, as in Lambda: the SDK's default chain, every service at
	// moto except CloudFront (the realism proxy, which knows the distribution's origin) and
	// the KeyValueStore (their own variables win over AWS_ENDPOINT_URL).
	motoURL := aws.ToString(e.d.Config.BaseEndpoint)
	cf := testkit.StartCloudFront(t, motoURL, testkit.CloudFrontOptions{})
	// Deploy checks, before writing, that the distribution reads the site (bucket and prefix).
	dist := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{Origins: []testkit.DistributionOrigin{{ID: "site", DomainName: "site.s3.amazonaws.com", OriginPath: "/www"}}})
	for _, kv := range append(append(testkit.BaseEnv(motoURL), store.Env()...), cf.Env()...) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	fcfg, err := awsconf.Load(ctx, awsconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.d.Config = fcfg
	kcfg, err := testkit.SDKConfig(ctx, store.URL)
	if err != nil {
		t.Fatal(err)
	}
	kc := awsconf.NewKeyValueStore(kcfg)
	p, err := codepipeline.ParseParams(`{"DistributionId": "` + dist + `", "Bucket": "site", "Prefix": "www", "Release": true, "KvsArn": "` + arn + `"}`)
	if err != nil {
		t.Fatal(err)
	}
	loc := e.put(t, "p/r1.zip", testkit.ArtifactZip(t, v1))
	res, err := e.d.Deploy(ctx, request("1f0e-job-1", loc, p))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Paths) != 0 || res.Uploaded != 5 {
		t.Fatalf("release mode: %+v, want 5 uploads and nothing to invalidate", res)
	}
	if cur, err := release.Current(ctx, kc, arn); err != nil || cur != "job-1f0e-job-1" {
		t.Fatalf("current %q %v", cur, err)
	}
	again, err := e.d.Deploy(ctx, request("1f0e-job-1", loc, p))
	if err != nil || again.Uploaded != 0 {
		t.Fatalf("redelivery: %+v %v", again, err)
	}
	v2 := map[string]string{}
	for k, v := range v1 {
		v2[k] = v
	}
	v2["blog/other.html"] = "<p>other v2</p>"
	res, err = e.d.Deploy(ctx, request("1f0e-job-2", e.put(t, "p/r2.zip", testkit.ArtifactZip(t, v2)), p))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := release.List(ctx, e.client, kc, release.Options{Bucket: "site", Prefix: "www", KvsARN: arn})
	if err != nil || len(rs) != 2 || !rs[1].Current || rs[1].ID != "job-1f0e-job-2" {
		t.Fatalf("releases: %+v %v", rs, err)
	}
	if rs[1].Copied != 2 || rs[1].Uploaded != 3 {
		t.Errorf("second release: copied %d (the asset and the text file), uploaded %d (the three pages)", rs[1].Copied, rs[1].Uploaded)
	}
	if _, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("site"), Key: aws.String("www/_releases/job-1f0e-job-2/assets/app.js")}); err != nil {
		t.Errorf("the copied asset: %v", err)
	}
	for _, bad := range []string{`{"DistributionId": "E1", "Bucket": "b", "Release": true}`, `{"DistributionId": "E1", "Bucket": "b", "KvsArn": "arn:x"}`, `{"DistributionId": "E1", "Release": true, "KvsArn": "arn:x"}`} {
		if _, err := codepipeline.ParseParams(bad); err == nil || !strings.Contains(err.Error(), "KvsArn") && !strings.Contains(err.Error(), "Release") {
			t.Errorf("%s: %v", bad, err)
		}
	}
}
