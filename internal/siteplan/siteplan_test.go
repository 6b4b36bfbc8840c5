package siteplan

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"

	"github.com/edgeflush/edgeflush/internal/origin"
	"github.com/edgeflush/edgeflush/internal/planner"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// Three distributions read back through the real SDK: two serve the site alike (one
// plan for both), one through an origin path with a behavior routing /docs/* away and a
// default root object that is not the index document.
func TestPlanGroupsTargets(t *testing.T) {
	ctx := context.Background()
	m := testkit.StartMoto(t)
	cf := testkit.StartCloudFront(t, m.URL, testkit.CloudFrontOptions{})
	cfg, err := testkit.SDKConfig(ctx, cf.URL)
	if err != nil {
		t.Fatal(err)
	}
	r := origin.NewReader(cloudfront.NewFromConfig(cfg))
	plain := func() string {
		return testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{Origins: []testkit.DistributionOrigin{{ID: "s", DomainName: "shop.s3.amazonaws.com"}}})
	}
	d1, d2 := plain(), plain()
	d3 := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{
			{ID: "s", DomainName: "shop.s3.amazonaws.com", OriginPath: "/site"},
			{ID: "docs", DomainName: "docs.example.com", Custom: true},
		},
		Behaviors:         []testkit.DistributionBehavior{{PathPattern: "/docs/*", OriginID: "docs"}},
		DefaultRootObject: "home.html",
	})
	o := origin.MapOptions{Bucket: "shop", Prefix: "site/", IndexDocument: "index.html"}
	if err := Check(ctx, r, []string{d1, d2, d3}, o); err != nil {
		t.Fatal(err)
	}
	var nao *origin.NotAnOriginError
	if err := Check(ctx, r, []string{d1}, origin.MapOptions{Bucket: "other"}); !errors.As(err, &nao) {
		t.Fatalf("Check for another bucket: %v", err)
	}

	in := planner.Input{All: []string{"site/home.html", "site/a.html", "site/docs/x.html"}, Changed: []string{"site/home.html", "site/docs/x.html"}, MaxPaths: 10}
	var calls [][]string
	res, err := Plan(ctx, r, []string{d1, d2, d3}, o, in, func(_ context.Context, ts []string, gin planner.Input, extra []string) (planner.Result, error) {
		calls = append(calls, ts)
		if slices.Contains(ts, d3) && strings.Join(extra, " ") != "/" {
			t.Errorf("d3's extra paths %q, want / for the default root object", extra)
		}
		return planner.Plan(gin)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || !slices.Equal(calls[0], []string{d1, d2}) || !slices.Equal(calls[1], []string{d3}) || res.Uniform() {
		t.Fatalf("groups %v", calls)
	}
	p1, p3 := slices.Clone(res.PathsFor(d2)), slices.Clone(res.PathsFor(d3))
	slices.Sort(p1)
	slices.Sort(p3)
	if strings.Join(p1, " ") != "/site/docs/x.html /site/home.html" || strings.Join(p3, " ") != "/ /home.html" {
		t.Fatalf("paths d2 %q, d3 %q", p1, p3)
	}
	if len(res.NotServed) != 1 || res.NotServed[0].Target != d3 || !strings.Contains(res.NotServed[0].String(), "distribution "+d3+": key site/docs/x.html") {
		t.Fatalf("not served %v", res.NotServed)
	}
	if got := len(res.Paths()); got != 4 {
		t.Fatalf("union %v", res.Paths())
	}
}
