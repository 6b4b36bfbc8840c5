// Package edge emulates one CloudFront distribution's edge locations in front of an S3
// origin (moto), so that tests, the demo and the benchmarks can judge what a visitor gets
// during and after a deploy: copies cached under the TTLs CloudFront derives from
// Cache-Control and Expires, several locations that each drop invalidated objects at their
// own moment before the invalidation is Completed, cached error responses, the default
// root object and the two usual pretty-URL set-ups.
//
// The rules it follows, and where it differs from CloudFront, are in docs/testing.md
// ("The edge emulator"). It imports only the standard library and the AWS SDK, so that internal/testkit
// can adapt its CloudFront realism proxy to it (testkit.(*CloudFront).EdgeInvalidations)
// without an import cycle.
package edge

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// PrettyURLs selects how a directory URL (/dir/) is served.
type PrettyURLs int

const (
	// PrettyNone: the default root object serves "/" only; /dir/ reads the key "dir/".
	PrettyNone PrettyURLs = iota
	// PrettyRewrite: a viewer-request function rewrites /dir/ (and /dir, a URI without a
	// '.') to /dir/index.html; the cache key is the rewritten URI.
	PrettyRewrite
	// PrettyWebsite: an S3-website-style origin serves /dir/ from dir/index.html and
	// redirects /dir to /dir/ (302) when dir/index.html exists; the cache key stays /dir/.
	PrettyWebsite
)

func (p PrettyURLs) String() string {
	switch p {
	case PrettyNone:
		return "none"
	case PrettyRewrite:
		return "viewer-request rewrite"
	case PrettyWebsite:
		return "S3 website origin"
	}
	return "PrettyURLs(" + strconv.Itoa(int(p)) + ")"
}

// Invalidation is what the emulator needs to know of one invalidation.
type Invalidation struct {
	ID         string
	Paths      []string  // as sent to CloudFront (encoded)
	Created    time.Time // when CreateInvalidation answered
	CompleteAt time.Time // every location has dropped matching entries by then, never later
}

// Options configure an emulated distribution.
type Options struct {
	// S3Endpoint is moto's URL; the origin fetch is GET {S3Endpoint}/{Bucket}/{key}
	// (path style), key = origin path (without its leading slash) + the URI's path.
	S3Endpoint string
	Bucket     string
	// OriginPath maps the distribution onto a prefix: with "/site" the URI /a.html reads
	// the key site/a.html.
	OriginPath     string
	DistributionID string
	// Invalidations lists the distribution's invalidations; it is called on every
	// lookup, so invalidations created meanwhile take effect. Nil: none.
	// testkit.(*CloudFront).EdgeInvalidations adapts the CloudFront realism proxy.
	Invalidations func(distributionID string) []Invalidation
	// Locations is the number of edge locations, default 4.
	Locations int
	// MinTTL, DefaultTTL, MaxTTL are the cache policy's; all zero means the managed
	// policy CachingOptimized (1 s, 86,400 s, 31,536,000 s).
	MinTTL, DefaultTTL, MaxTTL time.Duration
	// ErrorTTL is the error caching minimum TTL, default 10 s.
	ErrorTTL time.Duration
	// DefaultRootObject is served for "/", default "index.html"; "-" for none.
	DefaultRootObject string
	Pretty            PrettyURLs
	// Now is the emulator's clock, default time.Now. TTL, Age and invalidation
	// timing all read it, so a test can move time without sleeping.
	Now func() time.Time
}

// Record is one request the edge answered.
type Record struct {
	Time     time.Time
	Location int
	Visitor  string // X-Visitor header, if any
	Method   string
	URI      string // as requested, query string included
	CacheKey string // the canonical path the entry is cached under
	Hit      bool   // answered from the cache (Hit, RefreshHit, cached error)
	Status   int
	ETag     string // the answer's ETag header as sent (S3 quotes it)
	Age      int    // seconds since the entry was fetched or revalidated
	XCache   string // the X-Cache header
}

// Edge is a running emulated distribution.
type Edge struct {
	URL string // http://127.0.0.1:PORT, the distribution's "domain"

	o      Options
	pol    Policy
	s3     *url.URL
	srv    *httptest.Server
	client *http.Client
	signer *v4.Signer
	locs   []*location

	mu      sync.Mutex
	records []Record
}

type location struct {
	mu      sync.Mutex
	entries map[string]*entry
}

// entry is one cached response; it is never changed once stored (a refresh stores a
// new entry), so a reader may use it after releasing the location's lock.
type entry struct {
	status  int
	header  http.Header
	body    []byte
	stored  time.Time // when the origin fetch (or revalidation) that produced it started
	expires time.Time // fresh before this moment
	cached  bool      // the TTL rules let the edge keep it (a zero TTL: kept, but stale at once)
}

func (en *entry) isError() bool { return en.status >= 400 }

// Start starts an emulated distribution and closes it when the test ends.
func Start(t testing.TB, o Options) *Edge {
	t.Helper()
	e, err := New(o)
	if err != nil {
		t.Fatalf("edge: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}

// New starts an emulated distribution on a free 127.0.0.1 port. The caller must Close it.
func New(o Options) (*Edge, error) {
	s3, err := url.Parse(o.S3Endpoint)
	if err != nil || (s3.Scheme != "http" && s3.Scheme != "https") || s3.Host == "" {
		return nil, fmt.Errorf("S3Endpoint %q is not an http(s) URL such as moto's http://127.0.0.1:PORT", o.S3Endpoint)
	}
	if o.Bucket == "" {
		return nil, errors.New("Bucket is empty: name the origin bucket")
	}
	if o.Locations < 0 {
		return nil, fmt.Errorf("Locations is %d: give at least 1 (0 means the default, 4)", o.Locations)
	}
	if o.Locations == 0 {
		o.Locations = 4
	}
	pol := Policy{Min: o.MinTTL, Default: o.DefaultTTL, Max: o.MaxTTL, Error: o.ErrorTTL}
	if o.MinTTL == 0 && o.DefaultTTL == 0 && o.MaxTTL == 0 {
		pol.Min, pol.Default, pol.Max = CachingOptimized.Min, CachingOptimized.Default, CachingOptimized.Max
	}
	if pol.Error == 0 {
		pol.Error = CachingOptimized.Error
	}
	if pol.Min < 0 || pol.Min > pol.Default || pol.Default > pol.Max || pol.Error < 0 {
		return nil, fmt.Errorf("cache policy TTLs min %s, default %s, max %s: CloudFront needs 0 <= min <= default <= max", pol.Min, pol.Default, pol.Max)
	}
	switch {
	case o.DefaultRootObject == "":
		o.DefaultRootObject = "index.html"
	case o.DefaultRootObject == "-":
		o.DefaultRootObject = ""
	case strings.HasPrefix(o.DefaultRootObject, "/"):
		return nil, fmt.Errorf("DefaultRootObject %q: name the object without a leading '/', as CloudFront requires (index.html)", o.DefaultRootObject)
	}
	if o.Pretty < PrettyNone || o.Pretty > PrettyWebsite {
		return nil, fmt.Errorf("Pretty is %d: use PrettyNone, PrettyRewrite or PrettyWebsite", int(o.Pretty))
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	e := &Edge{
		o:      o,
		pol:    pol,
		s3:     s3,
		signer: v4.NewSigner(),
		client: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
	}
	for range o.Locations {
		e.locs = append(e.locs, &location{entries: map[string]*entry{}})
	}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	e.URL = e.srv.URL
	return e, nil
}

// Close stops the server.
func (e *Edge) Close() { e.srv.Close() }

// Locations returns the number of edge locations.
func (e *Edge) Locations() int { return len(e.locs) }

// Policy returns the TTLs in force (defaults applied).
func (e *Edge) Policy() Policy { return e.pol }

// LocationName is the X-Amz-Cf-Pop value of location i.
func LocationName(i int) string { return "EMU" + strconv.Itoa(i) }

// Records returns a copy of every request answered so far, in order.
func (e *Edge) Records() []Record {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Record(nil), e.records...)
}

func (e *Edge) record(r Record) {
	e.mu.Lock()
	e.records = append(e.records, r)
	e.mu.Unlock()
}

func stableHash(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// location picks the edge location of a request: X-Edge-Location wins, then a hash of
// X-Visitor, then a hash of the client's IP (one client keeps one location, as a real
// client keeps its nearest POP).
func (e *Edge) location(r *http.Request) (int, error) {
	n := len(e.locs)
	if v := r.Header.Get("X-Edge-Location"); v != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= n {
			return 0, fmt.Errorf("X-Edge-Location %q: give a location number from 0 to %d", v, n-1)
		}
		return i, nil
	}
	if v := r.Header.Get("X-Visitor"); v != "" {
		return int(stableHash(v) % uint32(n)), nil
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return int(stableHash(host) % uint32(n)), nil
}

// DropAt is the moment location loc of n drops the entries matching inv: the locations
// take turns in an order drawn from a hash of the invalidation id and the location, the
// first at Created + 1/n of the way to CompleteAt, the last exactly at CompleteAt. So the
// moments are deterministic, spread over the whole InProgress time, differ per
// invalidation, and none is later than CompleteAt.
func DropAt(inv Invalidation, loc, n int) time.Time {
	span := inv.CompleteAt.Sub(inv.Created)
	if span <= 0 || n <= 1 {
		return inv.CompleteAt
	}
	h := func(i int) uint32 { return stableHash(inv.ID + "/" + strconv.Itoa(i)) }
	mine, rank := h(loc), 0
	for j := 0; j < n; j++ {
		if hj := h(j); hj < mine || (hj == mine && j < loc) {
			rank++
		}
	}
	return inv.Created.Add(span * time.Duration(rank+1) / time.Duration(n))
}

// dropped reports whether an entry cached under key at location loc since stored has
// been removed by an invalidation by now.
func (e *Edge) dropped(invs []Invalidation, loc int, key string, stored, now time.Time) bool {
	for _, inv := range invs {
		at := DropAt(inv, loc, len(e.locs))
		if now.Before(at) || !stored.Before(at) {
			continue
		}
		for _, p := range inv.Paths {
			if matches(p, key) {
				return true
			}
		}
	}
	return false
}

// target is where a request goes: the cache key and the URI the origin is asked for.
type target struct {
	key       string // canonical path, the cache key
	originURI string // canonical path whose decoded form (minus '/') is the S3 key
}

func (e *Edge) target(path string) target {
	key := CanonicalPath(path)
	switch {
	case e.o.Pretty == PrettyRewrite:
		key = rewritePretty(key)
		return target{key: key, originURI: key}
	case key == "/" && e.o.DefaultRootObject != "":
		return target{key: key, originURI: "/" + CanonicalPath(e.o.DefaultRootObject)}
	case e.o.Pretty == PrettyWebsite && strings.HasSuffix(key, "/"):
		return target{key: key, originURI: key + "index.html"}
	}
	return target{key: key, originURI: key}
}

func (e *Edge) serve(w http.ResponseWriter, r *http.Request) {
	now := e.o.Now()
	rec := Record{Time: now, Visitor: r.Header.Get("X-Visitor"), Method: r.Method, URI: r.RequestURI}
	loc, err := e.location(r)
	if err != nil {
		rec.Status = http.StatusBadRequest
		e.record(rec)
		http.Error(w, "edge emulator: "+err.Error(), http.StatusBadRequest)
		return
	}
	rec.Location = loc
	path, _, _ := strings.Cut(r.RequestURI, "?") // CachingOptimized: no query string in the key
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		// The default cache behaviour allows GET and HEAD only; CloudFront answers 403.
		rec.Status, rec.XCache = http.StatusForbidden, "Error from cloudfront"
		e.record(rec)
		e.decorate(w.Header(), loc, rec.XCache)
		http.Error(w, "This distribution is not configured to allow the HTTP request method that was used for this request.", http.StatusForbidden)
		return
	}
	if !strings.HasPrefix(path, "/") {
		rec.Status = http.StatusBadRequest
		e.record(rec)
		http.Error(w, "edge emulator: the request target must be a path starting with '/'", http.StatusBadRequest)
		return
	}
	tg := e.target(path)
	rec.CacheKey = tg.key

	var invs []Invalidation
	if e.o.Invalidations != nil {
		invs = e.o.Invalidations(e.o.DistributionID)
	}
	l := e.locs[loc]
	l.mu.Lock()
	ent := l.entries[tg.key]
	if ent != nil && e.dropped(invs, loc, tg.key, ent.stored, now) {
		delete(l.entries, tg.key)
		ent = nil
	}
	l.mu.Unlock()

	var xcache string
	keep := false // store ent (a new or revalidated copy)
	switch {
	case ent != nil && now.Before(ent.expires):
		xcache = "Hit from cloudfront"
		rec.Hit = true
	case ent != nil && !ent.isError() && ent.header.Get("ETag") != "":
		// Expired: ask the origin whether the copy is still current (If-None-Match).
		fresh, err := e.fetch(r, tg.originURI, ent.header.Get("ETag"), now)
		switch {
		case err == nil && fresh.status == http.StatusNotModified:
			ent = e.refresh(ent, fresh.header, now)
			xcache, rec.Hit, keep = "RefreshHit from cloudfront", true, true
		case err != nil || fresh.status >= 500:
			// The origin is failing: CloudFront serves the expired copy it has.
			xcache, rec.Hit = "Hit from cloudfront", true
		default:
			ent, keep = fresh, true
			xcache = "Miss from cloudfront"
		}
	default:
		fresh, err := e.fetch(r, tg.originURI, "", now)
		if err != nil {
			rec.Status, rec.XCache = http.StatusBadGateway, "Error from cloudfront"
			e.record(rec)
			e.decorate(w.Header(), loc, rec.XCache)
			http.Error(w, "502 ERROR: CloudFront wasn't able to connect to the origin ("+err.Error()+")", http.StatusBadGateway)
			return
		}
		ent, keep = fresh, true
		xcache = "Miss from cloudfront"
	}
	if ent.isError() {
		xcache = "Error from cloudfront"
	}
	if keep {
		// A new answer replaces the old copy; one the TTL rules do not let the edge
		// keep (now no-store, a 302 …) removes it.
		l.mu.Lock()
		if ent.cached {
			l.entries[tg.key] = ent
		} else {
			delete(l.entries, tg.key)
		}
		l.mu.Unlock()
	}

	h := w.Header()
	for k, vs := range ent.header {
		h[k] = append([]string(nil), vs...)
	}
	e.decorate(h, loc, xcache)
	if rec.Hit {
		rec.Age = int(now.Sub(ent.stored) / time.Second)
		h.Set("Age", strconv.Itoa(rec.Age))
	}
	rec.ETag, rec.XCache = ent.header.Get("ETag"), xcache
	status := ent.status
	if status == http.StatusOK && etagMatches(r.Header.Get("If-None-Match"), rec.ETag) {
		status = http.StatusNotModified
	}
	rec.Status = status
	e.record(rec)
	if status == http.StatusNotModified {
		h.Del("Content-Length")
		w.WriteHeader(status)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(ent.body)))
	w.WriteHeader(status)
	if r.Method == http.MethodGet {
		_, _ = w.Write(ent.body)
	}
}

func etagMatches(ifNoneMatch, etag string) bool {
	if ifNoneMatch == "" || etag == "" {
		return false
	}
	for _, v := range strings.Split(ifNoneMatch, ",") {
		v = strings.TrimPrefix(strings.TrimSpace(v), "W/")
		if v == "*" || v == etag {
			return true
		}
	}
	return false
}

func (e *Edge) decorate(h http.Header, loc int, xcache string) {
	h.Set("X-Cache", xcache)
	h.Set("X-Amz-Cf-Pop", LocationName(loc))
	h.Set("Via", "1.1 emu"+strconv.Itoa(loc)+".cloudfront.net (CloudFront)")
	var id [24]byte
	_, _ = rand.Read(id[:])
	h.Set("X-Amz-Cf-Id", base64.URLEncoding.EncodeToString(id[:]))
}

// refresh stores the outcome of a 304: the stored headers updated with those of the
// 304 (RFC 9111 4.3.4), a new TTL from them, and a new fetch time.
func (e *Edge) refresh(old *entry, h http.Header, now time.Time) *entry {
	nh := old.header.Clone()
	for _, k := range []string{"Cache-Control", "Expires", "ETag", "Last-Modified"} {
		if vs := h.Values(k); len(vs) > 0 {
			nh[http.CanonicalHeaderKey(k)] = vs
		}
	}
	ttl, store := e.pol.ObjectTTL(nh, now) // the 304 may say no-store now
	return &entry{status: old.status, header: nh, body: old.body, stored: now, expires: now.Add(ttl), cached: store}
}

// emptySHA256 is the SHA-256 of an empty body, the payload hash of a GET.
const emptySHA256 = "e3b0c44298fc1c149afbfc8996fb92427ae41e4649b934ca495991b7852b855"

// originCredentials are the edge's dummy origin-access credentials (moto does not verify
// signatures).
var originCredentials = aws.Credentials{AccessKeyID: "AKIDEDGEEMULATOR", SecretAccessKey: "edge-emulator-dummy-secret"}

// originHeaders are the origin response headers the edge keeps and sends on.
var originHeaders = []string{"Content-Type", "Content-Encoding", "Content-Language", "Content-Disposition",
	"Cache-Control", "Expires", "ETag", "Last-Modified", "Location", "X-Amz-Version-Id"}

// fetch asks the origin for originURI (conditionally when etag is set) and returns the
// answer as an entry whose expiry follows the TTL rules; an entry that must not be
// cached has a zero expires. A 304 comes back with status 304 and the 304's headers.
func (e *Edge) fetch(r *http.Request, originURI, etag string, now time.Time) (*entry, error) {
	key, ok := originKey(e.o.OriginPath, originURI)
	if !ok {
		return e.errorEntry(http.StatusBadRequest, now), nil
	}
	if originURI == "/" {
		// A request for the bucket's root is a ListObjects call: an origin access
		// control without s3:ListBucket answers 403 AccessDenied.
		return e.accessDenied(now), nil
	}
	ent, err := e.get(r, key, etag, now)
	if err != nil {
		return nil, err
	}
	if e.o.Pretty == PrettyWebsite && ent.status == http.StatusNotFound && !strings.HasSuffix(key, "/") {
		// An S3 website endpoint redirects /dir to /dir/ when dir/index.html exists.
		idx, err := e.get(r, key+"/index.html", "", now)
		if err == nil && idx.status == http.StatusOK {
			uri, _, _ := strings.Cut(r.RequestURI, "?")
			h := http.Header{}
			h.Set("Location", uri+"/")
			h.Set("Content-Type", "text/html; charset=utf-8")
			return &entry{status: http.StatusFound, header: h, stored: now}, nil
		}
	}
	return ent, nil
}

func (e *Edge) get(r *http.Request, key, etag string, now time.Time) (*entry, error) {
	u := *e.s3
	u.Path = strings.TrimSuffix(u.Path, "/") + "/" + e.o.Bucket + "/" + key
	u.RawPath, u.RawQuery = "", ""
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("build origin request for %q: %w", key, err)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	// Like an origin access control, sign the request (SigV4, service s3): moto needs a
	// signed request to tell S3 from its other services; it does not check the key.
	req.Header.Set("X-Amz-Content-Sha256", emptySHA256)
	if err := e.signer.SignHTTP(r.Context(), originCredentials, req, emptySHA256, "s3", "us-east-1", e.o.Now()); err != nil {
		return nil, fmt.Errorf("sign origin request for %q: %w", key, err)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("origin GET %s: %w", key, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read origin answer for %s: %w", key, err)
	}
	h := http.Header{}
	for _, k := range originHeaders {
		if vs := resp.Header.Values(k); len(vs) > 0 {
			h[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
		}
	}
	for k, vs := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-meta-") {
			h[k] = append([]string(nil), vs...)
		}
	}
	ent := &entry{status: resp.StatusCode, header: h, body: body, stored: now}
	var ttl time.Duration
	store := false
	switch {
	case resp.StatusCode == http.StatusNotModified:
	case cacheableStatus(resp.StatusCode):
		ttl, store = e.pol.ObjectTTL(h, now)
	case resp.StatusCode >= 400:
		ttl, store = e.pol.ErrorTTL(resp.StatusCode, h, now)
	}
	// A zero TTL still keeps the copy, stale at once: the next request revalidates it
	// with the origin instead of fetching it again.
	ent.expires, ent.cached = now.Add(ttl), store
	return ent, nil
}

func (e *Edge) errorEntry(status int, now time.Time) *entry {
	h := http.Header{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	ent := &entry{status: status, header: h, body: []byte(http.StatusText(status) + "\n"), stored: now}
	ttl, ok := e.pol.ErrorTTL(status, h, now)
	ent.expires, ent.cached = now.Add(ttl), ok
	return ent
}

func (e *Edge) accessDenied(now time.Time) *entry {
	ent := e.errorEntry(http.StatusForbidden, now)
	ent.header.Set("Content-Type", "application/xml")
	ent.body = []byte(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
	return ent
}
