package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

func edgeGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeployOriginPathFreshAtEdge: a site deployed to the prefix site/ behind the origin
// path /site is served at /a.html; deploy invalidates that URL (not /site/a.html), so
// after the deploy a visitor whose edge location cached v1 gets v2, as verify judges.
// A key a behavior routes to another origin is reported and not invalidated; a second
// distribution reading the whole bucket gets its own paths.
func TestDeployOriginPathFreshAtEdge(t *testing.T) {
	cf := testkit.StartCloudFront(t, moto(t).URL, testkit.CloudFrontOptions{CompleteAfter: 300 * time.Millisecond})
	m := useMoto(t, cf.URL)
	bucket := "origin-path-site"
	if _, err := awsconf.NewS3(m.Config(t)).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	dist := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{
			{ID: "site", DomainName: bucket + ".s3.amazonaws.com", OriginPath: "/site"},
			{ID: "docs", DomainName: "docs.example.com", Custom: true},
		},
		Behaviors:         []testkit.DistributionBehavior{{PathPattern: "/docs/*", OriginID: "docs"}},
		DefaultRootObject: "index.html",
	})
	whole := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{{ID: "all", DomainName: bucket + ".s3.us-east-1.amazonaws.com"}},
	})
	e := edge.Start(t, edge.Options{S3Endpoint: m.URL, Bucket: bucket, OriginPath: "/site", DistributionID: dist, Invalidations: cf.EdgeInvalidations})
	dir := filepath.Join(t.TempDir(), "site")
	// style.css is cached for a long time (HTML revalidates within a second, so only a
	// long-cached object shows whether the invalidation reached the right URL).
	writeSite(t, dir, map[string]string{"index.html": "home v1", "a.html": "a v1", "docs/x.html": "x v1", "b.html": "b v1", "style.css": "css v1"})
	deploy := func(extra ...string) result {
		return edgeflush(t, "", append([]string{"deploy", dir, "--bucket", bucket, "--prefix", "site/", "--distribution", dist, "--wait", "--poll-interval", "50ms"}, extra...)...)
	}
	if r := deploy(); r.code != 0 {
		t.Fatalf("first deploy: %+v", r)
	}
	// The edge caches v1 under the URLs visitors use.
	for _, u := range []string{"/", "/a.html", "/index.html", "/style.css"} {
		if got := edgeGet(t, e.URL+u); !strings.HasSuffix(got, "v1") {
			t.Fatalf("%s = %q", u, got)
		}
	}
	// What edgeflush did before (and CDK's BucketDeployment still does): invalidate the
	// key's path, /site/style.css. The invalidation completes, the visitor keeps v1.
	writeSite(t, dir, map[string]string{"style.css": "css stale"})
	if r := deploy("--url-prefix", "/site"); r.code != 0 || !strings.Contains(r.stdout, "/site/style.css") {
		t.Fatalf("deploy with the key's path: %+v", r)
	}
	if got := edgeGet(t, e.URL+"/style.css"); got != "css v1" {
		t.Fatalf("control: /site/style.css invalidated, yet the edge serves %q for /style.css (want the stale css v1)", got)
	}
	writeSite(t, dir, map[string]string{"index.html": "home v2", "a.html": "a v2", "docs/x.html": "x v2", "style.css": "css v2"})
	r := deploy("--distribution", whole, "--output", "json")
	if r.code != 0 {
		t.Fatalf("second deploy: %+v", r)
	}
	var out deployOutput
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	got := out.PathsByDistribution
	slices.Sort(got[dist])
	slices.Sort(got[whole])
	if strings.Join(got[dist], " ") != "/ /a.html /index.html /style.css" {
		t.Errorf("paths on the origin-path distribution: %q", got[dist])
	}
	if strings.Join(got[whole], " ") != "/site/ /site/a.html /site/docs/x.html /site/index.html /site/style.css" {
		t.Errorf("paths on the whole-bucket distribution: %q", got[whole])
	}
	if len(out.NotServed) != 1 || !strings.Contains(out.NotServed[0], "site/docs/x.html (URL /docs/x.html) is not served from this bucket") {
		t.Errorf("not served: %q", out.NotServed)
	}
	for _, u := range []string{"/", "/a.html", "/index.html", "/style.css"} {
		if got := edgeGet(t, e.URL+u); !strings.HasSuffix(got, "v2") {
			t.Errorf("after the deploy %s = %q at the edge, want v2", u, got)
		}
	}
	// verify judges the same from the bucket's side.
	writeSite(t, dir, map[string]string{"a.html": "a v3", "style.css": "css v3"})
	if r := deploy("--verify", "--base-url", e.URL); r.code != 0 || !strings.Contains(r.stdout, "0 stale") {
		t.Fatalf("deploy --verify: %+v", r)
	}
}

// invalidate --changed with --bucket maps bucket keys through the configuration;
// --url-prefix overrides it; a bad prefix is a usage error.
func TestInvalidateChangedMapsURLs(t *testing.T) {
	cf := testkit.StartCloudFront(t, moto(t).URL, testkit.CloudFrontOptions{})
	useMoto(t, cf.URL)
	dist := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{{ID: "site", DomainName: "keys-site.s3.amazonaws.com", OriginPath: "/site"}},
	})
	writeFile(t, "all.txt", "site/a.html\nsite/b.html\n")
	writeFile(t, "changed.txt", "site/a.html\n")
	r := edgeflush(t, "", "invalidate", "--distribution", dist, "--changed", "changed.txt", "--all", "all.txt", "--bucket", "keys-site", "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if out := decode(t, r.stdout); len(out.Invalidations) != 1 || strings.Join(out.Invalidations[0].Paths, " ") != "/a.html" {
		t.Fatalf("%+v", out.Invalidations)
	}
	r = edgeflush(t, "", "invalidate", "--distribution", dist, "--changed", "changed.txt", "--all", "all.txt", "--bucket", "keys-site", "--prefix", "site", "--url-prefix", "/en", "--dry-run", "--output", "json")
	if out := decode(t, r.stdout); r.code != 0 || strings.Join(out.Invalidations[0].Paths, " ") != "/en/a.html" {
		t.Fatalf("override: %+v %s", r, r.stdout)
	}
	r = edgeflush(t, "", "invalidate", "--distribution", dist, "--changed", "changed.txt", "--all", "all.txt", "--bucket", "other", "--dry-run")
	wantFailure(t, r, 1, "bucket other is not an origin of distribution "+dist, "keys-site.s3.amazonaws.com")
	r = edgeflush(t, "", "invalidate", "--distribution", dist, "--changed", "changed.txt", "--all", "all.txt", "--url-prefix", "en")
	wantFailure(t, r, 2, "--url-prefix", "must start with '/'")
	r = edgeflush(t, "", "invalidate", "--distribution", dist, "--changed", "changed.txt", "--all", "all.txt", "--url-prefix", "/en")
	wantFailure(t, r, 2, "need --bucket")
}
