// Package verify asks a CloudFront distribution what it serves and compares it with the
// bucket: for each URL, a GET through the distribution against the object S3 holds now.
// An answer is fresh when its ETag is the object's (the edge passes S3's ETag through,
// multipart ETags included), or, without an ETag (CloudFront drops it when it compresses
// on the fly), when the body's MD5 is the object's content MD5 (the single-part ETag, or
// edgeflush's x-amz-meta-edgeflush-md5 for multipart and precompressed objects),
// decompressing a compressed answer. A URL whose object was deleted is fresh when the edge
// answers 403 or 404.
//
// Before anything is fetched, Check reads the distribution's configuration and fails
// when the bucket is not its origin or the origin path is not the prefix (see package
// origin): the commonest reason a correct invalidation still leaves a site stale.
//
// What it cannot see: the answer comes from one edge location, the one the network
// routes this caller to; other locations and browsers' caches may hold other copies.
package verify

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/edgeflush/edgeflush/internal/origin"
	"github.com/edgeflush/edgeflush/internal/sitesync"
)

// S3API is the part of *s3.Client Check reads the bucket with.
type S3API interface {
	s3.ListObjectsV2APIClient
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
}

// Defaults of Options.
const (
	DefaultConcurrency = 8
	DefaultTimeout     = 15 * time.Second
	DefaultRetries     = 2
	DefaultIndex       = "index.html"
)

// maxBody bounds what is read of one answer (MD5 comparison only).
const maxBody = 1 << 30

// Options says what to check.
type Options struct {
	DistributionID, Bucket, Prefix string
	// BaseURL is where the distribution is asked ("http://127.0.0.1:8080", a custom
	// domain); "" means "https://" + its domain name.
	BaseURL string
	// Paths are URL paths ("/a.html", "/docs/", "/assets/*": a trailing "*" takes every
	// object whose URL starts so); percent-encoded or not. All checks every object of the
	// site instead.
	Paths []string
	All   bool
	// IndexDocument is checked under its directory URL too, where the distribution
	// serves that ("" means "index.html"; "-" none).
	IndexDocument string
	Concurrency   int           // parallel requests; 0 means DefaultConcurrency
	Timeout       time.Duration // per request; 0 means DefaultTimeout
	Retries       int           // extra attempts after a connection error; 0 means DefaultRetries, -1 none
	// HTTPClient makes the requests; nil means one with a transport sized to Concurrency.
	HTTPClient *http.Client
	// Header is sent with every request (e.g. a test's X-Edge-Location).
	Header http.Header
	// MaxURLs bounds the URLs checked (0: no bound); the rest are counted in
	// Report.Unchecked, in key order after the exact paths.
	MaxURLs int
}

// Stale is a URL whose edge copy is not the bucket's object.
type Stale struct {
	Path       string `json:"path"`
	EdgeETag   string `json:"edgeETag"`
	OriginETag string `json:"originETag"`
	Age        *int   `json:"age"`
	XCache     string `json:"xCache"`
	Pop        string `json:"pop,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// Failure is a URL that could not be compared.
type Failure struct {
	Path   string `json:"path"`
	Status int    `json:"status,omitempty"`
	Error  string `json:"error"`
	Age    *int   `json:"age,omitempty"`
	XCache string `json:"xCache,omitempty"`
	Pop    string `json:"pop,omitempty"`
}

// Skipped is a requested URL that is not served from the bucket.
type Skipped struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// Report is the outcome of Check. JSON: {"checked","fresh","stale","errors",...}.
type Report struct {
	Distribution string    `json:"distribution"`
	BaseURL      string    `json:"baseUrl"`
	Checked      int       `json:"checked"`
	Fresh        int       `json:"fresh"`
	Stale        []Stale   `json:"stale"`
	Errors       []Failure `json:"errors"`
	Skipped      []Skipped `json:"skipped,omitempty"`
	// Unchecked counts the URLs left out by Options.MaxURLs.
	Unchecked int `json:"unchecked,omitempty"`
}

// OK reports whether every checked URL is fresh.
func (r *Report) OK() bool { return len(r.Stale) == 0 && len(r.Errors) == 0 }

// Problems names the stale and failed URLs in one line each (for job messages).
func (r *Report) Problems() []string {
	var out []string
	for _, s := range r.Stale {
		out = append(out, s.String())
	}
	for _, f := range r.Errors {
		out = append(out, f.String())
	}
	return out
}

func (s Stale) String() string {
	msg := fmt.Sprintf("%s is stale: the edge serves ETag %s, the bucket has %s (%s)", s.Path, orNone(s.EdgeETag), orNone(s.OriginETag), seen(s.Age, s.XCache, s.Pop))
	if s.Reason != "" {
		msg = fmt.Sprintf("%s is stale: %s (%s)", s.Path, s.Reason, seen(s.Age, s.XCache, s.Pop))
	}
	return msg
}

func (f Failure) String() string {
	if f.Status != 0 || f.XCache != "" {
		return fmt.Sprintf("%s failed: %s (%s)", f.Path, f.Error, seen(f.Age, f.XCache, f.Pop))
	}
	return fmt.Sprintf("%s failed: %s", f.Path, f.Error)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func seen(age *int, xcache, pop string) string {
	a := "no Age"
	if age != nil {
		a = "Age " + strconv.Itoa(*age)
	}
	x := "no X-Cache"
	if xcache != "" {
		x = "X-Cache " + xcache
	}
	s := a + ", " + x
	if pop != "" {
		s += ", location " + pop
	}
	return s
}

// target is one URL to check and the key it must serve.
type target struct {
	url, key string
}

// object is what the listing says of a key.
type object struct{ etag string }

// Check reads the distribution's configuration through cf, checks that it serves the
// bucket at the prefix, lists the bucket and compares every selected URL. It returns an
// error, having fetched nothing, when the distribution cannot be read, does not serve
// the bucket (*origin.NotAnOriginError) or reads another folder (*origin.OriginPathError),
// or when the bucket cannot be listed; stale and failed URLs are in the Report.
func Check(ctx context.Context, cf *origin.Reader, s3c S3API, o Options) (*Report, error) {
	if o.Bucket == "" || o.DistributionID == "" {
		return nil, errors.New("verify: a distribution and a bucket are required")
	}
	if !o.All && len(o.Paths) == 0 {
		return nil, errors.New("verify: no URL to check: give paths or all")
	}
	o.defaults()
	d, err := cf.Distribution(ctx, o.DistributionID)
	if err != nil {
		return nil, err
	}
	site, err := d.Site(o.Bucket, o.Prefix)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(o.BaseURL, "/")
	if base == "" {
		if d.DomainName == "" {
			return nil, fmt.Errorf("distribution %s has no domain name: give a base URL", d.ID)
		}
		base = "https://" + d.DomainName
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base URL %q: want http(s)://host[:port]", o.BaseURL)
	}
	prefix := site.KeyPrefix()
	objs, err := listSite(ctx, s3c, o.Bucket, prefix)
	if err != nil {
		return nil, err
	}
	rep := &Report{Distribution: d.ID, BaseURL: base, Stale: []Stale{}, Errors: []Failure{}}
	targets := selectTargets(d, site, objs, o, rep)
	if o.MaxURLs > 0 && len(targets) > o.MaxURLs {
		rep.Unchecked = len(targets) - o.MaxURLs
		targets = targets[:o.MaxURLs]
	}
	c := &checker{o: o, base: base, s3: s3c, prefix: prefix}
	res := make([]outcome, len(targets))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(o.Concurrency)
	for i, t := range targets {
		g.Go(func() error {
			obj, exists := objs[t.key]
			res[i] = c.check(gctx, t, obj, exists)
			return nil
		})
	}
	_ = g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	for _, r := range res {
		rep.Checked++
		switch {
		case r.stale != nil:
			rep.Stale = append(rep.Stale, *r.stale)
		case r.failure != nil:
			rep.Errors = append(rep.Errors, *r.failure)
		default:
			rep.Fresh++
		}
	}
	return rep, nil
}

func (o *Options) defaults() {
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	switch {
	case o.Retries == 0:
		o.Retries = DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	switch o.IndexDocument {
	case "":
		o.IndexDocument = DefaultIndex
	case "-":
		o.IndexDocument = ""
	}
	if o.HTTPClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = o.Concurrency
		// Compression is asked for and undone here, so that the answer's own
		// Content-Encoding tells what the edge did.
		tr.DisableCompression = true
		o.HTTPClient = &http.Client{Transport: tr}
	}
}

// listSite lists the site's objects (keys relative to prefix), without edgeflush's state.
func listSite(ctx context.Context, c S3API, bucket, prefix string) (map[string]object, error) {
	objs := map[string]object{}
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket)}
	if prefix != "" {
		in.Prefix = aws.String(prefix)
	}
	p := s3.NewListObjectsV2Paginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, ob := range page.Contents {
			rel := strings.TrimPrefix(aws.ToString(ob.Key), prefix)
			if rel == "" || strings.HasSuffix(rel, "/") || sitesync.IsReserved(rel) {
				continue
			}
			objs[rel] = object{etag: normETag(aws.ToString(ob.ETag))}
		}
	}
	return objs, nil
}

// selectTargets turns the requested paths (or every object) into URLs with their keys
// (relative to the site prefix); URLs the distribution routes elsewhere are skipped.
func selectTargets(d *origin.Distribution, site origin.Origin, objs map[string]object, o Options, rep *Report) []target {
	seen := map[string]bool{}
	var out []target
	add := func(u, rel string) {
		if seen[u] {
			return
		}
		seen[u] = true
		if !d.Serves(site.ID, u) {
			b := d.Route(u)
			rep.Skipped = append(rep.Skipped, Skipped{Path: u, Reason: fmt.Sprintf("the cache behavior %q routes it to origin %s, not the bucket", b.PathPattern, strings.Join(b.OriginIDs, ", "))})
			return
		}
		out = append(out, target{url: u, key: rel})
	}
	addKey := func(rel string) {
		u := "/" + rel
		add(u, rel)
		if dir, ok := d.DirectoryURL(site, u, o.IndexDocument); ok {
			add(dir, rel)
		}
	}
	sorted := make([]string, 0, len(objs))
	for k := range objs {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	if o.All {
		for _, k := range sorted {
			addKey(k)
		}
		return out
	}
	for _, p := range o.Paths {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if dec, err := url.PathUnescape(p); err == nil {
			p = dec
		}
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		switch {
		case strings.HasSuffix(p, "*"):
			stem := strings.TrimSuffix(p, "*")
			n := 0
			for _, k := range sorted {
				if strings.HasPrefix("/"+k, stem) {
					addKey(k)
					n++
				}
			}
			if n == 0 {
				rep.Skipped = append(rep.Skipped, Skipped{Path: p, Reason: "no object of the site matches"})
			}
		case strings.HasSuffix(p, "/"):
			if o.IndexDocument == "" {
				rep.Skipped = append(rep.Skipped, Skipped{Path: p, Reason: "a directory URL, and there is no index document"})
				continue
			}
			if _, ok := d.DirectoryURL(site, p+o.IndexDocument, o.IndexDocument); !ok {
				// An invalidation names directory URLs whether or not they are served; a
				// plain S3 origin answers 403 for them, which says nothing about freshness.
				rep.Skipped = append(rep.Skipped, Skipped{Path: p, Reason: "the distribution's configuration shows no way to serve a directory URL (no default root object for /, no S3 website origin or viewer-request function)"})
				continue
			}
			add(p, p[1:]+o.IndexDocument)
		default:
			addKey(p[1:])
		}
	}
	return out
}

type checker struct {
	o      Options
	base   string
	s3     S3API
	prefix string
}

type outcome struct {
	stale   *Stale
	failure *Failure
}

// answer is what the edge said.
type answer struct {
	status                 int
	etag, encoding, xcache string
	pop                    string
	age                    *int
	body                   []byte // only read when there is no ETag
	bodyErr                error
}

func (c *checker) check(ctx context.Context, t target, obj object, exists bool) outcome {
	a, err := c.fetch(ctx, t.url)
	if err != nil {
		return outcome{failure: &Failure{Path: t.url, Error: err.Error()}}
	}
	fail := func(msg string) outcome {
		return outcome{failure: &Failure{Path: t.url, Status: a.status, Error: msg, Age: a.age, XCache: a.xcache, Pop: a.pop}}
	}
	stale := func(reason string) outcome {
		return outcome{stale: &Stale{Path: t.url, EdgeETag: a.etag, OriginETag: obj.etag, Age: a.age, XCache: a.xcache, Pop: a.pop, Reason: reason}}
	}
	if !exists {
		switch {
		case a.status == http.StatusForbidden || a.status == http.StatusNotFound:
			return outcome{}
		case a.status >= 200 && a.status < 300:
			return stale(fmt.Sprintf("the object %s was deleted from the bucket, the edge still serves it (HTTP %d, ETag %s)", c.prefix+t.key, a.status, orNone(a.etag)))
		}
		return fail(fmt.Sprintf("HTTP %d for a URL whose object is not in the bucket (want 403 or 404)", a.status))
	}
	if a.status != http.StatusOK {
		return fail(fmt.Sprintf("HTTP %d %s, but the bucket has %s", a.status, http.StatusText(a.status), c.prefix+t.key))
	}
	if a.etag != "" {
		if a.etag == obj.etag {
			return outcome{}
		}
		return stale("")
	}
	// No ETag: compare the body's MD5 with the object's content MD5.
	if a.bodyErr != nil {
		return fail("no ETag in the answer and its body could not be read: " + a.bodyErr.Error())
	}
	fresh, known, err := c.sameContent(ctx, t.key, obj, a)
	switch {
	case err != nil:
		return fail(err.Error())
	case !known:
		return fail(fmt.Sprintf("no ETag in the answer, and the object's content MD5 is unknown (multipart ETag %s without x-amz-meta-%s): cannot compare", obj.etag, sitesync.MD5MetadataKey))
	case fresh:
		return outcome{}
	}
	return stale("the body the edge serves (no ETag) differs from the object's content")
}

// fetch GETs the URL, retrying connection errors only.
func (c *checker) fetch(ctx context.Context, u string) (*answer, error) {
	full := c.base + (&url.URL{Path: u}).EscapedPath()
	backoff := retry.NewExponentialJitterBackoff(2 * time.Second)
	for attempt := 0; ; attempt++ {
		a, err := c.fetchOnce(ctx, full)
		if err == nil {
			return a, nil
		}
		if attempt >= c.o.Retries || ctx.Err() != nil || !connectionError(err) {
			return nil, err
		}
		d, _ := backoff.BackoffDelay(attempt+1, err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(d):
		}
	}
}

// connectionError reports whether err is a failure to connect or a connection dropped
// without an answer (not a timeout: a slow edge is reported, not asked again).
func connectionError(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	return retry.RetryableConnectionError{}.IsErrorRetryable(err) == aws.TrueTernary
}

func (c *checker) fetchOnce(ctx context.Context, full string) (*answer, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, full, nil)
	if err != nil {
		return nil, fmt.Errorf("build request for %s: %w", full, err)
	}
	for k, vs := range c.o.Header {
		req.Header[k] = vs
	}
	// As a browser: the edge may compress. Only gzip, which the standard library reads.
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.o.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", full, err)
	}
	defer resp.Body.Close()
	a := &answer{
		status:   resp.StatusCode,
		etag:     normETag(resp.Header.Get("ETag")),
		encoding: strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))),
		xcache:   resp.Header.Get("X-Cache"),
		pop:      resp.Header.Get("X-Amz-Cf-Pop"),
	}
	if v := resp.Header.Get("Age"); v != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			a.age = &n
		}
	}
	if a.status == http.StatusOK && a.etag == "" {
		a.body, a.bodyErr = io.ReadAll(io.LimitReader(resp.Body, maxBody))
	} else {
		// Drain a little so that the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	}
	return a, nil
}

// sameContent compares the answer's body with the object's content MD5: the ETag of a
// single-part object is the MD5 of the stored bytes, x-amz-meta-edgeflush-md5 that of the
// source file before edgeflush precompressed it. known is false when neither is there.
func (c *checker) sameContent(ctx context.Context, rel string, obj object, a *answer) (fresh, known bool, err error) {
	raw := md5.Sum(a.body)
	sums := []string{hex.EncodeToString(raw[:])}
	if a.encoding == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(a.body))
		if err != nil {
			return false, true, fmt.Errorf("the edge answered Content-Encoding gzip with a body that is not gzip: %v", err)
		}
		h := md5.New()
		if _, err := io.Copy(h, io.LimitReader(zr, maxBody)); err != nil {
			return false, true, fmt.Errorf("decompress the edge's gzip answer: %v", err)
		}
		sums = append(sums, hex.EncodeToString(h.Sum(nil)))
	}
	var wants []string
	if !strings.Contains(obj.etag, "-") && len(obj.etag) == 32 {
		wants = append(wants, obj.etag)
	}
	head, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(c.o.Bucket), Key: aws.String(c.prefix + rel)})
	if err != nil {
		return false, false, fmt.Errorf("head s3://%s/%s: %w", c.o.Bucket, c.prefix+rel, err)
	}
	if normETag(aws.ToString(head.ETag)) != obj.etag {
		// Changed since the listing: compare against what the bucket has now.
		wants = wants[:0]
		obj.etag = normETag(aws.ToString(head.ETag))
		if !strings.Contains(obj.etag, "-") && len(obj.etag) == 32 {
			wants = append(wants, obj.etag)
		}
	}
	if m := head.Metadata[sitesync.MD5MetadataKey]; m != "" {
		wants = append(wants, strings.ToLower(m))
	}
	if len(wants) == 0 {
		return false, false, nil
	}
	for _, w := range wants {
		for _, s := range sums {
			if w == s {
				return true, true, nil
			}
		}
	}
	return false, true, nil
}

// normETag strips the quotes and a weak validator's W/ (CloudFront marks an ETag weak
// when it compresses; the value is still the origin's).
func normETag(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "W/")
	return strings.ToLower(strings.Trim(s, `"`))
}
