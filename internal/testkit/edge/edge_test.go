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
