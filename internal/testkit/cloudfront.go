package testkit

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/edgeflush/edgeflush/internal/testkit/kvs"
)

// CloudFront API operations the realism proxy tells apart, for fault injection and counters.
type Op string

const (
	OpAny                Op = ""                   // any CloudFront call
	OpCreateInvalidation Op = "CreateInvalidation" // POST /2020-05-31/distribution/{Id}/invalidation
	OpGetInvalidation    Op = "GetInvalidation"    // GET  /2020-05-31/distribution/{Id}/invalidation/{Id}
	OpListInvalidations  Op = "ListInvalidations"  // GET  /2020-05-31/distribution/{Id}/invalidation
	OpOther              Op = "Other"              // any other CloudFront call (distributions ...)
)

// Fault is an injectable misbehaviour of the CloudFront proxy.
type Fault int

const (
	// FaultTooManyInvalidations answers 400 TooManyInvalidationsInProgress.
	FaultTooManyInvalidations Fault = iota + 1
	// FaultThrottling answers 400 Throttling "Rate exceeded", as CloudFront does after a
	// handful of quick calls.
	FaultThrottling
	// FaultServiceUnavailable answers 503 ServiceUnavailable.
	FaultServiceUnavailable
	// FaultDropConnection hijacks the connection and closes it without an answer.
	FaultDropConnection
	// FaultAccessDenied answers 403 AccessDenied, as for a role without the permission.
	FaultAccessDenied
	// FaultDropResponse lets the request through (a CreateInvalidation does create the
	// invalidation) and then drops the connection, so the caller never sees the answer and
	// retries: the case caller-reference deduplication exists for.
	FaultDropResponse
)

func (f Fault) String() string {
	switch f {
	case FaultTooManyInvalidations:
		return "TooManyInvalidationsInProgress"
	case FaultThrottling:
		return "Throttling"
	case FaultServiceUnavailable:
		return "ServiceUnavailable"
	case FaultDropConnection:
		return "DropConnection"
	case FaultAccessDenied:
		return "AccessDenied"
	case FaultDropResponse:
		return "DropResponse"
	}
	return "Fault(" + strconv.Itoa(int(f)) + ")"
}

// Limits of real CloudFront, per distribution, counted separately.
const (
	DefaultMaxInProgressPaths     = 3000
	DefaultMaxInProgressWildcards = 15
)

// Messages real CloudFront answers with (the caller-reference one as observed in practice;
// the API reference documents InvalidationBatchAlreadyExists, which AWS does not send).
const (
	MsgCallerReferenceReused = "Your request contains a caller reference that was used for a previous invalidation batch for the same distribution."
	MsgTooManyInvalidations  = "Processing your request would cause you to exceed the maximum number of in-progress invalidations."
	MsgRateExceeded          = "Rate exceeded"
	MsgServiceUnavailable    = "CloudFront is currently unavailable. Please try again later."
	MsgAccessDenied          = "User: arn:aws:sts::123456789012:assumed-role/edgeflush/edgeflush is not authorized to perform: cloudfront:CreateInvalidation"
)

// CloudFrontOptions configures the realism proxy.
type CloudFrontOptions struct {
	// CompleteAfter is how long a new invalidation stays InProgress. Zero completes at once
	// (still answering "Completed" as AWS spells it, not moto's "COMPLETED").
	CompleteAfter time.Duration
	// MaxInProgressPaths and MaxInProgressWildcards are the per-distribution in-progress
	// limits; zero means CloudFront's 3,000 and 15.
	MaxInProgressPaths     int
	MaxInProgressWildcards int
	// OnCreate, when set, runs after moto created an invalidation and before the proxy
	// answers; a fault-injection test can kill the function at exactly that point.
	OnCreate func(inv ProxyInvalidation)
	// KeyValueStores is the data plane of the KeyValueStores CreateKeyValueStore makes
	// (cffunctions.go); nil: CreateKeyValueStore answers NotImplemented.
	KeyValueStores *kvs.Server
}

// ProxyInvalidation is the proxy's record of an invalidation created through it.
type ProxyInvalidation struct {
	DistributionID  string
	ID              string
	CallerReference string
	Paths           []string
	Created         time.Time
	CompleteAt      time.Time
	// Requests counts the CreateInvalidation calls answered with this invalidation
	// (more than one when a caller reference was reused with the same batch).
	Requests int
	// Polls are the times GetInvalidation answered for it, in order (how promptly a
	// waiter saw it Completed).
	Polls []time.Time
}

// Completed reports whether the invalidation is Completed at time now.
func (p ProxyInvalidation) Completed(now time.Time) bool { return !now.Before(p.CompleteAt) }

// CloudFront is the realism proxy: an HTTP server on 127.0.0.1 that forwards every request
// to moto but makes invalidations behave like AWS's (see the package documentation).
type CloudFront struct {
	URL string

	srv   *httptest.Server
	moto  *url.URL
	proxy *httputil.ReverseProxy
	opts  CloudFrontOptions

	createMu sync.Mutex // serialises creations so that dedup and limits are race-free

	mu        sync.Mutex
	invs      map[string][]*ProxyInvalidation // per distribution, in creation order
	faults    []pendingFault
	served    map[Fault]int
	requests  map[Op]int
	creations map[string]int
	// configs holds the DistributionConfig each distribution was created with, as
	// sent: moto's answers drop function associations and S3OriginConfig (see distConfig).
	configs map[string][]byte
	// tenants are the distribution tenants made with CreateTenant (see tenant.go).
	tenants map[string]*proxyTenant

	fn functionsState // CloudFront Functions, KeyValueStores, associations (cffunctions.go)
}

type pendingFault struct {
	op    Op
	fault Fault
	left  int
}

// StartCloudFront starts the realism proxy in front of moto at motoURL; it is closed when
// the test ends.
func StartCloudFront(t testing.TB, motoURL string, o CloudFrontOptions) *CloudFront {
	t.Helper()
	c, err := NewCloudFront(motoURL, o)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// NewCloudFront starts the realism proxy in front of moto at motoURL. The caller must
// call Close.
func NewCloudFront(motoURL string, o CloudFrontOptions) (*CloudFront, error) {
	u, err := url.Parse(motoURL)
	if err != nil {
		return nil, fmt.Errorf("parse moto URL %q: %w", motoURL, err)
	}
	if o.MaxInProgressPaths == 0 {
		o.MaxInProgressPaths = DefaultMaxInProgressPaths
	}
	if o.MaxInProgressWildcards == 0 {
		o.MaxInProgressWildcards = DefaultMaxInProgressWildcards
	}
	c := &CloudFront{
		moto:      u,
		proxy:     httputil.NewSingleHostReverseProxy(u),
		opts:      o,
		invs:      map[string][]*ProxyInvalidation{},
		served:    map[Fault]int{},
		requests:  map[Op]int{},
		creations: map[string]int{},
		configs:   map[string][]byte{},
	}
	c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	c.URL = c.srv.URL
	return c, nil
}

// Close stops the proxy.
func (c *CloudFront) Close() { c.srv.Close() }

// Env returns AWS_ENDPOINT_URL_CLOUDFRONT pointing at the proxy.
func (c *CloudFront) Env() []string { return []string{"AWS_ENDPOINT_URL_CLOUDFRONT=" + c.URL} }

// Inject makes the next n CreateInvalidation calls answer with fault f.
func (c *CloudFront) Inject(f Fault, n int) { c.InjectOp(OpCreateInvalidation, f, n) }

// InjectOp makes the next n calls of operation op (OpAny: any CloudFront call) answer
// with fault f. Injections queue up and are served in order.
func (c *CloudFront) InjectOp(op Op, f Fault, n int) {
	if n <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, pendingFault{op: op, fault: f, left: n})
}

// FaultsServed returns how many answers fault f replaced (all faults when f is 0).
func (c *CloudFront) FaultsServed(f Fault) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f != 0 {
		return c.served[f]
	}
	n := 0
	for _, v := range c.served {
		n += v
	}
	return n
}

// Requests returns how many requests of operation op reached the proxy (OpAny: all).
func (c *CloudFront) Requests(op Op) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if op != OpAny {
		return c.requests[op]
	}
	n := 0
	for _, v := range c.requests {
		n += v
	}
	return n
}

// Creations returns how many invalidations were forwarded to (created in) moto for
// distributionID; "" counts all distributions. A caller reference answered from the
// dedup table does not count.
func (c *CloudFront) Creations(distributionID string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if distributionID != "" {
		return c.creations[distributionID]
	}
	n := 0
	for _, v := range c.creations {
		n += v
	}
	return n
}

// Invalidations returns copies of the invalidations created through the proxy for
// distributionID ("" for all), in creation order.
func (c *CloudFront) Invalidations(distributionID string) []ProxyInvalidation {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []ProxyInvalidation
	ids := make([]string, 0, len(c.invs))
	for id := range c.invs {
		if distributionID == "" || id == distributionID {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, p := range c.invs[id] {
			cp := *p
			cp.Paths = slices.Clone(p.Paths)
			cp.Polls = slices.Clone(p.Polls)
			out = append(out, cp)
		}
	}
	if distributionID == "" {
		sort.SliceStable(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	}
	return out
}

// Complete marks an invalidation Completed now (all invalidations when id is "").
func (c *CloudFront) Complete(distributionID, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for _, p := range c.invs[distributionID] {
		if (id == "" || p.ID == id) && p.CompleteAt.After(now) {
			p.CompleteAt = now
		}
	}
}

// SetCompleteAfter changes the InProgress duration for invalidations created from now on.
func (c *CloudFront) SetCompleteAfter(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.opts.CompleteAfter = d
}

var (
	invPathRE   = regexp.MustCompile(`^/2020-05-31/distribution/([^/]+)/invalidation(?:/([^/]+))?/?$`)
	statusRE    = regexp.MustCompile(`<Status>[^<]*</Status>`)
	invIDRE     = regexp.MustCompile(`<Id>([^<]*)</Id>`)
	cloudfrontP = "/2020-05-31/"
)

func classify(r *http.Request) (op Op, dist, id string) {
	if op, dist, id, ok := classifyTenant(r); ok {
		return op, dist, id
	}
	m := invPathRE.FindStringSubmatch(r.URL.Path)
	switch {
	case m == nil && strings.HasPrefix(r.URL.Path, cloudfrontP):
		return OpOther, "", ""
	case m == nil:
		return "", "", "" // not CloudFront (S3 and friends through the same endpoint)
	case r.Method == http.MethodPost && m[2] == "":
		return OpCreateInvalidation, m[1], ""
	case r.Method == http.MethodGet && m[2] != "":
		return OpGetInvalidation, m[1], m[2]
	case r.Method == http.MethodGet:
		return OpListInvalidations, m[1], ""
	}
	return OpOther, m[1], m[2]
}

func (c *CloudFront) serve(w http.ResponseWriter, r *http.Request) {
	op, dist, id := classify(r)
	if op == "" {
		c.proxy.ServeHTTP(w, r)
		return
	}
	c.mu.Lock()
	c.requests[op]++
	fault := c.takeFault(op)
	c.mu.Unlock()
	if fault == FaultDropResponse {
		c.dispatch(discardWriter{header: http.Header{}}, r, op, dist, id)
		c.serveFault(w, FaultDropConnection)
		return
	}
	if fault != 0 {
		c.serveFault(w, fault)
		return
	}
	c.dispatch(w, r, op, dist, id)
}

func (c *CloudFront) dispatch(w http.ResponseWriter, r *http.Request, op Op, dist, id string) {
	if tenant, ok := strings.CutPrefix(dist, TenantKeyPrefix); ok {
		c.serveTenant(w, r, op, tenant, id)
		return
	}
	switch op {
	case OpCreateInvalidation:
		c.create(w, r, dist)
	case OpGetInvalidation:
		c.get(w, r, dist, id)
	case OpListInvalidations:
		c.list(w, r, dist)
	default:
		if !c.serveFunctions(w, r) {
			c.distConfig(w, r)
		}
	}
}

var (
	distPathRE   = regexp.MustCompile(`^/2020-05-31/distribution/([^/]+)(/config)?/?$`)
	distConfigRE = regexp.MustCompile(`(?s)(<DistributionConfig[^>]*>)(.*)(</DistributionConfig>)`)
)

// distConfig answers the distribution calls. moto's GetDistribution and
// GetDistributionConfig lose parts of the configuration that CloudFront returns as
// created (function and Lambda@Edge associations, an S3 origin's S3OriginConfig); the
// proxy keeps the configuration each distribution was created with through it and puts
// it back into those answers. UpdateDistribution forgets it (moto's answer is used).
func (c *CloudFront) distConfig(w http.ResponseWriter, r *http.Request) {
	switch m := distPathRE.FindStringSubmatch(r.URL.Path); {
	case r.Method == http.MethodPost && strings.TrimSuffix(r.URL.Path, "/") == "/2020-05-31/distribution":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "MalformedInput", "cannot read request body")
			return
		}
		resp, respBody, err := c.forward(r, body)
		if err != nil {
			WriteCloudFrontError(w, http.StatusBadGateway, "Receiver", "InternalError", "testkit proxy: "+err.Error())
			return
		}
		if resp.StatusCode == http.StatusCreated {
			if id := invIDRE.FindSubmatch(respBody); id != nil {
				if cm := distConfigRE.FindSubmatch(body); cm != nil {
					c.mu.Lock()
					c.configs[string(id[1])] = cm[2]
					c.mu.Unlock()
				}
			}
		}
		copyResponse(w, resp, respBody)
	case m != nil && r.Method == http.MethodGet:
		c.mu.Lock()
		stored, ok := c.configs[m[1]]
		c.mu.Unlock()
		if !ok {
			c.proxy.ServeHTTP(w, r)
			return
		}
		resp, body, err := c.forward(r, nil)
		if err != nil {
			WriteCloudFrontError(w, http.StatusBadGateway, "Receiver", "InternalError", "testkit proxy: "+err.Error())
			return
		}
		if resp.StatusCode == http.StatusOK {
			body = distConfigRE.ReplaceAllFunc(body, func(b []byte) []byte {
				sm := distConfigRE.FindSubmatch(b)
				return slices.Concat(sm[1], stored, sm[3])
			})
		}
		copyResponse(w, resp, body)
	default:
		if m != nil && r.Method == http.MethodPut {
			c.mu.Lock()
			delete(c.configs, m[1])
			c.mu.Unlock()
		}
		c.proxy.ServeHTTP(w, r)
	}
}

// discardWriter swallows an answer that FaultDropResponse never delivers.
type discardWriter struct{ header http.Header }

func (d discardWriter) Header() http.Header         { return d.header }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}

// takeFault pops one pending fault for op; c.mu must be held.
func (c *CloudFront) takeFault(op Op) Fault {
	for i := range c.faults {
		pf := &c.faults[i]
		if pf.op != OpAny && pf.op != op {
			continue
		}
		f := pf.fault
		pf.left--
		if pf.left == 0 {
			c.faults = append(c.faults[:i], c.faults[i+1:]...)
		}
		c.served[f]++
		return f
	}
	return 0
}

func (c *CloudFront) serveFault(w http.ResponseWriter, f Fault) {
	switch f {
	case FaultTooManyInvalidations:
		WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "TooManyInvalidationsInProgress", MsgTooManyInvalidations)
	case FaultThrottling:
		WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "Throttling", MsgRateExceeded)
	case FaultServiceUnavailable:
		WriteCloudFrontError(w, http.StatusServiceUnavailable, "Receiver", "ServiceUnavailable", MsgServiceUnavailable)
	case FaultAccessDenied:
		WriteCloudFrontError(w, http.StatusForbidden, "Sender", "AccessDenied", MsgAccessDenied)
	case FaultDropConnection:
		hj, ok := w.(http.Hijacker)
		if !ok {
			WriteCloudFrontError(w, http.StatusInternalServerError, "Receiver", "InternalError", "connection cannot be dropped")
			return
		}
		conn, _, err := hj.Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

// WriteCloudFrontError writes CloudFront's REST-XML error shape, which the SDK turns into
// the typed error (types.TooManyInvalidationsInProgress ...) for known codes.
func WriteCloudFrontError(w http.ResponseWriter, status int, typ, code, msg string) {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<ErrorResponse xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Error><Type>`)
	xml.EscapeText(&b, []byte(typ))
	b.WriteString(`</Type><Code>`)
	xml.EscapeText(&b, []byte(code))
	b.WriteString(`</Code><Message>`)
	xml.EscapeText(&b, []byte(msg))
	b.WriteString(`</Message></Error><RequestId>`)
	b.WriteString(requestID())
	b.WriteString(`</RequestId></ErrorResponse>`)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

var reqCounter struct {
	sync.Mutex
	n int
}

func requestID() string {
	reqCounter.Lock()
	defer reqCounter.Unlock()
	reqCounter.n++
	return fmt.Sprintf("testkit-%08d", reqCounter.n)
}

type invalidationBatch struct {
	XMLName xml.Name `xml:"InvalidationBatch"`
	Paths   struct {
		Quantity int      `xml:"Quantity"`
		Items    []string `xml:"Items>Path"`
	} `xml:"Paths"`
	CallerReference string `xml:"CallerReference"`
}

// isWildcard tells what counts against the wildcard in-progress limit: wildcard paths
// and (edgeflush's reading, see tags.go) cache tag items.
func isWildcard(p string) bool { return strings.HasSuffix(p, "*") || strings.HasPrefix(p, "#") }

func sameBatch(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// readBatch reads and checks an InvalidationBatch as CloudFront does; on a bad batch
// it has answered and returns ok=false.
func readBatch(w http.ResponseWriter, r *http.Request) (batch invalidationBatch, body []byte, ok bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "MalformedInput", "cannot read request body")
		return batch, nil, false
	}
	if err := xml.Unmarshal(body, &batch); err != nil {
		WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "MalformedXML", "The XML document you provided was not well-formed.")
		return batch, nil, false
	}
	if batch.Paths.Quantity != len(batch.Paths.Items) {
		WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InconsistentQuantities", "The value of Quantity and the size of Items don't match.")
		return batch, nil, false
	}
	if batch.CallerReference == "" || len(batch.Paths.Items) == 0 {
		WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "An invalidation batch needs a CallerReference and at least one path.")
		return batch, nil, false
	}
	for _, p := range batch.Paths.Items {
		if strings.HasPrefix(p, "#") {
			// A cache tag item (tags.go): 1-256 visible ASCII characters, no comma, no wildcard.
			if !validTag(p[1:]) {
				WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidArgument", MsgInvalidTag)
				return batch, nil, false
			}
			continue
		}
		if !strings.HasPrefix(p, "/") || len(p) > 4000 || strings.Contains(strings.TrimSuffix(p, "*"), "*") {
			WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "Your request contains one or more invalid invalidation paths.")
			return batch, nil, false
		}
	}
	return batch, body, true
}

// admit applies caller-reference deduplication and the in-progress limits of key (a
// distribution id or TenantKeyPrefix+tenant id) to batch. It returns done=true when it
// has answered (the existing invalidation, or an error); otherwise the CompleteAfter to
// give the new invalidation. c.createMu must be held.
func (c *CloudFront) admit(w http.ResponseWriter, key, location string, batch invalidationBatch, now time.Time) (after time.Duration, done bool) {
	c.mu.Lock()
	var files, wildcards int
	var existing *ProxyInvalidation
	for _, p := range c.invs[key] {
		if p.CallerReference == batch.CallerReference {
			existing = p
		}
		if p.Completed(now) {
			continue
		}
		for _, path := range p.Paths {
			if isWildcard(path) {
				wildcards++
			} else {
				files++
			}
		}
	}
	if existing != nil {
		if !sameBatch(existing.Paths, batch.Paths.Items) {
			c.mu.Unlock()
			WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidArgument", MsgCallerReferenceReused)
			return 0, true
		}
		existing.Requests++
		resp := renderInvalidation(existing, now)
		c.mu.Unlock()
		w.Header().Set("Location", location+"/"+existing.ID)
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(resp)
		return 0, true
	}
	for _, path := range batch.Paths.Items {
		if isWildcard(path) {
			wildcards++
		} else {
			files++
		}
	}
	maxFiles, maxWild, after := c.opts.MaxInProgressPaths, c.opts.MaxInProgressWildcards, c.opts.CompleteAfter
	c.mu.Unlock()
	if files > maxFiles || wildcards > maxWild {
		WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "TooManyInvalidationsInProgress", MsgTooManyInvalidations)
		return 0, true
	}
	return after, false
}

func (c *CloudFront) create(w http.ResponseWriter, r *http.Request, dist string) {
	batch, body, ok := readBatch(w, r)
	if !ok {
		return
	}

	c.createMu.Lock()
	defer c.createMu.Unlock()

	now := time.Now()
	after, done := c.admit(w, dist, c.URL+"/2020-05-31/distribution/"+dist+"/invalidation", batch, now)
	if done {
		return
	}

	resp, respBody, err := c.forward(r, body)
	if err != nil {
		WriteCloudFrontError(w, http.StatusBadGateway, "Receiver", "InternalError", "testkit proxy: "+err.Error())
		return
	}
	if resp.StatusCode != http.StatusCreated {
		copyResponse(w, resp, respBody)
		return
	}
	m := invIDRE.FindSubmatch(respBody)
	if m == nil {
		copyResponse(w, resp, respBody)
		return
	}
	snapshot := c.record(dist, string(m[1]), batch, now, after)
	respBody = statusRE.ReplaceAll(respBody, []byte("<Status>"+statusAt(&snapshot, time.Now())+"</Status>"))
	copyResponse(w, resp, respBody)
}

// record keeps a new invalidation of target (a distribution, or a tenant's key) created
// at now and InProgress for after, runs OnCreate, and returns a copy of the record.
// The caller holds createMu.
func (c *CloudFront) record(target, id string, batch invalidationBatch, now time.Time, after time.Duration) ProxyInvalidation {
	rec := &ProxyInvalidation{
		DistributionID:  target,
		ID:              id,
		CallerReference: batch.CallerReference,
		Paths:           slices.Clone(batch.Paths.Items),
		Created:         now,
		CompleteAt:      now.Add(after),
		Requests:        1,
	}
	c.mu.Lock()
	c.invs[target] = append(c.invs[target], rec)
	c.creations[target]++
	snapshot := *rec
	c.mu.Unlock()
	if c.opts.OnCreate != nil {
		c.opts.OnCreate(snapshot)
	}
	return snapshot
}

func statusAt(p *ProxyInvalidation, now time.Time) string {
	if p.Completed(now) {
		return "Completed"
	}
	return "InProgress"
}

func renderInvalidation(p *ProxyInvalidation, now time.Time) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<Invalidation xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Id>` + p.ID + `</Id><Status>` + statusAt(p, now) + `</Status><CreateTime>`)
	b.WriteString(p.Created.UTC().Format(time.RFC3339Nano))
	b.WriteString(`</CreateTime><InvalidationBatch><Paths><Quantity>` + strconv.Itoa(len(p.Paths)) + `</Quantity><Items>`)
	for _, path := range p.Paths {
		b.WriteString("<Path>")
		xml.EscapeText(&b, []byte(path))
		b.WriteString("</Path>")
	}
	b.WriteString(`</Items></Paths><CallerReference>`)
	xml.EscapeText(&b, []byte(p.CallerReference))
	b.WriteString(`</CallerReference></InvalidationBatch></Invalidation>`)
	return b.Bytes()
}

func (c *CloudFront) lookup(dist, id string) (*ProxyInvalidation, bool) {
	for _, p := range c.invs[dist] {
		if p.ID == id {
			return p, true
		}
	}
	return nil, false
}

func (c *CloudFront) get(w http.ResponseWriter, r *http.Request, dist, id string) {
	resp, body, err := c.forward(r, nil)
	if err != nil {
		WriteCloudFrontError(w, http.StatusBadGateway, "Receiver", "InternalError", "testkit proxy: "+err.Error())
		return
	}
	if resp.StatusCode == http.StatusOK {
		status := "Completed" // created behind the proxy's back: moto completes at once
		c.mu.Lock()
		if p, ok := c.lookup(dist, id); ok {
			now := time.Now()
			status = statusAt(p, now)
			p.Polls = append(p.Polls, now)
		}
		c.mu.Unlock()
		body = statusRE.ReplaceAll(body, []byte("<Status>"+status+"</Status>"))
	}
	copyResponse(w, resp, body)
}

type invalidationList struct {
	Items []invalidationSummary `xml:"Items>InvalidationSummary"`
}

// invalidationSummary is one item of a ListInvalidations answer.
type invalidationSummary struct {
	ID         string `xml:"Id"`
	CreateTime string `xml:"CreateTime"`
	Status     string `xml:"Status"`
}

// listQuery reads ListInvalidations' Marker and MaxItems (CloudFront's default 100).
func listQuery(r *http.Request) (marker string, maxItems int) {
	q := r.URL.Query()
	maxItems = 100
	if v := q.Get("MaxItems"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			maxItems = n
		}
	}
	return q.Get("Marker"), maxItems
}

// renderInvalidationList renders the page of items (newest first) that follows marker,
// as CloudFront answers ListInvalidations (and its tenant form).
func renderInvalidationList(items []invalidationSummary, marker string, maxItems int) []byte {
	start := 0
	if marker != "" {
		for i, it := range items {
			if it.ID == marker {
				start = i + 1
			}
		}
	}
	end := min(start+maxItems, len(items))
	page := items[start:end]
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<InvalidationList xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Marker>`)
	xml.EscapeText(&b, []byte(marker))
	b.WriteString(`</Marker>`)
	truncated := end < len(items)
	if truncated && len(page) > 0 {
		b.WriteString(`<NextMarker>` + page[len(page)-1].ID + `</NextMarker>`)
	}
	fmt.Fprintf(&b, `<MaxItems>%d</MaxItems><IsTruncated>%t</IsTruncated><Quantity>%d</Quantity>`, maxItems, truncated, len(page))
	if len(page) > 0 {
		b.WriteString(`<Items>`)
		for _, it := range page {
			fmt.Fprintf(&b, `<InvalidationSummary><Id>%s</Id><CreateTime>%s</CreateTime><Status>%s</Status></InvalidationSummary>`, it.ID, it.CreateTime, it.Status)
		}
		b.WriteString(`</Items>`)
	}
	b.WriteString(`</InvalidationList>`)
	return b.Bytes()
}

// list answers ListInvalidations newest first, as CloudFront does (moto lists oldest
// first), paging with Marker/MaxItems itself over moto's complete list.
func (c *CloudFront) list(w http.ResponseWriter, r *http.Request, dist string) {
	marker, maxItems := listQuery(r)
	fwd := r.Clone(r.Context())
	fwd.URL.RawQuery = url.Values{"MaxItems": {"1000"}}.Encode()
	resp, body, err := c.forward(fwd, nil)
	if err != nil {
		WriteCloudFrontError(w, http.StatusBadGateway, "Receiver", "InternalError", "testkit proxy: "+err.Error())
		return
	}
	if resp.StatusCode != http.StatusOK {
		copyResponse(w, resp, body)
		return
	}
	var l invalidationList
	if err := xml.Unmarshal(body, &l); err != nil {
		WriteCloudFrontError(w, http.StatusBadGateway, "Receiver", "InternalError", "testkit proxy: parse moto list: "+err.Error())
		return
	}
	items := l.Items
	if len(items) == 0 && marker == "" {
		// moto lists nothing for an unknown distribution; CloudFront answers
		// NoSuchDistribution. moto's GetDistribution tells the two apart.
		check := r.Clone(r.Context())
		check.Method = http.MethodGet
		check.URL.Path, check.URL.RawPath, check.URL.RawQuery = "/2020-05-31/distribution/"+dist, "", ""
		cresp, cbody, err := c.forward(check, nil)
		if err != nil {
			WriteCloudFrontError(w, http.StatusBadGateway, "Receiver", "InternalError", "testkit proxy: "+err.Error())
			return
		}
		if cresp.StatusCode == http.StatusNotFound {
			copyResponse(w, cresp, cbody)
			return
		}
	}
	slices.Reverse(items) // moto: oldest first; stable for equal times
	sort.SliceStable(items, func(i, j int) bool { return items[i].CreateTime > items[j].CreateTime })
	now := time.Now()
	c.mu.Lock()
	for i := range items {
		items[i].Status = "Completed"
		if p, ok := c.lookup(dist, items[i].ID); ok {
			items[i].Status = statusAt(p, now)
		}
	}
	c.mu.Unlock()
	resp.Header.Del("Content-Length")
	copyResponse(w, resp, renderInvalidationList(items, marker, maxItems))
}

// forward sends r (with body, when not nil) to moto and returns the whole answer.
func (c *CloudFront) forward(r *http.Request, body []byte) (*http.Response, []byte, error) {
	u := *c.moto
	u.Path = r.URL.Path
	u.RawPath = r.URL.RawPath
	u.RawQuery = r.URL.RawQuery
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), rd)
	if err != nil {
		return nil, nil, fmt.Errorf("build request to moto: %w", err)
	}
	req.Header = r.Header.Clone()
	req.Header.Del("Content-Length")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, nil, fmt.Errorf("forward %s %s to moto: %w", r.Method, r.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("read moto answer to %s %s: %w", r.Method, r.URL.Path, err)
	}
	return resp, data, nil
}

func copyResponse(w http.ResponseWriter, resp *http.Response, body []byte) {
	for k, vs := range resp.Header {
		if strings.EqualFold(k, "Content-Length") || strings.EqualFold(k, "Connection") {
			continue
		}
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// Occupy creates, through the proxy, one invalidation on distributionID holding
// wildcards wildcard paths and exact exact paths, and returns its id: with a long
// CompleteAfter it holds that much of the distribution's in-progress room.
func (c *CloudFront) Occupy(t testing.TB, distributionID string, wildcards, exact int) string {
	t.Helper()
	var paths []string
	for i := range wildcards {
		paths = append(paths, fmt.Sprintf("/busy%d/*", i))
	}
	for i := range exact {
		paths = append(paths, fmt.Sprintf("/busy%d.html", i))
	}
	ctx := context.Background()
	cfg, err := SDKConfig(ctx, c.URL)
	if err != nil {
		t.Fatal(err)
	}
	ref := fmt.Sprintf("testkit-occupy-%s-%d", distributionID, time.Now().UnixNano())
	out, err := cloudfront.NewFromConfig(cfg).CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String(distributionID),
		InvalidationBatch: &cftypes.InvalidationBatch{
			CallerReference: aws.String(ref),
			Paths:           &cftypes.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
		},
	})
	if err != nil {
		t.Fatalf("occupy %s with %d wildcard and %d exact paths: %v", distributionID, wildcards, exact, err)
	}
	return aws.ToString(out.Invalidation.Id)
}
