package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// PipelineFix is a reverse proxy in front of moto that makes moto's CodePipeline answers
// readable by the Go SDK: moto returns the pipeline metadata timestamps (`created`,
// `updated`) as ISO-8601 strings, while the service model (and the real service) uses
// epoch seconds, so aws-sdk-go-v2 fails to deserialize GetPipeline and ListPipelines.
// The proxy rewrites those strings into epoch numbers and passes every other request and
// response through untouched, so it can stand as AWS_ENDPOINT_URL for all services.
// This keeps the workaround in the test kit: the code that talks to AWS is not weakened.
type PipelineFix struct {
	URL string // http://127.0.0.1:PORT

	srv *httptest.Server

	mu        sync.Mutex
	rewritten int
	targets   map[string]int
	authKeys  map[string]map[string]int // service -> access key id -> requests
}

// pipelineTimeFields are the CodePipeline members the model declares as timestamps that
// moto renders as strings in GetPipeline/ListPipelines.
var pipelineTimeFields = map[string]bool{"created": true, "updated": true}

// StartPipelineFix starts the proxy in front of upstream (moto's URL) and stops it when
// the test ends.
func StartPipelineFix(t testing.TB, upstream string) *PipelineFix {
	t.Helper()
	p, err := NewPipelineFix(upstream)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// NewPipelineFix starts the proxy in front of upstream. The caller must call Close.
func NewPipelineFix(upstream string) (*PipelineFix, error) {
	u, err := url.Parse(upstream)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("pipeline fix: bad upstream URL %q", upstream)
	}
	p := &PipelineFix{targets: map[string]int{}, authKeys: map[string]map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = p.modify
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.record(r)
		rp.ServeHTTP(w, r)
	}))
	p.URL = p.srv.URL
	return p, nil
}

// Close stops the proxy.
func (p *PipelineFix) Close() { p.srv.Close() }

// Env returns the environment that sends every SDK service through the proxy.
func (p *PipelineFix) Env() []string { return BaseEnv(p.URL) }

// Rewritten reports how many responses had timestamps rewritten.
func (p *PipelineFix) Rewritten() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rewritten
}

// Requests reports how many requests carried the X-Amz-Target header target
// (for example "CodePipeline_20150709.UpdatePipeline").
func (p *PipelineFix) Requests(target string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.targets[target]
}

// AccessKeys returns, for the SigV4 signing service name (for example "cloudfront",
// "codepipeline", "sts"), how many requests each access key id signed. Tests use it to
// prove which identity made which calls; only key ids are kept, never secrets.
func (p *PipelineFix) AccessKeys(service string) map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for k, n := range p.authKeys[service] {
		out[k] = n
	}
	return out
}

func (p *PipelineFix) record(r *http.Request) {
	key, service := SigV4Credential(r.Header.Get("Authorization"))
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		p.targets[t]++
	}
	if service != "" {
		if p.authKeys[service] == nil {
			p.authKeys[service] = map[string]int{}
		}
		p.authKeys[service][key]++
	}
}

// SigV4Credential extracts the access key id and the service from a SigV4 Authorization
// header ("AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/cloudfront/aws4_request, ...").
// It returns empty strings when the header is not SigV4.
func SigV4Credential(authorization string) (accessKeyID, service string) {
	const marker = "Credential="
	i := strings.Index(authorization, marker)
	if i < 0 {
		return "", ""
	}
	cred := authorization[i+len(marker):]
	if j := strings.IndexAny(cred, ", "); j >= 0 {
		cred = cred[:j]
	}
	parts := strings.Split(cred, "/")
	if len(parts) != 5 {
		return "", ""
	}
	return parts[0], parts[3]
}

func (p *PipelineFix) modify(resp *http.Response) error {
	target := resp.Request.Header.Get("X-Amz-Target")
	if !strings.HasPrefix(target, "CodePipeline_") || resp.Header.Get("Content-Encoding") != "" {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("pipeline fix: read %s response: %w", target, err)
	}
	fixed, changed := rewritePipelineTimes(body)
	if changed {
		p.mu.Lock()
		p.rewritten++
		p.mu.Unlock()
		body = fixed
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// rewritePipelineTimes turns ISO-8601 `created`/`updated` strings anywhere in a JSON
// document into epoch seconds. Documents that are not JSON, or have nothing to rewrite,
// are returned unchanged with changed=false.
func rewritePipelineTimes(body []byte) ([]byte, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep every other number exactly as moto wrote it
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return body, false
	}
	if !fixTimes(doc) {
		return body, false
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return body, false
	}
	return out, true
}

func fixTimes(v any) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && pipelineTimeFields[k] {
				if ts, ok := parseISOTime(s); ok {
					x[k] = json.Number(strconv.FormatFloat(float64(ts.UnixMilli())/1000, 'f', -1, 64))
					changed = true
				}
				continue
			}
			if fixTimes(val) {
				changed = true
			}
		}
	case []any:
		for _, val := range x {
			if fixTimes(val) {
				changed = true
			}
		}
	}
	return changed
}

func parseISOTime(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02 15:04:05.999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}
