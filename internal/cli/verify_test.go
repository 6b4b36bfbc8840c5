package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

func writeSite(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeployVerify: deploy --wait --verify checks the changed URLs at the edge once the
// invalidation is Completed. Through an edge that honours invalidations they are fresh;
// through one that ignores them (a distribution the invalidation does not reach, as
// when it goes to another distribution) the deploy fails naming the stale URL.
func TestDeployVerify(t *testing.T) {
	cf := testkit.StartCloudFront(t, moto(t).URL, testkit.CloudFrontOptions{CompleteAfter: 300 * time.Millisecond})
	m := useMoto(t, cf.URL)
	bucket := "deploy-verify"
	if _, err := awsconf.NewS3(m.Config(t)).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	dist := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins:           []testkit.DistributionOrigin{{ID: "site", DomainName: bucket + ".s3.amazonaws.com"}},
		DefaultRootObject: "index.html",
	})
	good := edge.Start(t, edge.Options{S3Endpoint: m.URL, Bucket: bucket, DistributionID: dist, Invalidations: cf.EdgeInvalidations})
	deaf := edge.Start(t, edge.Options{S3Endpoint: m.URL, Bucket: bucket, DistributionID: dist})
	dir := filepath.Join(t.TempDir(), "site")
	writeSite(t, dir, map[string]string{"index.html": "home v1", "a.css": "a v1", "gone.html": "soon deleted"})
	deploy := func(base string, extra ...string) result {
		return edgeflush(t, "", append([]string{"deploy", dir, "--bucket", bucket, "--distribution", dist, "--wait", "--verify", "--base-url", base, "--poll-interval", "50ms"}, extra...)...)
	}
	if r := deploy(good.URL); r.code != 0 || !strings.Contains(r.stdout, "checked 4 URLs") || !strings.Contains(r.stdout, "4 fresh, 0 stale, 0 failed") {
		t.Fatalf("first deploy: %+v", r)
	}
	// Both edges now hold v1 of every page.
	for _, e := range []*edge.Edge{good, deaf} {
		for _, u := range []string{"/", "/a.css", "/gone.html"} {
			resp, err := http.Get(e.URL + u)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	writeSite(t, dir, map[string]string{"index.html": "home v2", "a.css": "a v2"})
	if err := os.Remove(filepath.Join(dir, "gone.html")); err != nil {
		t.Fatal(err)
	}
	r := deploy(good.URL, "--output", "json")
	if r.code != 0 {
		t.Fatalf("second deploy through an edge that honours the invalidation: %+v", r)
	}
	var out deployOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	// Changed: a.css, index.html (and "/"), gone.html (deleted: 403/404 is fresh).
	if len(out.Verify) != 1 || out.Verify[0].Checked != 4 || !out.Verify[0].OK() {
		t.Fatalf("verify report %+v", out.Verify)
	}

	writeSite(t, dir, map[string]string{"a.css": "a v3"})
	r = deploy(deaf.URL)
	if r.code != 1 || !strings.Contains(r.stderr, "edgeflush: "+dist+": verify: 1 of 1 URLs not fresh") {
		t.Fatalf("deploy through an edge that kept the old copy: exit %d, stderr %q", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "STALE /a.css") || !strings.Contains(r.stdout, "Hit from cloudfront") {
		t.Errorf("stdout does not name the stale URL: %s", r.stdout)
	}
}

// TestDeployVerifyChecksTheSiteFirst: a distribution that reads another folder stops
// deploy --verify before it uploads anything.
func TestDeployVerifyChecksTheSiteFirst(t *testing.T) {
	cf := testkit.StartCloudFront(t, moto(t).URL, testkit.CloudFrontOptions{})
	m := useMoto(t, cf.URL)
	bucket := "deploy-verify-first"
	client := awsconf.NewS3(m.Config(t))
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	dist := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{{ID: "site", DomainName: bucket + ".s3.amazonaws.com", OriginPath: "/www"}},
	})
	dir := filepath.Join(t.TempDir(), "site")
	writeSite(t, dir, map[string]string{"index.html": "home"})
	r := edgeflush(t, "", "deploy", dir, "--bucket", bucket, "--prefix", "site", "--distribution", dist, "--wait", "--verify")
	wantFailure(t, r, 1, "--verify: nothing deployed: distribution "+dist+" reads bucket "+bucket+" from another folder", "origin path /www")
	out, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	if err != nil || len(out.Contents) != 0 {
		t.Fatalf("the bucket holds %d objects after the refused deploy (%v)", len(out.Contents), err)
	}
}

func TestDeployVerifyUsage(t *testing.T) {
	useMoto(t, "")
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--distribution", "E1", "--verify"}, "--verify needs --wait"},
		{[]string{"--wait", "--verify"}, "--verify needs a --distribution"},
		{[]string{"--distribution", "E1", "--base-url", "http://x"}, "--base-url only applies with --verify"},
		{[]string{"--distribution", "E1,E2", "--wait", "--verify", "--base-url", "http://x"}, "one at a time"},
	} {
		r := edgeflush(t, "", append([]string{"deploy", dir, "--bucket", "b"}, tc.args...)...)
		wantFailure(t, r, 2, tc.want)
	}
}
