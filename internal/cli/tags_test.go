package cli

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

// A tagged site: invalidate --path '#tag' drops every cached URL of the tagged object
// (the directory URL and the index document's own URL, each its own cache entry behind
// an S3 website origin) and nothing else, through the real SDK, the realism proxy and
// the edge emulator honouring CacheTagConfig.
func TestInvalidateCacheTag(t *testing.T) {
	cf := testkit.StartCloudFront(t, moto(t).URL, testkit.CloudFrontOptions{CompleteAfter: 200 * time.Millisecond})
	m := useMoto(t, cf.URL)
	ctx := context.Background()
	s3c := awsconf.NewS3(m.Config(t))
	bucket := "tagged-site"
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	put := func(key, body, tag string) {
		t.Helper()
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body),
			CacheControl: aws.String("max-age=3600"), ContentType: aws.String("text/html"), Metadata: map[string]string{"cache-tag": tag}}); err != nil {
			t.Fatal(err)
		}
	}
	put("a/index.html", "a v1", "page-a, dir:a")
	put("b.html", "b v1", "page-b")
	dist := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins:        []testkit.DistributionOrigin{{ID: "site", DomainName: bucket + ".s3-website-us-east-1.amazonaws.com", Custom: true}},
		CacheTagHeader: "x-amz-meta-cache-tag",
	})
	e := edge.Start(t, edge.Options{S3Endpoint: m.URL, Bucket: bucket, DistributionID: dist, Invalidations: cf.EdgeInvalidations,
		Pretty: edge.PrettyWebsite, CacheTagHeader: "x-amz-meta-cache-tag", Locations: 1})
	urls := []string{"/a/", "/a/index.html", "/b.html"}
	for _, u := range urls {
		if got := edgeGet(t, e.URL+u); !strings.HasSuffix(got, "v1") {
			t.Fatalf("%s = %q", u, got)
		}
	}
	put("a/index.html", "a v2", "page-a, dir:a")
	put("b.html", "b v2", "page-b")

	r := edgeflush(t, "", "invalidate", "--distribution", dist, "--path", "#Page-A", "--wait", "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if out := decode(t, r.stdout); len(out.Invalidations) != 1 || strings.Join(out.Invalidations[0].Paths, " ") != "#Page-A" {
		t.Fatalf("%+v", out.Invalidations)
	}
	for u, want := range map[string]string{"/a/": "a v2", "/a/index.html": "a v2", "/b.html": "b v1"} {
		if got := edgeGet(t, e.URL+u); got != want {
			t.Errorf("after #Page-A: %s = %q, want %q", u, got, want)
		}
	}
	// Without CacheTagConfig the edge ignores the tags: a tag item drops nothing.
	plain := edge.Start(t, edge.Options{S3Endpoint: m.URL, Bucket: bucket, DistributionID: dist, Invalidations: cf.EdgeInvalidations,
		Pretty: edge.PrettyWebsite, Locations: 1})
	resp, err := http.Get(plain.URL + "/b.html")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	put("b.html", "b v3", "page-b")
	if r := edgeflush(t, "", "invalidate", "--distribution", dist, "--path", "#page-b", "--wait"); r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := edgeGet(t, plain.URL+"/b.html"); got != "b v2" {
		t.Errorf("an edge without CacheTagConfig dropped a tagged copy: %q", got)
	}

	for _, tc := range []struct{ item, want string }{
		{"#a b", "visible ASCII characters (33-126) without commas"},
		{"#a,b", "without commas"},
		{"#a*", "no wildcard for tags"},
		{"#" + strings.Repeat("t", 257), "at most 256"},
		{"#", "empty cache tag"},
	} {
		r := edgeflush(t, "", "invalidate", "--distribution", dist, "--path", tc.item)
		wantFailure(t, r, 2, tc.want)
	}
}
