package edge_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

// invList is a settable invalidation list for tests with an injected clock.
type invList struct {
	mu   sync.Mutex
	invs []edge.Invalidation
}

func (l *invList) add(at time.Time, paths ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.invs = append(l.invs, edge.Invalidation{ID: fmt.Sprintf("I%d", len(l.invs)), Paths: paths, Created: at, CompleteAt: at})
}

func (l *invList) list(string) []edge.Invalidation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]edge.Invalidation(nil), l.invs...)
}

// An object changed in moto and invalidated through the CloudFront realism proxy: each
// location serves the new version from its own moment on, some before CompleteAt, all by
// CompleteAt; an object outside the invalidation stays cached everywhere.
func TestPerLocationEviction(t *testing.T) {
	ctx := context.Background()
	o := newOrigin(t)
	const completeAfter = 3 * time.Second
	cf := testkit.StartCloudFront(t, moto.URL, testkit.CloudFrontOptions{CompleteAfter: completeAfter})
	dist := testkit.CreateDistribution(t, cf.URL)
	e := edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket, DistributionID: dist, Invalidations: cf.EdgeInvalidations})
	n := e.Locations()

	o.put("page.html", "v1", "")
	o.put("other.html", "v1", "")
	for loc := range n {
		get(t, e, "GET", "/page.html", loc)
		get(t, e, "GET", "/other.html", loc)
	}
	o.put("page.html", "v2", "")
	o.put("other.html", "v2", "")

	cfg, err := testkit.SDKConfig(ctx, cf.URL)
	if err != nil {
		t.Fatal(err)
	}
	out, err := cloudfront.NewFromConfig(cfg).CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String(dist),
		InvalidationBatch: &cftypes.InvalidationBatch{
			CallerReference: aws.String(fmt.Sprint(time.Now().UnixNano())),
			Paths:           &cftypes.Paths{Quantity: aws.Int32(1), Items: []string{"/page.html"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	invs := cf.EdgeInvalidations(dist)
	if len(invs) != 1 || invs[0].ID != aws.ToString(out.Invalidation.Id) {
		t.Fatalf("adapter: %+v", invs)
	}
	inv := invs[0]

	// Poll every location until CompleteAt (bounded: completeAfter plus a margin).
	firstNew := make([]time.Time, n)
	deadline := inv.CompleteAt.Add(2 * time.Second)
	for time.Now().Before(deadline) {
		done := true
		for loc := range n {
			if !firstNew[loc].IsZero() {
				continue
			}
			before := time.Now()
			if a := get(t, e, "GET", "/page.html", loc); a.body == "v2" {
				firstNew[loc] = time.Now() // the edge answered at or before this
			} else {
				done = false
				if !before.Before(inv.CompleteAt) {
					t.Fatalf("location %d still serves %q at CompleteAt+%s", loc, a.body, before.Sub(inv.CompleteAt))
				}
			}
		}
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	early := 0
	for loc, at := range firstNew {
		if at.IsZero() {
			t.Fatalf("location %d never served v2", loc)
		}
		want := edge.DropAt(inv, loc, n)
		t.Logf("location %d: serves v2 from +%s (drop moment +%s, CompleteAt +%s)", loc,
			at.Sub(inv.Created).Round(10*time.Millisecond), want.Sub(inv.Created).Round(10*time.Millisecond), completeAfter)
		if at.Before(want) {
			t.Errorf("location %d served v2 by +%s, before its drop moment +%s", loc, at.Sub(inv.Created), want.Sub(inv.Created))
		}
		if at.Before(inv.CompleteAt.Add(-completeAfter / 4)) {
			early++
		}
	}
	if early == 0 {
		t.Errorf("no location served v2 well before CompleteAt; the drops are not spread")
	}
	for loc := range n {
		if a := get(t, e, "GET", "/page.html", loc); a.body != "v2" {
			t.Errorf("after CompleteAt location %d serves %q", loc, a.body)
		}
		if a := get(t, e, "GET", "/other.html", loc); a.body != "v1" || a.xcache() != "Hit from cloudfront" {
			t.Errorf("location %d: other.html %q %s; want the cached v1 (not invalidated)", loc, a.body, a.xcache())
		}
	}
}

func TestDropMoments(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, id := range []string{"I1", "I2ABC", "IXYZ"} {
		inv := edge.Invalidation{ID: id, Created: created, CompleteAt: created.Add(8 * time.Second)}
		seen := map[time.Time]bool{}
		var last time.Time
		for loc := range 4 {
			at := edge.DropAt(inv, loc, 4)
			if !at.After(created) || at.After(inv.CompleteAt) || seen[at] {
				t.Fatalf("%s location %d: %s (created %s, complete %s, seen %v)", id, loc, at, created, inv.CompleteAt, seen)
			}
			seen[at] = true
			if at.After(last) {
				last = at
			}
		}
		if !last.Equal(inv.CompleteAt) {
			t.Errorf("%s: the last location drops at %s, want CompleteAt", id, last)
		}
	}
}

// Exact, wildcard and encoded invalidation paths, matched as CloudFront matches them;
// the query string is not part of the cache key (CachingOptimized).
func TestInvalidationPathMatching(t *testing.T) {
	o := newOrigin(t)
	clk := newClock()
	invs := &invList{}
	e := edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket, Now: clk.Now, Invalidations: invs.list, Locations: 1})
	keys := map[string]string{ // key -> URI a browser sends
		"img/logo dé.png":  "/img/logo%20d%C3%A9.png",
		"a~b.html":         "/a~b.html",
		"blog/2024-x.html": "/blog/2024-x.html",
		"blog/2025.html":   "/blog/2025.html",
		"q.html":           "/q.html?utm=1",
		"Case.html":        "/Case.html",
	}
	for k := range keys {
		o.put(k, "v1", "")
	}
	for _, uri := range keys {
		if a := get(t, e, "GET", uri, 0); a.status != 200 {
			t.Fatalf("%s: %d", uri, a.status)
		}
	}
	for k := range keys {
		o.put(k, "v2", "")
	}
	body := func(uri string) string { return get(t, e, "GET", uri, 0).body }

	// Paths that must not match anything.
	clk.Add(time.Second)
	invs.add(clk.Now(), "/img/logo%20d%c3%a9.png", "/img/logo dé.png", "/blog/2024-x", "/case.html", "/%61~b.html")
	clk.Add(time.Second)
	for k, uri := range keys {
		if got := body(uri); got != "v1" {
			t.Errorf("%s (%s) dropped by a non-matching path: %q", k, uri, got)
		}
	}
	// The planner's encoding of each key matches the browser's request.
	clk.Add(time.Second)
	invs.add(clk.Now(), invalidation.EncodePath("/img/logo dé.png"), invalidation.EncodePath("/a~b.html"), "/blog/2024-*", "/q.html")
	clk.Add(time.Second)
	for k, uri := range keys {
		want := "v1"
		if k != "blog/2025.html" && k != "Case.html" {
			want = "v2"
		}
		if got := body(uri); got != want {
			t.Errorf("%s (%s): %q, want %q", k, uri, got, want)
		}
	}
	// The same object requested with another query string is the same entry.
	if a := get(t, e, "GET", "/q.html?other=2", 0); a.xcache() != "Hit from cloudfront" || a.body != "v2" {
		t.Errorf("query string in the cache key: %s %q", a.xcache(), a.body)
	}
	// An entry cached after the drop moment is not dropped by that invalidation.
	clk.Add(time.Second)
	invs.add(clk.Now(), "/*")
	o.put("blog/2025.html", "v3", "")
	clk.Add(time.Second)
	if got := body("/blog/2025.html"); got != "v3" {
		t.Fatalf("/* did not drop /blog/2025.html: %q", got)
	}
	o.put("blog/2025.html", "v4", "")
	clk.Add(time.Second)
	if got := body("/blog/2025.html"); got != "v3" {
		t.Fatalf("an entry cached after the invalidation's drop was dropped: %q", got)
	}
	recs := e.Records()
	if k := recs[len(recs)-1].CacheKey; k != "/blog/2025.html" {
		t.Errorf("cache key %q", k)
	}
}

func TestCanonicalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/a.html":           "/a.html",
		"/a b.html":         "/a%20b.html",
		"/a~b.html":         "/a%7Eb.html",
		"/a%7eb.html":       "/a%7Eb.html",
		"/caf%c3%a9.html":   "/caf%C3%A9.html",
		"/café.html":        "/caf%C3%A9.html",
		"/%61.html":         "/%61.html", // an escaped safe character stays escaped
		"/100%.html":        "/100%25.html",
		"/a+b=c&d:e.html":   "/a+b=c&d:e.html",
		"/%2Fslash":         "/%2Fslash",
		"/x%zz":             "/x%25zz",
		"/br[1]{x}|^`.html": "/br%5B1%5D%7Bx%7D%7C%5E%60.html",
	} {
		if got := edge.CanonicalPath(in); got != want {
			t.Errorf("CanonicalPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// The default root object, both pretty-URL set-ups and the cache keys each uses.
func TestPrettyURLs(t *testing.T) {
	o := newOrigin(t)
	o.put("index.html", "home", "")
	o.put("blog/index.html", "blog", "")
	clk := newClock()
	mk := func(p edge.PrettyURLs, invs *invList) *edge.Edge {
		return edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket, Pretty: p, Now: clk.Now, Invalidations: invs.list, Locations: 1})
	}
	last := func(e *edge.Edge) edge.Record { r := e.Records(); return r[len(r)-1] }

	t.Run("none", func(t *testing.T) {
		e := mk(edge.PrettyNone, &invList{})
		if a := get(t, e, "GET", "/", 0); a.body != "home" || last(e).CacheKey != "/" {
			t.Fatalf("/: %q key %q", a.body, last(e).CacheKey)
		}
		if a := get(t, e, "GET", "/blog/", 0); a.status != 404 {
			t.Fatalf("/blog/ without pretty URLs: %d, want 404 (the default root object serves / only)", a.status)
		}
	})
	t.Run("rewrite", func(t *testing.T) {
		invs := &invList{}
		e := mk(edge.PrettyRewrite, invs)
		for _, uri := range []string{"/blog/", "/blog"} {
			if a := get(t, e, "GET", uri, 0); a.body != "blog" || last(e).CacheKey != "/blog/index.html" {
				t.Fatalf("%s: %q key %q", uri, a.body, last(e).CacheKey)
			}
		}
		if a := get(t, e, "GET", "/", 0); a.body != "home" || last(e).CacheKey != "/index.html" {
			t.Fatalf("/: %q key %q", a.body, last(e).CacheKey)
		}
		o.put("blog/index.html", "blog v2", "")
		defer o.put("blog/index.html", "blog", "")
		clk.Add(time.Second)
		invs.add(clk.Now(), "/blog/index.html")
		clk.Add(time.Second)
		if a := get(t, e, "GET", "/blog/", 0); a.body != "blog v2" {
			t.Fatalf("invalidating /blog/index.html under a rewrite: /blog/ serves %q", a.body)
		}
	})
	t.Run("website", func(t *testing.T) {
		invs := &invList{}
		e := mk(edge.PrettyWebsite, invs)
		if a := get(t, e, "GET", "/blog/", 0); a.body != "blog" || last(e).CacheKey != "/blog/" {
			t.Fatalf("/blog/: %q key %q", a.body, last(e).CacheKey)
		}
		req, _ := http.NewRequest("GET", e.URL+"/blog", nil)
		req.Header.Set("X-Edge-Location", "0")
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/blog/" {
			t.Fatalf("/blog: %d Location %q, want 302 to /blog/", resp.StatusCode, resp.Header.Get("Location"))
		}
		o.put("blog/index.html", "blog v2", "")
		defer o.put("blog/index.html", "blog", "")
		clk.Add(time.Second)
		invs.add(clk.Now(), "/blog/index.html")
		clk.Add(time.Second)
		if a := get(t, e, "GET", "/blog/", 0); a.body != "blog" {
			t.Fatalf("invalidating only /blog/index.html dropped the /blog/ entry: %q", a.body)
		}
		invs.add(clk.Now(), "/blog/")
		clk.Add(time.Second)
		if a := get(t, e, "GET", "/blog/", 0); a.body != "blog v2" {
			t.Fatalf("invalidating /blog/: %q", a.body)
		}
	})
}

func TestOriginPath(t *testing.T) {
	o := newOrigin(t)
	o.put("site/a.html", "in site", "")
	o.put("site/index.html", "site home", "")
	o.put("a.html", "bucket root", "")
	e := edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket, OriginPath: "/site"})
	if a := get(t, e, "GET", "/a.html", 0); a.body != "in site" {
		t.Fatalf("/a.html: %q", a.body)
	}
	if a := get(t, e, "GET", "/", 0); a.body != "site home" {
		t.Fatalf("/: %q", a.body)
	}
	if a := get(t, e, "GET", "/site/a.html", 0); a.status != 404 {
		t.Fatalf("/site/a.html: %d, want 404 (reads site/site/a.html)", a.status)
	}
}

func TestLocationChoiceAndBadInput(t *testing.T) {
	o := newOrigin(t)
	o.put("a.html", "a", "")
	e := edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket, Locations: 8})
	seen := map[string]bool{}
	for i := range 40 {
		v := fmt.Sprintf("visitor-%d", i)
		p1 := get(t, e, "GET", "/a.html", -1, "X-Visitor", v).header.Get("X-Amz-Cf-Pop")
		p2 := get(t, e, "GET", "/a.html", -1, "X-Visitor", v).header.Get("X-Amz-Cf-Pop")
		if p1 != p2 {
			t.Fatalf("%s moved from %s to %s", v, p1, p2)
		}
		seen[p1] = true
	}
	if len(seen) < 4 {
		t.Errorf("40 visitors used only %d of 8 locations", len(seen))
	}
	if a := get(t, e, "GET", "/a.html", -1, "X-Edge-Location", "8"); a.status != 400 || !strings.Contains(a.body, "0 to 7") {
		t.Errorf("bad location: %d %q", a.status, a.body)
	}
	for _, bad := range []edge.Options{
		{S3Endpoint: "", Bucket: "b"},
		{S3Endpoint: moto.URL},
		{S3Endpoint: moto.URL, Bucket: "b", MinTTL: 10 * time.Second, DefaultTTL: 5 * time.Second, MaxTTL: 20 * time.Second},
		{S3Endpoint: moto.URL, Bucket: "b", DefaultRootObject: "/index.html"},
		{S3Endpoint: moto.URL, Bucket: "b", Locations: -1},
	} {
		if e, err := edge.New(bad); err == nil {
			e.Close()
			t.Errorf("New(%+v) accepted", bad)
		}
	}
}
