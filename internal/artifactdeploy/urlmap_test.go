package artifactdeploy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// The action's deploy mode maps the changed keys through the distribution's own
// configuration: deployed to the prefix site/ behind the origin path /site, /a.html is
// invalidated (not /site/a.html), a key a behavior routes elsewhere is left out,
// UrlPrefix overrides, and a bucket the distribution does not read fails before any
// write with a ConfigError naming its origins.
func TestDeployMapsURLsThroughTheConfiguration(t *testing.T) {
	ctx := context.Background()
	e, cf, _, logs := setupWithProxy(t)
	dist := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{
			{ID: "site", DomainName: "site.s3.eu-west-1.amazonaws.com", OriginPath: "/site"},
			{ID: "docs", DomainName: "docs.example.com", Custom: true},
		},
		Behaviors: []testkit.DistributionBehavior{{PathPattern: "/docs/*", OriginID: "docs"}},
	})
	files := map[string]string{"a.html": "a", "b.html": "b", "docs/x.html": "x", "c.css": "c"}
	loc := e.put(t, "m1.zip", testkit.ArtifactZip(t, files))
	p := codepipeline.Params{DistributionIDs: []string{dist}, Prefix: "site/", MaxPaths: 10}
	res, err := e.d.Deploy(ctx, request("map-1", loc, p))
	if err != nil || strings.Join(res.Paths, " ") != "/*" {
		t.Fatalf("first deploy (everything new): %v %v", res.Paths, err)
	}
	// The handler reports each invalidation completed: the site's ledger keeps nothing
	// pending for the next deploy.
	track(t, e.d, "map-1", p, true)
	files["a.html"], files["c.css"], files["docs/x.html"] = "a1", "c1", "x1"
	loc = e.put(t, "m1b.zip", testkit.ArtifactZip(t, files))
	if res, err = e.d.Deploy(ctx, request("map-1b", loc, p)); err != nil {
		t.Fatal(err)
	}
	paths := slices.Clone(res.Paths)
	slices.Sort(paths)
	if strings.Join(paths, " ") != "/a.html /c.css" {
		t.Fatalf("paths %v, want the URLs behind the origin path, without the routed-away /docs/x.html", res.Paths)
	}
	if !strings.Contains(logs.String(), "site/docs/x.html (URL /docs/x.html) is not served from this bucket") {
		t.Errorf("the key routed elsewhere is not reported: %s", logs.String())
	}
	track(t, e.d, "map-1b", p, true)

	files["a.html"] = "a2"
	loc = e.put(t, "m2.zip", testkit.ArtifactZip(t, files))
	p.URLPrefix = "/en"
	if res, err = e.d.Deploy(ctx, request("map-2", loc, p)); err != nil || strings.Join(res.Paths, " ") != "/en/a.html" {
		t.Fatalf("UrlPrefix: %v %v", res.Paths, err)
	}

	// Another bucket: nothing written.
	if _, err := e.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("unread")}); err != nil {
		t.Fatal(err)
	}
	p = codepipeline.Params{DistributionIDs: []string{dist}, Bucket: "unread"}
	_, err = e.d.Deploy(ctx, request("map-3", loc, p))
	var ce *codepipeline.ConfigError
	if !errors.As(err, &ce) || ce.Key != "Bucket" || !strings.Contains(err.Error(), "nothing was written: bucket unread is not an origin of distribution "+dist) ||
		!strings.Contains(err.Error(), "site (site.s3.eu-west-1.amazonaws.com, S3 origin, origin path /site)") {
		t.Fatalf("unread bucket: %v", err)
	}
	out, err := e.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("unread")})
	if err != nil || len(out.Contents) != 0 {
		t.Fatalf("the unread bucket got %d objects (%v)", len(out.Contents), err)
	}
}

func TestParamsURLPrefix(t *testing.T) {
	p, err := codepipeline.ParseParams(`{"DistributionId":"E1AAA","Bucket":"b","UrlPrefix":"/en/"}`)
	if err != nil || p.URLPrefix != "/en" {
		t.Fatalf("%+v %v", p, err)
	}
	for params, want := range map[string]string{
		`{"DistributionId":"E1AAA","Bucket":"b","UrlPrefix":"en"}`: `"UrlPrefix": URL prefix "en": must start with '/'`,
		`{"DistributionId":"E1AAA","UrlPrefix":"/en"}`:             "only applies in deploy mode",
	} {
		if _, err := codepipeline.ParseParams(params); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", params, err, want)
		}
	}
}
