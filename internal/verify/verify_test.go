package verify

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/origin"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

// One moto for the package: starting it takes over a second.
var (
	sharedMoto testkit.SharedMoto
	bucketSeq  atomic.Int64
)

func startMoto(t *testing.T) *testkit.Moto { return sharedMoto.Get(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	sharedMoto.Close()
	os.Exit(code)
}

// site is a bucket behind a distribution (created through the realism proxy) and the
// edge emulator in front of it.
type site struct {
	t      *testing.T
	moto   *testkit.Moto
	cf     *testkit.CloudFront
	s3     *s3.Client
	cfc    *cloudfront.Client
	bucket string
	prefix string
	dist   string
	edge   *edge.Edge
}

type siteOptions struct {
	originPath string
	pretty     edge.PrettyURLs
	s3Endpoint string // the edge's origin; "" means moto
}

func newSite(t *testing.T, so siteOptions) *site {
	t.Helper()
	m := startMoto(t)
	cf := testkit.StartCloudFront(t, m.URL, testkit.CloudFrontOptions{})
	s := &site{t: t, moto: m, cf: cf, bucket: fmt.Sprintf("verify-site-%d", bucketSeq.Add(1))}
	s.s3 = awsconf.NewS3(m.Config(t))
	cfg, err := testkit.SDKConfig(context.Background(), cf.URL)
	if err != nil {
		t.Fatal(err)
	}
	s.cfc = cloudfront.NewFromConfig(cfg)
	if _, err := s.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		t.Fatal(err)
	}
	s.prefix = strings.TrimPrefix(so.originPath, "/")
	if s.prefix != "" {
		s.prefix += "/"
	}
	s.dist = testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins:               []testkit.DistributionOrigin{{ID: "site", DomainName: s.bucket + ".s3.us-east-1.amazonaws.com", OriginPath: so.originPath}},
		DefaultRootObject:     "index.html",
		ViewerRequestFunction: so.pretty == edge.PrettyRewrite,
	})
	ep := so.s3Endpoint
	if ep == "" {
		ep = m.URL
	}
	s.edge = edge.Start(t, edge.Options{S3Endpoint: ep, Bucket: s.bucket, OriginPath: so.originPath, DistributionID: s.dist,
		Invalidations: cf.EdgeInvalidations, Pretty: so.pretty})
	return s
}

func (s *site) put(rel, body string) {
	s.t.Helper()
	_, err := s.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + rel),
		Body: strings.NewReader(body), ContentType: aws.String("text/html")})
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *site) del(rel string) {
	s.t.Helper()
	if _, err := s.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(s.prefix + rel)}); err != nil {
		s.t.Fatal(err)
	}
}

func (s *site) invalidate(paths ...string) {
	s.t.Helper()
	_, err := s.cfc.CreateInvalidation(context.Background(), &cloudfront.CreateInvalidationInput{DistributionId: aws.String(s.dist),
		InvalidationBatch: &cftypes.InvalidationBatch{CallerReference: aws.String(fmt.Sprint(time.Now().UnixNano())),
			Paths: &cftypes.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths}}})
	if err != nil {
		s.t.Fatal(err)
	}
}

func (s *site) check(o Options) (*Report, error) {
	s.t.Helper()
	o.DistributionID, o.Bucket = s.dist, s.bucket
	if o.Prefix == "" {
		o.Prefix = s.prefix
	}
	if o.BaseURL == "" {
		o.BaseURL = s.edge.URL
	}
	return Check(context.Background(), origin.NewReader(s.cfc), s.s3, o)
}

func (s *site) mustCheck(o Options) *Report {
	s.t.Helper()
	rep, err := s.check(o)
	if err != nil {
		s.t.Fatal(err)
	}
	return rep
}

func TestFreshSite(t *testing.T) {
	s := newSite(t, siteOptions{pretty: edge.PrettyRewrite})
	s.put("index.html", "home")
	s.put("a.html", "a")
	s.put("docs/index.html", "docs")
	s.put("a b.html", "space")
	rep := s.mustCheck(Options{All: true})
	// Every object, "/" (default root object) and "/docs/" (the viewer function).
	if !rep.OK() || rep.Checked != 6 || rep.Fresh != 6 {
		t.Fatalf("report %+v", rep)
	}
	seen := map[string]bool{}
	for _, r := range s.edge.Records() {
		seen[r.URI] = true
	}
	for _, u := range []string{"/", "/docs/", "/docs/index.html", "/a%20b.html"} {
		if !seen[u] {
			t.Errorf("%s not asked at the edge: %v", u, seen)
		}
	}
}

func TestChangedWithoutInvalidationIsStale(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.put("a.html", "v1")
	s.put("b.html", "v1")
	if rep := s.mustCheck(Options{Paths: []string{"/a.html", "/b.html"}}); !rep.OK() {
		t.Fatalf("before the change: %+v", rep)
	}
	s.put("a.html", "v2") // the edge keeps v1 for a day (CachingOptimized)
	rep := s.mustCheck(Options{Paths: []string{"/a.html", "/b.html"}})
	if rep.OK() || len(rep.Stale) != 1 || rep.Fresh != 1 {
		t.Fatalf("report %+v", rep)
	}
	st := rep.Stale[0]
	v1, v2 := md5hex("v1"), md5hex("v2")
	if st.Path != "/a.html" || st.EdgeETag != v1 || st.OriginETag != v2 || st.XCache != "Hit from cloudfront" || st.Age == nil || st.Pop == "" {
		t.Errorf("stale entry %+v (want edge %s, origin %s)", st, v1, v2)
	}
	if msg := st.String(); !strings.Contains(msg, "/a.html") || !strings.Contains(msg, v1) || !strings.Contains(msg, "Hit from cloudfront") {
		t.Errorf("message %q", msg)
	}
	s.invalidate("/a.html")
	if rep := s.mustCheck(Options{Paths: []string{"/a.html"}}); !rep.OK() {
		t.Fatalf("after the invalidation: %+v", rep)
	}
}

func TestDeletedObjectStillServedIsStale(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.put("old.html", "old")
	if rep := s.mustCheck(Options{Paths: []string{"/old.html"}}); !rep.OK() {
		t.Fatalf("%+v", rep)
	}
	s.del("old.html")
	rep := s.mustCheck(Options{Paths: []string{"/old.html"}})
	if len(rep.Stale) != 1 || !strings.Contains(rep.Stale[0].Reason, "deleted") {
		t.Fatalf("report %+v", rep)
	}
	s.invalidate("/old.html")
	if rep := s.mustCheck(Options{Paths: []string{"/old.html"}}); !rep.OK() || rep.Fresh != 1 {
		t.Fatalf("after the invalidation the edge must answer 403/404: %+v", rep)
	}
}

func TestOriginPath(t *testing.T) {
	s := newSite(t, siteOptions{originPath: "/site"})
	s.put("a.html", "a") // key site/a.html, URL /a.html
	if rep := s.mustCheck(Options{Prefix: "site/", Paths: []string{"/a.html"}}); !rep.OK() || rep.Fresh != 1 {
		t.Fatalf("%+v", rep)
	}
	asked := len(s.edge.Records())
	_, err := s.check(Options{Prefix: "www/", Paths: []string{"/a.html"}})
	var ope *origin.OriginPathError
	if !errors.As(err, &ope) || !strings.Contains(err.Error(), "/site") {
		t.Fatalf("wrong prefix: %v", err)
	}
	o := Options{Paths: []string{"/a.html"}, DistributionID: s.dist, Bucket: "another-bucket"}
	_, err = Check(context.Background(), origin.NewReader(s.cfc), s.s3, o)
	var nao *origin.NotAnOriginError
	if !errors.As(err, &nao) || !strings.Contains(err.Error(), s.bucket+".s3.us-east-1.amazonaws.com") {
		t.Fatalf("not an origin: %v", err)
	}
	if n := len(s.edge.Records()); n != asked {
		t.Errorf("the edge was asked %d times before the origin was found wrong", n-asked)
	}
}

func TestOriginAnswering403(t *testing.T) {
	denied := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	}))
	t.Cleanup(denied.Close)
	s := newSite(t, siteOptions{s3Endpoint: denied.URL})
	s.put("a.html", "a")
	rep := s.mustCheck(Options{Paths: []string{"/a.html"}})
	if rep.OK() || len(rep.Errors) != 1 {
		t.Fatalf("%+v", rep)
	}
	f := rep.Errors[0]
	if f.Path != "/a.html" || f.Status != 403 || f.XCache != "Error from cloudfront" || !strings.Contains(f.String(), "403") {
		t.Errorf("failure %+v", f)
	}
}

func TestIndexDocuments(t *testing.T) {
	for _, tc := range []struct {
		pretty edge.PrettyURLs
		want   []string
	}{
		{edge.PrettyNone, []string{"/index.html", "/", "/docs/index.html"}},
		{edge.PrettyRewrite, []string{"/index.html", "/", "/docs/index.html", "/docs/"}},
	} {
		t.Run(tc.pretty.String(), func(t *testing.T) {
			s := newSite(t, siteOptions{pretty: tc.pretty})
			s.put("index.html", "home")
			s.put("docs/index.html", "docs")
			rep := s.mustCheck(Options{Paths: []string{"/index.html", "/docs/index.html"}})
			if !rep.OK() || rep.Checked != len(tc.want) {
				t.Fatalf("report %+v, want %v checked", rep, tc.want)
			}
			asked := map[string]bool{}
			for _, r := range s.edge.Records() {
				asked[r.URI] = true
			}
			for _, u := range tc.want {
				if !asked[u] {
					t.Errorf("%s not checked (asked %v)", u, asked)
				}
			}
			// A directory URL asked for explicitly is checked against its index document
			// where the distribution serves it, and skipped (not failed) where it does not.
			rep = s.mustCheck(Options{Paths: []string{"/docs/", "/"}})
			served := tc.pretty == edge.PrettyRewrite
			if !rep.OK() || rep.Checked != map[bool]int{true: 2, false: 1}[served] || (len(rep.Skipped) == 1) == served {
				t.Fatalf("directory URLs: %+v", rep)
			}
		})
	}
}

// TestMultipartObject: the edge passes S3's multipart ETag ("<md5 of md5s>-<parts>")
// through, and the listing has the same: compared as they are, never as an MD5.
func TestMultipartObject(t *testing.T) {
	s := newSite(t, siteOptions{})
	ctx := context.Background()
	key := "video.bin"
	up, err := s.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	var parts []s3types.CompletedPart
	for i, body := range [][]byte{bytes.Repeat([]byte("a"), 5<<20), []byte("tail")} {
		n := int32(i + 1)
		out, err := s.s3.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(body)})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, s3types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	if _, err := s.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(s.bucket), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &s3types.CompletedMultipartUpload{Parts: parts}}); err != nil {
		t.Fatal(err)
	}
	rep := s.mustCheck(Options{Paths: []string{"/" + key}})
	if !rep.OK() || rep.Fresh != 1 {
		t.Fatalf("%+v", rep)
	}
	if e := s.edge.Records()[len(s.edge.Records())-1].ETag; !strings.HasSuffix(strings.Trim(e, `"`), "-2") {
		t.Errorf("the edge served ETag %s, not a 2-part ETag", e)
	}
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	_ = w.Close()
	return b.Bytes()
}

// fakeEdge is a distribution front that compresses on the fly and drops the ETag, as
// CloudFront does for compressible content.
func fakeEdge(t *testing.T, bodies map[string]string, drops *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if drops != nil && drops.Add(-1) >= 0 {
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
			return
		}
		b, ok := bodies[r.URL.Path]
		if !ok {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		w.Header().Set("X-Cache", "Hit from cloudfront")
		w.Header().Set("Age", "7")
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.Header().Set("Content-Encoding", "gzip")
			_, _ = w.Write(gz(b))
			return
		}
		fmt.Fprint(w, b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestNoETagComparesTheDecompressedBody(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.put("a.html", "same")
	s.put("b.html", "new")
	// A multipart-like object: only edgeflush's MD5 metadata says what it holds.
	_, err := s.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String("c.html"),
		Body: bytes.NewReader(gz("source")), ContentEncoding: aws.String("gzip"), Metadata: map[string]string{"edgeflush-md5": md5hex("source")}})
	if err != nil {
		t.Fatal(err)
	}
	fe := fakeEdge(t, map[string]string{"/a.html": "same", "/b.html": "old", "/c.html": "source"}, nil)
	rep := s.mustCheck(Options{BaseURL: fe.URL, Paths: []string{"/a.html", "/b.html", "/c.html"}})
	if rep.Fresh != 2 || len(rep.Stale) != 1 || rep.Stale[0].Path != "/b.html" || rep.Stale[0].EdgeETag != "" || rep.Stale[0].XCache != "Hit from cloudfront" || *rep.Stale[0].Age != 7 {
		t.Fatalf("report %+v", rep)
	}
}

func TestRetriesConnectionErrorsOnly(t *testing.T) {
	s := newSite(t, siteOptions{})
	s.put("a.html", "same")
	var drops atomic.Int32
	drops.Store(2)
	fe := fakeEdge(t, map[string]string{"/a.html": "same"}, &drops)
	rep := s.mustCheck(Options{BaseURL: fe.URL, Paths: []string{"/a.html"}})
	if !rep.OK() || rep.Fresh != 1 {
		t.Fatalf("two dropped connections then an answer: %+v", rep)
	}
	drops.Store(10)
	rep = s.mustCheck(Options{BaseURL: fe.URL, Paths: []string{"/a.html"}, Retries: 1})
	if len(rep.Errors) != 1 || drops.Load() != 8 {
		t.Fatalf("one retry then a failure: %+v, %d drops left", rep, drops.Load())
	}

	// A slow answer is a failure, not asked again.
	var calls atomic.Int32
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	rep = s.mustCheck(Options{BaseURL: slow.URL, Paths: []string{"/a.html"}, Timeout: 200 * time.Millisecond})
	if len(rep.Errors) != 1 || calls.Load() != 1 {
		t.Fatalf("timeout: %+v after %d calls", rep, calls.Load())
	}
}

func TestBehaviorRoutedElsewhereIsSkipped(t *testing.T) {
	s := newSite(t, siteOptions{})
	id := testkit.CreateDistributionWith(t, s.cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{
			{ID: "site", DomainName: s.bucket + ".s3.amazonaws.com"},
			{ID: "api", DomainName: "api.example.com", Custom: true},
		},
		Behaviors: []testkit.DistributionBehavior{{PathPattern: "/api/*", OriginID: "api"}},
	})
	s.put("a.html", "a")
	s.put("api/x.json", "{}")
	e := edge.Start(t, edge.Options{S3Endpoint: s.moto.URL, Bucket: s.bucket, DistributionID: id, Invalidations: s.cf.EdgeInvalidations})
	rep, err := Check(context.Background(), origin.NewReader(s.cfc), s.s3, Options{DistributionID: id, Bucket: s.bucket, BaseURL: e.URL, All: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Checked != 1 || len(rep.Skipped) != 1 || rep.Skipped[0].Path != "/api/x.json" {
		t.Fatalf("report %+v", rep)
	}
}
