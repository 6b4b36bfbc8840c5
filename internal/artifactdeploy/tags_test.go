package artifactdeploy

import (
	"context"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/cachetag"
	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// Deploy mode on a distribution with CacheTagConfig, through moto and the CloudFront
// stand-in: the first job uploads every object with its tags and plans "/*"; the next
// job's changed index page is planned as its tag item under a budget of one path (paths
// alone would send "/docs/*" and evict docs/a.html), and a page first uploaded by that
// job is not yet usable by tag.
func TestDeployCacheTags(t *testing.T) {
	ctx := context.Background()
	e, cf, _, _ := setupWithProxy(t)
	dist := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins:        []testkit.DistributionOrigin{{ID: "site", DomainName: "site.s3.amazonaws.com"}},
		CacheTagHeader: "x-amz-meta-cache-tag",
	})
	p := codepipeline.Params{DistributionIDs: []string{dist}, MaxPaths: 1}
	site := map[string]string{"index.html": "home", "docs/index.html": "docs v1", "docs/a.html": "a"}
	res, err := e.d.Deploy(ctx, request("job-1", e.put(t, "t1.zip", testkit.ArtifactZip(t, site)), p))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Paths, []string{"/*"}) {
		t.Fatalf("first job planned %q, want /*", res.Paths)
	}
	// The handler reports each invalidation completed: the site's ledger keeps nothing
	// pending for the next job.
	track(t, e.d, "job-1", p, true)
	head, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("site"), Key: aws.String("docs/a.html")})
	if err != nil {
		t.Fatal(err)
	}
	if got := head.Metadata["cache-tag"]; got != cachetag.Header("docs/a.html") {
		t.Fatalf("docs/a.html cache-tag metadata %q, want %q", got, cachetag.Header("docs/a.html"))
	}

	site["docs/index.html"] = "docs v2"
	res, err = e.d.Deploy(ctx, request("job-2", e.put(t, "t2.zip", testkit.ArtifactZip(t, site)), p))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"#" + cachetag.Object("docs/index.html")}; !slices.Equal(res.Paths, want) {
		t.Fatalf("changed index page planned %q, want %q", res.Paths, want)
	}
	track(t, e.d, "job-2", p, true)

	// A new page, then a change to it: tagged after the last "/*", so paths.
	site["new/index.html"], site["new/b.html"] = "new v1", "b"
	p3 := codepipeline.Params{DistributionIDs: []string{dist}}
	if _, err := e.d.Deploy(ctx, request("job-3", e.put(t, "t3.zip", testkit.ArtifactZip(t, site)), p3)); err != nil {
		t.Fatal(err)
	}
	track(t, e.d, "job-3", p3, true)
	site["new/index.html"] = "new v2"
	res, err = e.d.Deploy(ctx, request("job-4", e.put(t, "t4.zip", testkit.ArtifactZip(t, site)), p))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/new/*"}; !slices.Equal(res.Paths, want) {
		t.Fatalf("freshly tagged page planned %q, want %q", res.Paths, want)
	}
}
