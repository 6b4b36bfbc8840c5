package cli

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/kvs"
)

// TestReleaseCommands turns releases on with one key in .edgeflush.yaml, deploys twice,
// lists and rolls back, through moto and the KeyValueStore stand-in (the SDK's SigV4A
// client found through AWS_ENDPOINT_URL_CLOUDFRONT_KEYVALUESTORE).
func TestReleaseCommands(t *testing.T) {
	m := useMoto(t, "")
	store := kvs.Start(t, kvs.Options{})
	for _, kv := range store.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	arn, _ := store.CreateStore("site")
	ctx := context.Background()
	s3c := awsconf.NewS3(m.Config(t))
	const bucket = "cli-releases"
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	writeFile(t, ".edgeflush.yaml", "bucket: "+bucket+"\nprefix: www\nrelease: true\nkvs-arn: "+arn+"\n")
	dir := t.TempDir()
	put := func(name, body string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("index.html", "<p>v1</p>")
	put("logo.svg", "<svg/>")

	r := edgeflush(t, "", "deploy", dir, "--output", "json")
	if r.code != 0 {
		t.Fatalf("deploy --release (from the config file): %d %s", r.code, r.stderr)
	}
	var d1 releaseDeployOutput
	if err := json.Unmarshal([]byte(r.stdout), &d1); err != nil || d1.Release == "" || d1.Uploaded != 2 || d1.Copied != 0 {
		t.Fatalf("first release: %v %+v", err, d1)
	}
	put("index.html", "<p>v2</p>")
	r = edgeflush(t, "", "deploy", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "uploaded 1, copied 1") || !strings.Contains(r.stdout, "(was "+d1.Release+")") {
		t.Fatalf("second release: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = edgeflush(t, "", "releases", "--output", "json")
	var list []struct {
		ID      string `json:"id"`
		Files   int    `json:"files"`
		Current bool   `json:"current"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list) != 2 || list[0].ID != d1.Release || list[0].Current || !list[1].Current || list[1].Files != 2 {
		t.Fatalf("releases: %v %s %s", err, r.stdout, r.stderr)
	}
	r = edgeflush(t, "", "rollback")
	if r.code != 0 || !strings.Contains(r.stdout, "current: "+d1.Release) {
		t.Fatalf("rollback: %d %s %s", r.code, r.stdout, r.stderr)
	}
	r = edgeflush(t, "", "releases")
	if r.code != 0 || !strings.Contains(r.stdout, d1.Release) || !strings.Contains(r.stdout, "CURRENT") {
		t.Fatalf("releases (text): %s %s", r.stdout, r.stderr)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, d1.Release) && !strings.HasSuffix(strings.TrimSpace(line), "*") {
			t.Errorf("after the rollback %s is not marked current: %q", d1.Release, line)
		}
	}
	wantFailure(t, edgeflush(t, "", "rollback", "no-such-release"), 1, "no release \"no-such-release\"")
	wantFailure(t, edgeflush(t, "", "deploy", dir, "--dry-run"), 2, "--dry-run is not available with --release")
	wantFailure(t, edgeflush(t, "", "releases", "--kvs-arn", ""), 2, "no KeyValueStore")
}

// TestSetupRelease installs releases on a distribution through the CloudFront stand-in
// (which serves the function and store calls moto lacks), then removes them.
func TestSetupRelease(t *testing.T) {
	m := moto(t)
	store := kvs.Start(t, kvs.Options{})
	cf := testkit.StartCloudFront(t, m.URL, testkit.CloudFrontOptions{KeyValueStores: store})
	useMoto(t, cf.URL)
	dist := testkit.CreateDistribution(t, cf.URL)

	r := edgeflush(t, "", "setup", "--release", "--distribution", dist, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "dry run: 4 changes planned") {
		t.Fatalf("dry run: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = edgeflush(t, "", "setup", "--release", "--distribution", dist)
	arn, ok := store.StoreARN("edgeflush-releases-" + dist)
	if r.code != 0 || !ok || !strings.Contains(r.stdout, "kvs-arn: "+arn) {
		t.Fatalf("setup --release: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if as := cf.FunctionAssociations(dist); len(as) != 2 {
		t.Fatalf("associations: %+v", as)
	}
	r = edgeflush(t, "", "setup", "--release", "--distribution", dist)
	if r.code != 0 || !strings.Contains(r.stdout, "no changes") {
		t.Fatalf("second setup --release: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantFailure(t, edgeflush(t, "", "setup", "--release"), 2, "exactly one --distribution")
	r = edgeflush(t, "", "teardown", "--release", "--distribution", dist)
	if r.code != 0 || !strings.Contains(r.stdout, "delete KeyValueStore") || len(cf.FunctionAssociations(dist)) != 0 {
		t.Fatalf("teardown --release: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// TestSetupReleaseWithPipeline: setup --release --pipeline installs the release machinery on
// the distribution and the action in release mode, in one command.
func TestSetupReleaseWithPipeline(t *testing.T) {
	cfg := setupEnv(t, "cli-release-site")
	store := kvs.Start(t, kvs.Options{})
	cf := testkit.StartCloudFront(t, moto(t).URL, testkit.CloudFrontOptions{KeyValueStores: store})
	t.Setenv("AWS_ENDPOINT_URL_CLOUDFRONT", cf.URL)
	dist := testkit.CreateDistribution(t, cf.URL)
	ctx := context.Background()

	code, out, errOut := runMain(t, "setup", "--release", "--pipeline", "cli-release-site", "--distribution", dist,
		"--bucket", "www", "--function-name", "cli-rel", "--zip", writeZip(t))
	if code != 0 {
		t.Fatalf("setup --release --pipeline: exit %d\n%s%s", code, out, errOut)
	}
	arn, ok := store.StoreARN("edgeflush-releases-" + dist)
	if !ok || !strings.Contains(out, "kvs-arn: "+arn) || !strings.Contains(out, "applied 4 changes") {
		t.Fatalf("output:\n%s", out)
	}
	p, err := codepipeline.NewFromConfig(cfg).GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("cli-release-site")})
	if err != nil {
		t.Fatal(err)
	}
	up := p.Pipeline.Stages[2].Actions[0].Configuration["UserParameters"]
	if !strings.Contains(up, `"Release":true`) || !strings.Contains(up, `"KvsArn":"`+arn+`"`) {
		t.Errorf("UserParameters %s lack release mode", up)
	}
	pol, err := iam.NewFromConfig(cfg).GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("cli-rel-role"), PolicyName: aws.String("edgeflush")})
	if err != nil {
		t.Fatal(err)
	}
	if doc, _ := url.QueryUnescape(aws.ToString(pol.PolicyDocument)); !strings.Contains(doc, "cloudfront-keyvaluestore:PutKey") || !strings.Contains(doc, arn) {
		t.Errorf("role policy lacks the switch on %s:\n%s", arn, doc)
	}
}
