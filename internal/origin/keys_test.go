package origin

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

func join(s []string) string { return strings.Join(s, " ") }

// TestMapThroughSDK maps a site's keys through distributions read with the real SDK
// from moto behind the realism proxy: an origin path, a behavior routed to another
// origin, keys outside the origin path, a default root object, a URL prefix override,
// a bucket that is not an origin, and a tenant whose parameter fills the origin path.
func TestMapThroughSDK(t *testing.T) {
	ctx := context.Background()
	cf := testkit.StartCloudFront(t, startMoto(t), testkit.CloudFrontOptions{})
	cfg, err := testkit.SDKConfig(ctx, cf.URL)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(cloudfront.NewFromConfig(cfg))
	sitePath := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{
			{ID: "site", DomainName: "my-site.s3.us-west-2.amazonaws.com", OriginPath: "/site"},
			{ID: "docs", DomainName: "docs.example.com", Custom: true},
		},
		Behaviors:         []testkit.DistributionBehavior{{PathPattern: "/docs/*", OriginID: "docs"}},
		DefaultRootObject: "home.html",
	})
	d, err := r.Target(ctx, sitePath)
	if err != nil {
		t.Fatal(err)
	}
	all := []string{"site/home.html", "site/a.html", "site/docs/x.html", "site/img/b.png"}
	changed := []string{"site/home.html", "site/a.html", "site/docs/x.html", "site/gone.html"}
	m, err := d.Map(MapOptions{Bucket: "my-site", Prefix: "site/", IndexDocument: "index.html"}, all, changed)
	if err != nil {
		t.Fatal(err)
	}
	if join(m.All) != "a.html home.html img/b.png" || join(m.Changed) != "a.html gone.html home.html" || join(m.Extra) != "/" {
		t.Fatalf("all %q changed %q extra %q", m.All, m.Changed, m.Extra)
	}
	if len(m.NotServed) != 1 || m.NotServed[0].Key != "site/docs/x.html" || !strings.Contains(m.NotServed[0].Error(), `the cache behavior "/docs/*" routes it to origin docs`) {
		t.Fatalf("not served %v", m.NotServed)
	}

	// The whole bucket deployed (prefix ""): keys outside the origin path are not served.
	m, err = d.Map(MapOptions{Bucket: "my-site"}, []string{"site/a.html", "other/b.html"}, []string{"site/a.html", "other/b.html"})
	if err != nil {
		t.Fatal(err)
	}
	if join(m.Changed) != "a.html" || len(m.NotServed) != 1 || !strings.Contains(m.NotServed[0].Error(), "reads only keys under site/") {
		t.Fatalf("changed %q, not served %v", m.Changed, m.NotServed)
	}

	// A URL prefix overrides the configuration (a viewer function maps /en/* to site/*).
	m, err = d.Map(MapOptions{Bucket: "my-site", Prefix: "site/", URLPrefix: "/en"}, all, changed)
	if err != nil || join(m.Changed) != "en/a.html en/docs/x.html en/gone.html en/home.html" || len(m.NotServed) != 0 {
		t.Fatalf("override: %q %v %v", m.Changed, m.NotServed, err)
	}

	// Another folder, another bucket: typed errors naming the origins.
	var ope *OriginPathError
	if _, err := d.Map(MapOptions{Bucket: "my-site", Prefix: "www/"}, all, changed); !errors.As(err, &ope) {
		t.Fatalf("prefix www/ behind /site: %v", err)
	}
	var nao *NotAnOriginError
	_, err = d.Map(MapOptions{Bucket: "other-bucket"}, all, changed)
	if !errors.As(err, &nao) || !strings.Contains(err.Error(), "site (my-site.s3.us-west-2.amazonaws.com, S3 origin, origin path /site)") ||
		!strings.Contains(err.Error(), "docs (docs.example.com, custom origin)") {
		t.Fatalf("not an origin: %v", err)
	}

	// A tenant of a multi-tenant distribution whose origin path is a parameter.
	multi := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{{ID: "site", DomainName: "tenants.s3.amazonaws.com", OriginPath: "/{{tenant}}"}},
	})
	a := cf.CreateTenant(multi, "a", "a.example.com")
	cf.SetTenantParameters(a, map[string]string{"tenant": "alpha"})
	td, err := r.Target(ctx, invalidation.TenantTarget(a))
	if err != nil {
		t.Fatal(err)
	}
	if td.DomainName != "a.example.com" || td.Origins[0].Path != "/alpha" || td.Origins[0].Bucket != "tenants" {
		t.Fatalf("tenant configuration %+v", td)
	}
	m, err = td.Map(MapOptions{Bucket: "tenants", Prefix: "alpha/"}, []string{"alpha/a.html"}, []string{"alpha/a.html"})
	if err != nil || join(m.Changed) != "a.html" {
		t.Fatalf("tenant map %q %v", m.Changed, err)
	}
	if _, err := r.Target(ctx, invalidation.TenantTarget("dt_nosuch")); err == nil || !strings.Contains(err.Error(), "EntityNotFound") {
		t.Fatalf("unknown tenant: %v", err)
	}
}

func TestCheckURLPrefix(t *testing.T) {
	for in, want := range map[string]string{"": "", "/": "", "/en/": "/en", "/a/b": "/a/b"} {
		if got, err := CheckURLPrefix(in); err != nil || got != want {
			t.Errorf("CheckURLPrefix(%q) = %q, %v", in, got, err)
		}
	}
	for in, want := range map[string]string{"en": `must start with '/'`, "/a*": "without '*'", "/a//b": "'//'"} {
		if _, err := CheckURLPrefix(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckURLPrefix(%q) = %v, want %q", in, err, want)
		}
	}
}
