package edge_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

var moto *testkit.Moto

func TestMain(m *testing.M) {
	var err error
	moto, err = testkit.NewMoto()
	if err != nil {
		fmt.Fprintln(os.Stderr, "edge:", err)
		os.Exit(1)
	}
	code := m.Run()
	moto.Close()
	os.Exit(code)
}

var bucketSeq atomic.Int64

// origin is one bucket in moto, written with the real S3 client.
type origin struct {
	t      *testing.T
	s3     *s3.Client
	bucket string
}

func newOrigin(t *testing.T) *origin {
	t.Helper()
	cfg, err := testkit.SDKConfig(context.Background(), moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	b := fmt.Sprintf("edge-%d-%d", time.Now().UnixNano()%1e9, bucketSeq.Add(1))
	if _, err := c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
		t.Fatal(err)
	}
	return &origin{t: t, s3: c, bucket: b}
}

// put writes key with body and, optionally, Cache-Control and Expires.
func (o *origin) put(key, body, cacheControl string, expires ...time.Time) {
	o.t.Helper()
	in := &s3.PutObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(key), Body: bytes.NewReader([]byte(body)), ContentType: aws.String("text/html")}
	if cacheControl != "" {
		in.CacheControl = aws.String(cacheControl)
	}
	if len(expires) > 0 {
		in.Expires = aws.Time(expires[0])
	}
	if _, err := o.s3.PutObject(context.Background(), in); err != nil {
		o.t.Fatalf("put %s: %v", key, err)
	}
}

func (o *origin) del(key string) {
	o.t.Helper()
	if _, err := o.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(key)}); err != nil {
		o.t.Fatalf("delete %s: %v", key, err)
	}
}

// clock is an injectable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type answer struct {
	status int
	body   string
	header http.Header
}

func (a answer) xcache() string { return a.header.Get("X-Cache") }

// get requests uri through the edge at location loc (-1: let the edge choose).
func get(t *testing.T, e *edge.Edge, method, uri string, loc int, hdr ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	if loc >= 0 {
		req.Header.Set("X-Edge-Location", strconv.Itoa(loc))
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{status: resp.StatusCode, body: string(b), header: resp.Header}
}

func TestMissThenHitWithAge(t *testing.T) {
	o := newOrigin(t)
	o.put("a.html", "v1", "")
	clk := newClock()
	e := edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket, Now: clk.Now})

	a := get(t, e, "GET", "/a.html", 0)
	if a.status != 200 || a.body != "v1" || a.xcache() != "Miss from cloudfront" || a.header.Get("Age") != "" {
		t.Fatalf("first GET: %d %q %q Age %q", a.status, a.body, a.xcache(), a.header.Get("Age"))
	}
	if a.header.Get("ETag") == "" || a.header.Get("Last-Modified") == "" || a.header.Get("Content-Type") != "text/html" {
		t.Errorf("origin headers not passed on: %v", a.header)
	}
	if a.header.Get("X-Amz-Cf-Pop") != "EMU0" || a.header.Get("Via") == "" {
		t.Errorf("pop/via: %v", a.header)
	}
	o.put("a.html", "v2", "")
	clk.Add(42 * time.Second)
	b := get(t, e, "GET", "/a.html", 0)
	if b.body != "v1" || b.xcache() != "Hit from cloudfront" || b.header.Get("Age") != "42" {
		t.Fatalf("second GET: %q %q Age %q; want the cached v1, Hit, Age 42", b.body, b.xcache(), b.header.Get("Age"))
	}
	// Another location has its own cache.
	if c := get(t, e, "GET", "/a.html", 1); c.body != "v2" || c.xcache() != "Miss from cloudfront" {
		t.Fatalf("location 1: %q %q; want v2, Miss", c.body, c.xcache())
	}
	recs := e.Records()
	if len(recs) != 3 || recs[1].Hit != true || recs[1].Age != 42 || recs[1].CacheKey != "/a.html" || recs[1].Location != 0 || recs[2].Location != 1 || recs[1].ETag == "" {
		t.Fatalf("records: %+v", recs)
	}
}

// A table over Cache-Control, Expires and the cache policy, through real HTTP against
// moto: each object must be a Hit just before its TTL ends and no longer a plain Hit
// just after. The clock is injected, so nothing waits.
func TestTTLRules(t *testing.T) {
	o := newOrigin(t)
	clk := newClock()
	opt := edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket, Now: clk.Now}
	optimized := edge.Start(t, opt)
	custom := opt
	custom.MinTTL, custom.DefaultTTL, custom.MaxTTL = 0, 600*time.Second, 3600*time.Second
	minZero := edge.Start(t, custom)
	floor := opt
	floor.MinTTL, floor.DefaultTTL, floor.MaxTTL = 120*time.Second, 300*time.Second, 1800*time.Second
	minFloor := edge.Start(t, floor)

	now := clk.Now()
	for i, tc := range []struct {
		name    string
		e       *edge.Edge
		cc      string
		expires time.Duration // from now; 0: no Expires header
		ttl     time.Duration // want; 0 with cached false: never a Hit
		cached  bool
	}{
		{"optimized, no headers: default 86400 s", optimized, "", 0, 86400 * time.Second, true},
		{"optimized, max-age=60", optimized, "max-age=60", 0, 60 * time.Second, true},
		{"optimized, s-maxage wins over max-age", optimized, "max-age=60, s-maxage=300", 0, 300 * time.Second, true},
		{"optimized, max-age=0 raised to min 1 s", optimized, "max-age=0", 0, time.Second, true},
		{"optimized, no-cache cached for min 1 s", optimized, "no-cache", 0, time.Second, true},
		{"optimized, private cached for min 1 s", optimized, "private, max-age=600", 0, time.Second, true},
		{"optimized, Expires in 90 s", optimized, "", 90 * time.Second, 90 * time.Second, true},
		{"optimized, max-age wins over Expires", optimized, "max-age=30", 90 * time.Second, 30 * time.Second, true},
		{"min 0, no-store not cached", minZero, "no-store", 0, 0, false},
		{"min 0, no-cache not cached", minZero, "no-cache", 0, 0, false},
		{"min 0, no headers: default 600 s", minZero, "", 0, 600 * time.Second, true},
		{"min 0, max-age above max clamped to 3600 s", minZero, "max-age=86400", 0, 3600 * time.Second, true},
		{"min 120, max-age=10 raised to 120 s", minFloor, "max-age=10", 0, 120 * time.Second, true},
		{"min 120, no headers: default 300 s", minFloor, "", 0, 300 * time.Second, true},
		{"min 120, no-store cached for min 120 s", minFloor, "no-store", 0, 120 * time.Second, true},
		{"min 120, Expires above max clamped to 1800 s", minFloor, "", 7200 * time.Second, 1800 * time.Second, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk.mu.Lock()
			clk.t = now
			clk.mu.Unlock()
			key := fmt.Sprintf("ttl/%d.html", i)
			if tc.expires != 0 {
				o.put(key, "x", tc.cc, now.Add(tc.expires))
			} else {
				o.put(key, "x", tc.cc)
			}
			loc := i % tc.e.Locations()
			if a := get(t, tc.e, "GET", "/"+key, loc); a.xcache() != "Miss from cloudfront" {
				t.Fatalf("first: %s", a.xcache())
			}
			if !tc.cached {
				if a := get(t, tc.e, "GET", "/"+key, loc); a.xcache() != "Miss from cloudfront" {
					t.Fatalf("second: %s, want another Miss (not cached)", a.xcache())
				}
				return
			}
			clk.Add(tc.ttl - time.Second/2)
			if a := get(t, tc.e, "GET", "/"+key, loc); a.xcache() != "Hit from cloudfront" {
				t.Fatalf("just before %s: %s, want Hit", tc.ttl, a.xcache())
			}
			clk.Add(time.Second)
			if a := get(t, tc.e, "GET", "/"+key, loc); a.xcache() != "RefreshHit from cloudfront" {
				t.Fatalf("just after %s: %s, want RefreshHit (expired, origin says 304)", tc.ttl, a.xcache())
			}
		})
	}
}

func TestPolicyTTLUnits(t *testing.T) {
	p := edge.CachingOptimized
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := func(kv ...string) http.Header {
		out := http.Header{}
		for i := 0; i+1 < len(kv); i += 2 {
			out.Add(kv[i], kv[i+1])
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		status int
		h      http.Header
		ttl    time.Duration
		store  bool
	}{
		{"malformed max-age ignored", 200, h("Cache-Control", "max-age=abc"), 86400 * time.Second, true},
		{"unparsable Expires is in the past", 200, h("Expires", "0"), time.Second, true},
		{"max-age capped at max", 200, h("Cache-Control", "max-age=99999999999"), 31536000 * time.Second, true},
		{"404 plain: error TTL", 404, h(), 10 * time.Second, true},
		{"404 max-age above error TTL", 404, h("Cache-Control", "max-age=60"), 60 * time.Second, true},
		{"404 max-age below error TTL", 404, h("Cache-Control", "max-age=2"), 10 * time.Second, true},
		{"404 no-store not cached", 404, h("Cache-Control", "no-store"), 0, false},
		{"403 no-store still cached", 403, h("Cache-Control", "no-store"), 10 * time.Second, true},
		{"503 cached", 503, h(), 10 * time.Second, true},
		{"416 not cached", 416, h(), 0, false},
	} {
		var ttl time.Duration
		var store bool
		if tc.status >= 400 {
			ttl, store = p.ErrorTTL(tc.status, tc.h, now)
		} else {
			ttl, store = p.ObjectTTL(tc.h, now)
		}
		if ttl != tc.ttl || store != tc.store {
			t.Errorf("%s: %s %v, want %s %v", tc.name, ttl, store, tc.ttl, tc.store)
		}
	}
}

// An expired copy is revalidated: 304 gives RefreshHit with Age 0, a changed object a
// Miss with the new body.
func TestRevalidation(t *testing.T) {
	o := newOrigin(t)
	clk := newClock()
	e := edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket, Now: clk.Now})
	o.put("r.html", "v1", "max-age=10")
	get(t, e, "GET", "/r.html", 2)
	clk.Add(11 * time.Second)
	if a := get(t, e, "GET", "/r.html", 2); a.xcache() != "RefreshHit from cloudfront" || a.header.Get("Age") != "0" || a.body != "v1" {
		t.Fatalf("unchanged: %s Age %q %q", a.xcache(), a.header.Get("Age"), a.body)
	}
	clk.Add(5 * time.Second)
	if a := get(t, e, "GET", "/r.html", 2); a.xcache() != "Hit from cloudfront" || a.header.Get("Age") != "5" {
		t.Fatalf("after refresh: %s Age %q, want Hit Age 5 (the TTL restarted)", a.xcache(), a.header.Get("Age"))
	}
	o.put("r.html", "v2", "max-age=10")
	clk.Add(6 * time.Second)
	if a := get(t, e, "GET", "/r.html", 2); a.xcache() != "Miss from cloudfront" || a.body != "v2" {
		t.Fatalf("changed: %s %q, want Miss v2", a.xcache(), a.body)
	}
	// A viewer's own If-None-Match gets a 304 from the edge.
	etag := get(t, e, "GET", "/r.html", 2).header.Get("ETag")
	if a := get(t, e, "GET", "/r.html", 2, "If-None-Match", etag); a.status != http.StatusNotModified || a.body != "" {
		t.Fatalf("viewer conditional: %d %q", a.status, a.body)
	}
}

// A 404 from S3 stays cached for the error TTL even once the object exists; so does
// the 403 S3 gives for the bucket root (no default root object).
func TestErrorCaching(t *testing.T) {
	o := newOrigin(t)
	clk := newClock()
	e := edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket, Now: clk.Now, DefaultRootObject: "-"})
	if a := get(t, e, "GET", "/late.html", 0); a.status != 404 || a.xcache() != "Error from cloudfront" {
		t.Fatalf("missing: %d %s", a.status, a.xcache())
	}
	o.put("late.html", "here", "")
	clk.Add(9 * time.Second)
	a := get(t, e, "GET", "/late.html", 0)
	if a.status != 404 || a.xcache() != "Error from cloudfront" || a.header.Get("Age") != "9" {
		t.Fatalf("within 10 s: %d %s Age %q; want the cached 404", a.status, a.xcache(), a.header.Get("Age"))
	}
	if r := e.Records(); !r[len(r)-1].Hit {
		t.Fatalf("cached error not recorded as a hit: %+v", r[len(r)-1])
	}
	if a := get(t, e, "GET", "/late.html", 1); a.status != 200 {
		t.Fatalf("other location: %d, want 200 (its own cache)", a.status)
	}
	clk.Add(2 * time.Second)
	if a := get(t, e, "GET", "/late.html", 0); a.status != 200 || a.body != "here" || a.xcache() != "Miss from cloudfront" {
		t.Fatalf("after 10 s: %d %s %q", a.status, a.xcache(), a.body)
	}
	if a := get(t, e, "GET", "/", 0); a.status != 403 || a.xcache() != "Error from cloudfront" {
		t.Fatalf("root without default root object: %d %s, want 403", a.status, a.xcache())
	}
	o.put("index.html", "home", "")
	clk.Add(5 * time.Second)
	if a := get(t, e, "GET", "/", 0); a.status != 403 || a.header.Get("Age") != "5" {
		t.Fatalf("cached 403: %d Age %q", a.status, a.header.Get("Age"))
	}

	long := edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket, Now: clk.Now, ErrorTTL: time.Minute})
	get(t, long, "GET", "/later.html", 0)
	o.put("later.html", "x", "")
	clk.Add(50 * time.Second)
	if a := get(t, long, "GET", "/later.html", 0); a.status != 404 {
		t.Fatalf("ErrorTTL 1m, after 50 s: %d, want the cached 404", a.status)
	}
}

// HEAD and GET share one entry.
func TestHeadAndGetShareAnEntry(t *testing.T) {
	o := newOrigin(t)
	e := edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket})
	o.put("h.html", "hello", "")
	a := get(t, e, "HEAD", "/h.html", 3)
	if a.status != 200 || a.body != "" || a.xcache() != "Miss from cloudfront" || a.header.Get("Content-Length") != "5" {
		t.Fatalf("HEAD: %d %q %s len %q", a.status, a.body, a.xcache(), a.header.Get("Content-Length"))
	}
	if b := get(t, e, "GET", "/h.html", 3); b.body != "hello" || b.xcache() != "Hit from cloudfront" {
		t.Fatalf("GET after HEAD: %q %s, want a Hit with the body", b.body, b.xcache())
	}
	if c := get(t, e, "POST", "/h.html", 3); c.status != http.StatusForbidden {
		t.Fatalf("POST: %d, want 403 (GET and HEAD only)", c.status)
	}
}

// An object that turns uncacheable (no-store with a minimum TTL of 0) no longer has a
// copy at the edge once its old copy expired: when the origin later holds the old bytes
// again (same ETag), the edge fetches them instead of refreshing a stale copy.
func TestUncacheableAnswerRemovesTheCopy(t *testing.T) {
	o := newOrigin(t)
	clk := newClock()
	e := edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket, Now: clk.Now, MinTTL: 0, DefaultTTL: time.Minute, MaxTTL: time.Hour})
	o.put("u.html", "v1", "max-age=10")
	get(t, e, "GET", "/u.html", 0)
	o.put("u.html", "v2", "no-store")
	clk.Add(11 * time.Second)
	if a := get(t, e, "GET", "/u.html", 0); a.body != "v2" || a.xcache() != "Miss from cloudfront" {
		t.Fatalf("after the change: %q %s, want v2 Miss", a.body, a.xcache())
	}
	o.put("u.html", "v1", "no-store")
	if a := get(t, e, "GET", "/u.html", 0); a.body != "v1" || a.xcache() != "Miss from cloudfront" || a.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("old bytes again: %q %s %q, want a Miss with no-store (no copy left to refresh)", a.body, a.xcache(), a.header.Get("Cache-Control"))
	}
}
