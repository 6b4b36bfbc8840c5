package testkit

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// S3Regions is a stand-in for S3's regional endpoints in front of moto (path-style
// requests): real S3 answers a request signed for another region than the bucket's with
// 301 PermanentRedirect and the bucket's region in x-amz-bucket-region; moto serves
// every bucket from any region. The proxy learns each bucket's region from moto's
// HeadBucket answer (x-amz-bucket-region) and redirects as S3 does. It differs from S3
// in that it never answers 400 AuthorizationHeaderMalformed (S3's other answer to a
// region mismatch) and does not check signatures.
type S3Regions struct {
	URL string

	srv   *httptest.Server
	moto  string
	mu    sync.Mutex
	known map[string]string // bucket -> region
	// Redirects counts the PermanentRedirect answers.
	redirects int
}

var credentialScope = regexp.MustCompile(`Credential=[^/]+/\d{8}/([^/]+)/s3/`)

// StartS3Regions starts the proxy in front of moto at motoURL; it is closed when the
// test ends.
func StartS3Regions(t testing.TB, motoURL string) *S3Regions {
	t.Helper()
	target, err := url.Parse(motoURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &S3Regions{moto: motoURL, known: map[string]string{}}
	rp := httputil.NewSingleHostReverseProxy(target)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bucket, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		m := credentialScope.FindStringSubmatch(r.Header.Get("Authorization"))
		if bucket != "" && m != nil && !(r.Method == http.MethodPut && !strings.Contains(strings.TrimPrefix(r.URL.Path, "/"), "/") && r.URL.RawQuery == "") {
			if region := p.region(bucket); region != "" && region != m[1] {
				p.mu.Lock()
				p.redirects++
				p.mu.Unlock()
				w.Header().Set("x-amz-bucket-region", region)
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusMovedPermanently)
				if r.Method != http.MethodHead {
					fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+`<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.</Message><Endpoint>s3.%s.amazonaws.com</Endpoint><Bucket>%s</Bucket><RequestId>testkit</RequestId></Error>`, region, bucket)
				}
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

// Redirects returns how many requests were answered with PermanentRedirect.
func (p *S3Regions) Redirects() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.redirects
}

// region asks moto (HeadBucket, unsigned: moto does not check) for a bucket's region.
func (p *S3Regions) region(bucket string) string {
	p.mu.Lock()
	r, ok := p.known[bucket]
	p.mu.Unlock()
	if ok {
		return r
	}
	resp, err := http.Head(p.moto + "/" + url.PathEscape(bucket))
	if err != nil {
		return ""
	}
	resp.Body.Close()
	r = resp.Header.Get("x-amz-bucket-region")
	if resp.StatusCode == http.StatusOK && r != "" {
		p.mu.Lock()
		p.known[bucket] = r
		p.mu.Unlock()
	}
	return r
}
