package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/cachetag"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

// A site on a distribution with CacheTagConfig, through the real SDK, moto, the
// CloudFront stand-in and the edge emulator honouring the tag header: the first deploy
// tags every object (and invalidates "/*"), a later change to an index page is sent as
// its one tag item under a budget of one path (paths alone would need two, or "/docs/*"
// evicting its siblings), and both of its URLs are fresh at the edge; an object tagged
// after the last full invalidation is planned with paths.
func TestDeployCacheTags(t *testing.T) {
	cf := testkit.StartCloudFront(t, moto(t).URL, testkit.CloudFrontOptions{CompleteAfter: 200 * time.Millisecond})
	m := useMoto(t, cf.URL)
	ctx := context.Background()
	s3c := awsconf.NewS3(m.Config(t))
	const bucket = "tag-deploy"
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	const header = "x-amz-meta-cache-tag"
	dist := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins:        []testkit.DistributionOrigin{{ID: "site", DomainName: bucket + ".s3-website-us-east-1.amazonaws.com", Custom: true}},
		CacheTagHeader: header,
	})
	e := edge.Start(t, edge.Options{S3Endpoint: m.URL, Bucket: bucket, DistributionID: dist, Invalidations: cf.EdgeInvalidations,
		Pretty: edge.PrettyWebsite, CacheTagHeader: header, Locations: 1})
	site := t.TempDir()
	write := func(rel, body string) {
		t.Helper()
		p := filepath.Join(site, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("<html>"+body+"</html>"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deploy := func(extra ...string) deployOutput {
		t.Helper()
		args := append([]string{"deploy", site, "--bucket", bucket, "--distribution", dist, "--wait", "--output", "json"}, extra...)
		r := edgeflush(t, "", args...)
		if r.code != 0 {
			t.Fatalf("deploy %v: exit %d: %s", extra, r.code, r.stderr)
		}
		var out deployOutput
		if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
			t.Fatalf("%v: %s", err, r.stdout)
		}
		return out
	}
	write("index.html", "home v1")
	write("docs/index.html", "docs v1")
	write("docs/a.html", "a v1")
	write("docs/b.html", "b v1")

	// First deploy: every object uploaded with its tags; everything changed, so "/*".
	out := deploy()
	if !slices.Equal(out.Paths, []string{"/*"}) {
		t.Fatalf("first deploy planned %q, want /*", out.Paths)
	}
	head, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("docs/index.html")})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := head.Metadata["cache-tag"], cachetag.Header("docs/index.html"); got != want {
		t.Fatalf("docs/index.html tag metadata %q, want %q", got, want)
	}
	warm := []string{"/docs/", "/docs/index.html", "/docs/a.html", "/docs/b.html"}
	for _, u := range warm {
		if got := edgeGet(t, e.URL+u); !strings.Contains(got, "v1") {
			t.Fatalf("%s = %q", u, got)
		}
	}

	// The index page changes. Its tags were written before the last full invalidation,
	// so its tag is usable: one item covers /docs/ and /docs/index.html.
	write("docs/index.html", "docs v2")
	out = deploy("--max-paths", "1", "--max-wildcards", "1")
	if want := []string{"#" + cachetag.Object("docs/index.html")}; !slices.Equal(out.Paths, want) || out.Collateral != 0 {
		t.Fatalf("planned %q (collateral %d), want %q", out.Paths, out.Collateral, want)
	}
	for u, want := range map[string]string{"/docs/": "docs v2", "/docs/index.html": "docs v2"} {
		if got := edgeGet(t, e.URL+u); !strings.Contains(got, want) {
			t.Errorf("after the tag invalidation %s = %q, want %q", u, got, want)
		}
	}

	// A new section: tagged now, after the last full invalidation, and the stand-in's
	// distribution reads TTLs from a cache policy, so no max TTL makes it usable: its
	// next change is planned with paths: under the same budget of one path, the
	// wildcard that evicts its sibling instead of its tag.
	write("new/index.html", "new v1")
	write("new/other.html", "other v1")
	deploy()
	for _, u := range []string{"/new/", "/new/index.html"} {
		if got := edgeGet(t, e.URL+u); !strings.Contains(got, "new v1") {
			t.Fatalf("%s = %q", u, got)
		}
	}
	write("new/index.html", "new v2")
	out = deploy("--max-paths", "1", "--max-wildcards", "1")
	if want := []string{"/new/*"}; !slices.Equal(out.Paths, want) || out.Collateral != 1 {
		t.Fatalf("freshly tagged object planned %q (collateral %d), want paths %q", out.Paths, out.Collateral, want)
	}
	for _, u := range []string{"/new/", "/new/index.html"} {
		if got := edgeGet(t, e.URL+u); !strings.Contains(got, "new v2") {
			t.Errorf("%s = %q, want new v2", u, got)
		}
	}
}
