package sitesync

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

// motoURL is the moto_server shared by the package's tests (each test uses its own bucket).
var motoURL string

func TestMain(m *testing.M) {
	os.Exit(runWithMoto(m))
}

func runWithMoto(m *testing.M) int {
	moto, err := testkit.NewMoto()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer moto.Close()
	motoURL = moto.URL
	return m.Run()
}

// recorder is an http.RoundTripper that records every S3 request as "METHOD key[?sub]",
// so tests count writes and check their order on the wire.
type recorder struct {
	mu     sync.Mutex
	bucket string
	reqs   []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	key := strings.TrimPrefix(req.URL.Path, "/"+r.bucket)
	key = strings.TrimPrefix(key, "/")
	op := req.Method + " " + key
	if q := req.URL.Query(); q.Has("uploads") {
		op += "?uploads"
	} else if q.Has("delete") {
		op += "?delete"
		// Record the keys of the batch, in order, restoring the body for the transport.
		if req.Body != nil {
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return nil, err
			}
			req.Body = io.NopCloser(bytes.NewReader(body))
			for _, m := range regexp.MustCompile(`<Key>([^<]*)</Key>`).FindAllStringSubmatch(string(body), -1) {
				op += " " + html.UnescapeString(m[1])
			}
		}
	} else if q.Has("partNumber") {
		op += "?part"
	} else if q.Has("uploadId") {
		op += "?complete"
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, op)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func (r *recorder) reset() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	return out
}

// writes returns the write requests (PUT, POST, DELETE) among reqs, optionally only
// those on site keys (not under the reserved folder).
func writes(reqs []string, siteOnly bool) []string {
	var out []string
	for _, r := range reqs {
		if strings.HasPrefix(r, "GET ") || strings.HasPrefix(r, "HEAD ") {
			continue
		}
		if siteOnly && strings.Contains(r, ReservedDir) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func count(reqs []string, prefix string) int {
	n := 0
	for _, r := range reqs {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

var bucketSeq struct {
	sync.Mutex
	n int
}

// newBucket creates a fresh bucket and a client whose requests are recorded.
func newBucket(t *testing.T) (*s3.Client, *recorder, string) {
	t.Helper()
	bucketSeq.Lock()
	bucketSeq.n++
	name := fmt.Sprintf("site-%d-%d", time.Now().UnixNano()%1e6, bucketSeq.n)
	bucketSeq.Unlock()
	rec := &recorder{bucket: name}
	client := s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(motoURL),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:   &http.Client{Transport: rec},
	})
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	rec.reset()
	return client, rec, name
}

// writeTree creates files (path -> content) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// touchAll sets every file's modification time to now+1h, as a fresh build would.
func touchAll(t *testing.T, dir string) {
	t.Helper()
	later := time.Now().Add(time.Hour)
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		return os.Chtimes(p, later, later)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func getObject(t *testing.T, client *s3.Client, bucket, key string) (*s3.GetObjectOutput, string) {
	t.Helper()
	out, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return out, string(b)
}
