package sitesync

import (
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// manifestBody returns the manifest of prefix as JSON text, decompressing it.
func manifestBody(t *testing.T, client *s3.Client, bucket, prefix string) string {
	t.Helper()
	_, raw := getObject(t, client, bucket, manifestKey(prefix))
	r, err := maybeGunzip(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return string(b)
}

// The manifest is stored gzip-compressed, and a manifest written uncompressed by an
// earlier version is still read: the redeploy after it makes no HEAD.
func TestManifestCompressedAndOldOneRead(t *testing.T) {
	ctx := context.Background()
	client, rec, bucket := newBucket(t)
	dir := t.TempDir()
	files := site(20)
	writeTree(t, dir, files)
	if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	out, raw := getObject(t, client, bucket, manifestKey(""))
	if !strings.HasPrefix(raw, "\x1f\x8b") || aws.ToString(out.ContentEncoding) != "gzip" {
		t.Fatalf("manifest not gzip: Content-Encoding %q, starts %q", aws.ToString(out.ContentEncoding), raw[:min(len(raw), 8)])
	}
	plain := manifestBody(t, client, bucket, "")
	if !strings.HasPrefix(plain, `{"version":1,"entries":{`) || strings.Count(plain, `"md5"`) != len(files) {
		t.Fatalf("manifest: %.200s", plain)
	}

	// An uncompressed manifest, as written before, is trusted the same way.
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(manifestKey("")),
		Body: strings.NewReader(plain)}); err != nil {
		t.Fatal(err)
	}
	// The PUT changed nothing listed for the site keys: their entries still match.
	rec.reset()
	res, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	reqs := rec.reset()
	if n := count(reqs, "HEAD "); n != 0 || len(res.Uploaded) != 0 {
		t.Errorf("after an uncompressed manifest: %d HEADs, uploaded %v; want none", n, res.Uploaded)
	}

	// A truncated gzip manifest costs HEADs, never a wrong "unchanged".
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write([]byte(plain))
	zw.Close()
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(manifestKey("")),
		Body: bytes.NewReader(z.Bytes()[:z.Len()/2])}); err != nil {
		t.Fatal(err)
	}
	res, err = Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	if n := count(rec.reset(), "HEAD "); n != len(files) || len(res.Uploaded) != 0 {
		t.Errorf("truncated gzip manifest: %d HEADs (want %d), uploaded %v", n, len(files), res.Uploaded)
	}
}

// byteCounter counts the requests and the bytes sent and received (bodies as
// Content-Length says, the way S3 bills transfer) of one S3 client.
type byteCounter struct {
	mu             sync.Mutex
	requests       int
	sent, received int64
	manifestPut    int64
	manifestGet    int64
}

func (c *byteCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	c.sent += max(req.ContentLength, 0)
	if err == nil {
		c.received += max(resp.ContentLength, 0)
		if strings.HasSuffix(req.URL.Path, "/"+manifestKey("")) {
			switch req.Method {
			case http.MethodPut:
				c.manifestPut += req.ContentLength
			case http.MethodGet:
				c.manifestGet += resp.ContentLength
			}
		}
	}
	return resp, err
}

var manifestCostKeys = flag.Int("manifest-cost-keys", 400, "site size of TestManifestOneFileDeployCost")

// TestManifestOneFileDeployCost measures what a one-file deploy costs in S3 requests
// and bytes, with the manifest stored plain and compressed. The suite runs it on 400
// files; the figures for the 2,425-file Hugo documentation site of issue 13 come from
//
//	go test -count=1 -run TestManifestOneFileDeployCost -v ./internal/sitesync -args -manifest-cost-keys 2425
func TestManifestOneFileDeployCost(t *testing.T) {
	files := map[string]string{}
	for i := 0; len(files) < *manifestCostKeys; i++ {
		switch i % 3 {
		case 0:
			files[fmt.Sprintf("docs/section-%02d/page-%04d/index.html", i%40, i)] = fmt.Sprintf("<html>page %d</html>", i)
		case 1:
			files[fmt.Sprintf("docs/section-%02d/page-%04d/diagram_hu_%016x.png", i%40, i, i*7919)] = fmt.Sprintf("png %d", i)
		default:
			files[fmt.Sprintf("images/screenshots/shot-%04d.png", i)] = fmt.Sprintf("png %d", i)
		}
	}
	dir := t.TempDir()
	writeTree(t, dir, files)
	ctx := context.Background()
	type cost struct {
		requests                 int
		sent, received, put, get int64
	}
	measure := func(gz bool) cost {
		defer func(old bool) { manifestGzip = old }(manifestGzip)
		manifestGzip = gz
		client, _, bucket := newBucket(t)
		if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket}); err != nil {
			t.Fatal(err)
		}
		c := &byteCounter{}
		counted := s3.New(client.Options(), func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: c} })
		writeTree(t, dir, map[string]string{"docs/section-01/page-0001/diagram_hu_0000000000001eef.png": "png changed"})
		defer writeTree(t, dir, map[string]string{"docs/section-01/page-0001/diagram_hu_0000000000001eef.png": files["docs/section-01/page-0001/diagram_hu_0000000000001eef.png"]})
		res, err := Sync(ctx, counted, os.DirFS(dir), Options{Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Uploaded) != 1 {
			t.Fatalf("uploaded %v, want one file", res.Uploaded)
		}
		return cost{c.requests, c.sent, c.received, c.manifestPut, c.manifestGet}
	}
	plain, gz := measure(false), measure(true)
	t.Logf("one-file deploy of a %d-file site, S3 requests and bytes (bodies):", len(files))
	t.Logf("  manifest plain: %d requests, %d bytes sent (manifest PUT %d), %d received (manifest GET %d)", plain.requests, plain.sent, plain.put, plain.received, plain.get)
	t.Logf("  manifest gzip:  %d requests, %d bytes sent (manifest PUT %d), %d received (manifest GET %d)", gz.requests, gz.sent, gz.put, gz.received, gz.get)
	if gz.requests != plain.requests {
		t.Errorf("compression changed the request count: %d -> %d", plain.requests, gz.requests)
	}
	if gz.put*3 > plain.put || gz.get*3 > plain.get {
		t.Errorf("compressed manifest %d/%d bytes (PUT/GET), want under a third of %d/%d", gz.put, gz.get, plain.put, plain.get)
	}
}
