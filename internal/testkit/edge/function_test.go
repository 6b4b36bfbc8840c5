package edge_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	kvsapi "github.com/aws/aws-sdk-go-v2/service/cloudfrontkeyvaluestore"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	edgefn "github.com/edgeflush/edgeflush/deploy/edge"
	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
	"github.com/edgeflush/edgeflush/internal/testkit/kvs"
)

// kvMap is a KeyValueStore every location sees at once.
type kvMap map[string]string

func (m kvMap) Get(_ int, k string) (string, bool) { v, ok := m[k]; return v, ok }

func TestFunctionSourceChecks(t *testing.T) {
	if _, err := edge.NewFunction([]byte("import x from 'crypto';\nfunction handler(e){return e.request}"), nil); err == nil {
		t.Error("a source importing 'crypto' was accepted")
	}
	if _, err := edge.NewFunction([]byte("function nothing(){}"), nil); err == nil {
		t.Error("a source without handler was accepted")
	}
	if _, err := edge.NewFunction(edgefn.ReleasesJS, nil); err != nil {
		t.Fatalf("the shipped releases.js: %v", err)
	}
	if len(edgefn.ReleasesJS) > edgefn.MaxSize {
		t.Errorf("releases.js is %d bytes, over CloudFront's %d", len(edgefn.ReleasesJS), edgefn.MaxSize)
	}
	if edgefn.Grace() <= 0 {
		t.Error("no grace period in releases.js")
	}
}

// TestReleasesFunction runs the shipped releases.js in the emulator, in front of moto, with
// the KeyValueStore stand-in propagating to location 1 two seconds after location 0.
func TestReleasesFunction(t *testing.T) {
	o := newOrigin(t)
	putHTML := func(key, body, release string) {
		t.Helper()
		if _, err := o.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(key),
			Body: bytes.NewReader([]byte(body)), ContentType: aws.String("text/html; charset=utf-8"),
			Metadata: map[string]string{edgefn.MetaRelease: release}}); err != nil {
			t.Fatal(err)
		}
	}
	o.put("site/index.html", "unreleased", "")
	for _, r := range []string{"r1", "r2"} {
		putHTML("site/_releases/"+r+"/index.html", "home "+r, r)
		putHTML("site/_releases/"+r+"/docs/index.html", "docs "+r, r)
		o.put("site/_releases/"+r+"/app.css", "css "+r, "max-age=31536000")
	}
	o.put("site/_releases/r1/old.js", "old r1", "")

	clk := newClock()
	store := kvs.Start(t, kvs.Options{Delays: []time.Duration{0, 2 * time.Second}, Now: clk.Now})
	arn, _ := store.CreateStore("site")
	fn, err := edge.NewFunction(edgefn.ReleasesJS, store.View(arn))
	if err != nil {
		t.Fatal(err)
	}
	e := edge.Start(t, edge.Options{S3Endpoint: moto.URL, Bucket: o.bucket, OriginPath: "/site", Locations: 2, Function: fn, Now: clk.Now})

	get := func(loc, path, cookie string) (int, string, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.URL+path, nil)
		req.Header.Set("X-Edge-Location", loc)
		if cookie != "" {
			req.Header.Set("Cookie", "edgeflush-release="+cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("Set-Cookie")
	}
	// No release made current: the function leaves the request alone.
	if st, body, _ := get("0", "/", ""); st != 200 || body != "unreleased" {
		t.Fatalf("before any release: %d %q", st, body)
	}
	write := func(id string) {
		t.Helper()
		if err := putCurrent(store, arn, id); err != nil {
			t.Fatal(err)
		}
	}
	write("r1")
	clk.Add(2 * time.Second) // every location has r1
	cases := []struct{ path, body string }{{"/", "home r1"}, {"/index.html", "home r1"}, {"/docs/", "docs r1"}, {"/docs", "docs r1"}, {"/app.css", "css r1"}}
	for _, c := range cases {
		st, body, cookie := get("0", c.path, "")
		if st != 200 || body != c.body {
			t.Errorf("GET %s: %d %q, want %q", c.path, st, body, c.body)
		}
		html := strings.HasPrefix(c.body, "home") || strings.HasPrefix(c.body, "docs")
		if html != strings.HasPrefix(cookie, "edgeflush-release=r1; Path=/; Max-Age=") {
			t.Errorf("GET %s: Set-Cookie %q (a page sets the release cookie, an asset does not)", c.path, cookie)
		}
	}
	write("r2")
	// Location 0 has the switch, location 1 not yet (2s delay).
	if _, body, _ := get("0", "/", ""); body != "home r2" {
		t.Errorf("location 0 after the switch: %q", body)
	}
	if _, body, _ := get("1", "/", ""); body != "home r1" {
		t.Errorf("location 1 before its propagation delay: %q", body)
	}
	// An open r1 page keeps its assets; a new page view gets r2 even with the r1 cookie.
	if _, body, _ := get("0", "/app.css", "r1"); body != "css r1" {
		t.Errorf("r1 page's asset after the switch: %q", body)
	}
	if st, body, _ := get("0", "/old.js", "r1"); st != 200 || body != "old r1" {
		t.Errorf("r1 page's removed asset after the switch: %d %q", st, body)
	}
	if _, body, _ := get("0", "/docs/", "r1"); body != "docs r2" {
		t.Errorf("new page view with the r1 cookie: %q, want r2", body)
	}
	if st, _, _ := get("0", "/app.css", "../../etc"); st != 200 {
		t.Errorf("a cookie that is no release id must be ignored: %d", st)
	}
	clk.Add(2 * time.Second)
	if _, body, _ := get("1", "/", ""); body != "home r2" {
		t.Errorf("location 1 after its delay: %q", body)
	}
	// The cache key is the rewritten URI.
	keys := map[string]bool{}
	for _, r := range e.Records() {
		keys[r.CacheKey] = true
	}
	for _, k := range []string{"/_releases/r1/index.html", "/_releases/r2/docs/index.html", "/_releases/r1/app.css"} {
		if !keys[k] {
			t.Errorf("no request cached under %s: %v", k, keys)
		}
	}
}

// putCurrent makes id current with the SDK's client, as internal/release does.
func putCurrent(s *kvs.Server, arn, id string) error {
	ctx := context.Background()
	cfg, err := testkit.SDKConfig(ctx, s.URL)
	if err != nil {
		return err
	}
	c := awsconf.NewKeyValueStore(cfg)
	d, err := c.DescribeKeyValueStore(ctx, &kvsapi.DescribeKeyValueStoreInput{KvsARN: aws.String(arn)})
	if err != nil {
		return err
	}
	_, err = c.PutKey(ctx, &kvsapi.PutKeyInput{KvsARN: aws.String(arn), Key: aws.String(edgefn.CurrentKey), Value: aws.String(id), IfMatch: d.ETag})
	return err
}
