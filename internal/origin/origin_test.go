package origin

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

// One moto for the package: starting it takes over a second.
var sharedMoto testkit.SharedMoto

func startMoto(t *testing.T) string { return sharedMoto.Get(t).URL }

func TestMain(m *testing.M) {
	code := m.Run()
	sharedMoto.Close()
	os.Exit(code)
}

// countingAPI counts GetDistribution calls (the Reader must cache).
type countingAPI struct {
	API
	mu sync.Mutex
	n  int
}

func (c *countingAPI) GetDistribution(ctx context.Context, in *cloudfront.GetDistributionInput, optFns ...func(*cloudfront.Options)) (*cloudfront.GetDistributionOutput, error) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.API.GetDistribution(ctx, in, optFns...)
}

func reader(t *testing.T, endpoint string) (*Reader, *countingAPI) {
	t.Helper()
	cfg, err := testkit.SDKConfig(context.Background(), endpoint)
	if err != nil {
		t.Fatal(err)
	}
	api := &countingAPI{API: cloudfront.NewFromConfig(cfg)}
	return NewReader(api), api
}

func TestParseS3Domain(t *testing.T) {
	for _, tc := range []struct {
		domain, bucket, region string
		kind                   Kind
		ok                     bool
	}{
		{"my-site.s3.amazonaws.com", "my-site", "", S3, true},
		{"my-site.s3.eu-west-1.amazonaws.com", "my-site", "eu-west-1", S3, true},
		{"my-site.s3-eu-west-1.amazonaws.com", "my-site", "eu-west-1", S3, true},
		{"my-site.s3.dualstack.ap-northeast-1.amazonaws.com", "my-site", "ap-northeast-1", S3, true},
		{"www.example.com.s3.us-east-1.amazonaws.com", "www.example.com", "us-east-1", S3, true},
		{"My-Site.S3.amazonaws.com.", "my-site", "", S3, true},
		{"my-site.s3.cn-north-1.amazonaws.com.cn", "my-site", "cn-north-1", S3, true},
		{"my-site.s3-website-us-east-1.amazonaws.com", "my-site", "us-east-1", S3Website, true},
		{"my-site.s3-website.eu-central-1.amazonaws.com", "my-site", "eu-central-1", S3Website, true},
		{"api.example.com", "", "", Custom, false},
		{"s3.amazonaws.com", "", "", Custom, false},
		{"my-site.s3.example.com", "", "", Custom, false},
	} {
		b, r, k, ok := ParseS3Domain(tc.domain)
		if b != tc.bucket || r != tc.region || k != tc.kind || ok != tc.ok {
			t.Errorf("ParseS3Domain(%q) = %q, %q, %v, %v; want %q, %q, %v, %v", tc.domain, b, r, k, ok, tc.bucket, tc.region, tc.kind, tc.ok)
		}
	}
}

func TestBehaviorPatterns(t *testing.T) {
	for _, tc := range []struct {
		pattern, url string
		want         bool
	}{
		{"/docs/*", "/docs/a/b.html", true},
		{"/docs/*", "/docs", false},
		{"docs/*", "/docs/a.html", true},
		{"*.jpg", "/img/a.jpg", true},
		{"*.jpg", "/img/a.JPG", false},
		{"/a?c.html", "/abc.html", true},
		{"/a?c.html", "/ac.html", false},
		{"/x.y", "/xzy", false},
	} {
		b := Behavior{PathPattern: tc.pattern, re: compilePattern(tc.pattern)}
		if got := b.Matches(tc.url); got != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.pattern, tc.url, got, tc.want)
		}
	}
}

// TestReadThroughSDK reads a distribution with two origins, an origin path, a behavior
// routed elsewhere and a viewer function, created and read through the real SDK against
// moto behind the realism proxy.
func TestReadThroughSDK(t *testing.T) {
	cf := testkit.StartCloudFront(t, startMoto(t), testkit.CloudFrontOptions{})
	id := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{
			{ID: "site", DomainName: "my-site.s3.us-west-2.amazonaws.com", OriginPath: "/site"},
			{ID: "api", DomainName: "api.example.com", Custom: true},
			{ID: "legacy", DomainName: "old-site.s3-website-us-east-1.amazonaws.com", Custom: true},
		},
		Behaviors: []testkit.DistributionBehavior{
			{PathPattern: "/api/*", OriginID: "api"},
			{PathPattern: "/old/*", OriginID: "legacy"},
		},
		DefaultRootObject:     "index.html",
		ViewerRequestFunction: true,
	})
	r, api := reader(t, cf.URL)
	ctx := context.Background()
	d, err := r.Distribution(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Distribution(ctx, id); err != nil || api.n != 1 {
		t.Fatalf("second read: err %v, %d GetDistribution calls, want 1 (cached)", err, api.n)
	}
	if !strings.HasSuffix(d.DomainName, ".cloudfront.net") || d.DefaultRootObject != "index.html" {
		t.Errorf("domain %q, root object %q", d.DomainName, d.DefaultRootObject)
	}
	if len(d.Origins) != 3 {
		t.Fatalf("origins %+v", d.Origins)
	}
	site, err := d.Site("my-site", "site/")
	if err != nil {
		t.Fatal(err)
	}
	if site.ID != "site" || site.Kind != S3 || site.Region != "us-west-2" || site.Path != "/site" || site.KeyPrefix() != "site/" {
		t.Errorf("site origin %+v", site)
	}
	pats, def := d.PathPatterns("site")
	if len(pats) != 0 || !def {
		t.Errorf("site patterns %v default %v", pats, def)
	}
	if pats, def := d.PathPatterns("api"); len(pats) != 1 || pats[0] != "/api/*" || def {
		t.Errorf("api patterns %v default %v", pats, def)
	}
	legacy, err := d.Site("old-site", "")
	if err != nil || legacy.Kind != S3Website {
		t.Errorf("website origin: %+v, %v", legacy, err)
	}
	if !d.Route("/").RewritesURI {
		t.Error("the viewer-request function is not seen (moto drops it; the proxy must return it)")
	}

	// Keys to URLs: the origin path stripped, routed-away URLs refused.
	if u, err := d.URL(site, "site/a b.html"); err != nil || u != "/a b.html" {
		t.Errorf("URL(site/a b.html) = %q, %v", u, err)
	}
	var ns *NotServedError
	if _, err := d.URL(site, "site/api/x.json"); !errors.As(err, &ns) || !strings.Contains(err.Error(), "/api/*") {
		t.Errorf("URL routed to the api origin: %v", err)
	}
	if _, err := d.URL(site, "other/a.html"); !errors.As(err, &ns) {
		t.Errorf("key outside the origin path: %v", err)
	}
	if dir, ok := d.DirectoryURL(site, "/docs/index.html", "index.html"); !ok || dir != "/docs/" {
		t.Errorf("DirectoryURL with a viewer function = %q, %v", dir, ok)
	}
	if dir, ok := d.DirectoryURL(legacy, "/old/index.html", "index.html"); !ok || dir != "/old/" {
		t.Errorf("DirectoryURL through a website origin = %q, %v", dir, ok)
	}

	// The typed errors name what to fix.
	_, err = d.Site("another-bucket", "")
	var nao *NotAnOriginError
	if !errors.As(err, &nao) || !strings.Contains(err.Error(), "my-site.s3.us-west-2.amazonaws.com") || !strings.Contains(err.Error(), "api.example.com") {
		t.Errorf("not an origin: %v", err)
	}
	_, err = d.Site("my-site", "")
	var ope *OriginPathError
	if !errors.As(err, &ope) || !strings.Contains(err.Error(), "/site") {
		t.Errorf("origin path differs: %v", err)
	}
}

// TestDirectoryURLNeedsAWayToServeIt: without a viewer function or a website origin
// only "/" is served for index.html (by the default root object).
func TestDirectoryURLNeedsAWayToServeIt(t *testing.T) {
	cf := testkit.StartCloudFront(t, startMoto(t), testkit.CloudFrontOptions{})
	id := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins:           []testkit.DistributionOrigin{{ID: "s", DomainName: "plain.s3.amazonaws.com"}},
		DefaultRootObject: "index.html",
	})
	r, _ := reader(t, cf.URL)
	d, err := r.Distribution(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	o, err := d.Site("plain", "")
	if err != nil {
		t.Fatal(err)
	}
	if dir, ok := d.DirectoryURL(o, "/index.html", "index.html"); !ok || dir != "/" {
		t.Errorf("root = %q, %v", dir, ok)
	}
	if dir, ok := d.DirectoryURL(o, "/docs/index.html", "index.html"); ok {
		t.Errorf("a plain S3 origin serves %q", dir)
	}
}

func TestUnknownDistribution(t *testing.T) {
	cf := testkit.StartCloudFront(t, startMoto(t), testkit.CloudFrontOptions{})
	r, _ := reader(t, cf.URL)
	_, err := r.Distribution(context.Background(), "ENOSUCHDIST1")
	if err == nil || !strings.Contains(err.Error(), "ENOSUCHDIST1") {
		t.Fatalf("err = %v", err)
	}
}
