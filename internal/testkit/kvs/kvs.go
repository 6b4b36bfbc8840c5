// Package kvs is a stand-in for the CloudFront KeyValueStore data-plane API (the REST-JSON
// API of the SDK's service/cloudfrontkeyvaluestore client: DescribeKeyValueStore, GetKey,
// PutKey, DeleteKey, ListKeys, UpdateKeys) and for what the edge locations read from a
// store: each location sees a write after its own propagation delay.
//
// It follows the service rule by rule where edgeflush depends on it: every write needs
// the store's current ETag in If-Match (ConflictException 409 otherwise, ValidationException
// when missing) and returns the new one; UpdateKeys is all or nothing; keys are at most
// 512 bytes and values at most 1 KB (ValidationException), a store at most 5 MB
// (ServiceQuotaExceededException); ListKeys pages by at most 50. Where it differs: it
// does not verify the SigV4A signature (any or no Authorization header is accepted), it
// serves every account on one host (the SDK's endpoint rule prefixes the account id to
// the host, so clients must use the endpoint as is: awsconf.NewKeyValueStore does), and
// stores are created through CreateStore (or the CloudFront stand-in's
// CreateKeyValueStore), not through this API, as in CloudFront.
package kvs

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Limits of CloudFront KeyValueStore (docs/releases.md cites them).
const (
	MaxKeyBytes    = 512
	MaxValueBytes  = 1024
	MaxStoreBytes  = 5 << 20
	MaxListResults = 50
)

// Account is the account id in the ARNs of the stores the stand-in creates.
const Account = "123456789012"

// Options configures the stand-in.
type Options struct {
	// Delays are the propagation delays of the edge locations: location i sees a write
	// Delays[i] after it was made. A location beyond the list sees writes at once.
	Delays []time.Duration
	// Now is the clock, default time.Now.
	Now func() time.Time
}

// Server is a running stand-in.
type Server struct {
	URL string

	o   Options
	srv *httptest.Server

	mu     sync.Mutex
	stores map[string]*store // by ARN
	seq    int
}

type snapshot struct {
	at   time.Time
	data map[string]string
}

type store struct {
	name, arn, id string
	created       time.Time
	modified      time.Time
	version       int
	data          map[string]string
	history       []snapshot // every committed state, oldest first
	writes        []time.Time
}

func (s *store) etag() string { return "ETVPDKIKX0DER" + strconv.Itoa(s.version) }

func (s *store) size() int64 {
	var n int64
	for k, v := range s.data {
		n += int64(len(k) + len(v))
	}
	return n
}

// Start starts a stand-in closed when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	s := New(o)
	t.Cleanup(s.Close)
	return s
}

// New starts a stand-in on a free 127.0.0.1 port; the caller must Close it.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{o: o, stores: map[string]*store{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Env returns the variable that points the SDK's KeyValueStore client at the stand-in.
func (s *Server) Env() []string {
	return []string{"AWS_ENDPOINT_URL_CLOUDFRONT_KEYVALUESTORE=" + s.URL}
}

// CreateStore creates an empty store and returns its ARN and id; a second call with the
// same name returns the existing one.
func (s *Server) CreateStore(name string) (arn, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stores {
		if st.name == name {
			return st.arn, st.id
		}
	}
	s.seq++
	id = fmt.Sprintf("a1b2c3d4-5678-90ab-cdef-%012d", s.seq)
	arn = "arn:aws:cloudfront::" + Account + ":key-value-store/" + id
	now := s.o.Now()
	s.stores[arn] = &store{name: name, arn: arn, id: id, created: now, modified: now, data: map[string]string{},
		history: []snapshot{{at: now, data: map[string]string{}}}}
	return arn, id
}

// DeleteStore removes a store (the CloudFront stand-in's DeleteKeyValueStore).
func (s *Server) DeleteStore(arn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.stores[arn]
	delete(s.stores, arn)
	return ok
}

// StoreARN returns the ARN of the store named name.
func (s *Server) StoreARN(name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stores {
		if st.name == name {
			return st.arn, true
		}
	}
	return "", false
}

// Writes returns when each committed write to the store was made.
func (s *Server) Writes(arn string) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.stores[arn]; st != nil {
		return append([]time.Time(nil), st.writes...)
	}
	return nil
}

// Delay is the propagation delay of location loc.
func (s *Server) Delay(loc int) time.Duration {
	if loc >= 0 && loc < len(s.o.Delays) {
		return s.o.Delays[loc]
	}
	return 0
}

// MaxDelay is the longest propagation delay: every location sees a write by then.
func (s *Server) MaxDelay() time.Duration {
	var m time.Duration
	for _, d := range s.o.Delays {
		m = max(m, d)
	}
	return m
}

// View is the store arn as the edge locations see it (edge.KeyValues).
func (s *Server) View(arn string) *View { return &View{s: s, arn: arn} }

// View reads one store as each edge location sees it.
type View struct {
	s   *Server
	arn string
}

// Get returns key's value as location loc sees it now: the last state committed at
// least the location's delay ago.
func (v *View) Get(loc int, key string) (string, bool) {
	s := v.s
	at := s.o.Now().Add(-s.Delay(loc))
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stores[v.arn]
	if st == nil {
		return "", false
	}
	for i := len(st.history) - 1; i >= 0; i-- {
		if !st.history[i].at.After(at) {
			val, ok := st.history[i].data[key]
			return val, ok
		}
	}
	return "", false
}

type apiError struct {
	status int
	code   string
	msg    string
}

func writeError(w http.ResponseWriter, e apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.code, "Message": e.msg})
}

func validation(msg string) apiError {
	return apiError{http.StatusBadRequest, "ValidationException", msg}
}

func writeJSON(w http.ResponseWriter, etag string, v any) {
	w.Header().Set("Content-Type", "application/json")
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	_ = json.NewEncoder(w).Encode(v)
}

// serve routes /key-value-stores/{KvsARN}[/keys[/{Key}]] (ARN and key path-escaped).
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/"), "/")
	if len(parts) < 2 || parts[0] != "key-value-stores" || len(parts) > 4 || (len(parts) >= 3 && parts[2] != "keys") {
		writeError(w, apiError{http.StatusNotFound, "UnknownOperationException", "no such operation: " + r.Method + " " + r.URL.Path})
		return
	}
	arn, err := url.PathUnescape(parts[1])
	if err != nil {
		writeError(w, validation("bad KvsARN in path"))
		return
	}
	key := ""
	if len(parts) == 4 {
		if key, err = url.PathUnescape(parts[3]); err != nil || key == "" {
			writeError(w, validation("bad Key in path"))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stores[arn]
	if st == nil {
		writeError(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "Key value store " + arn + " does not exist"})
		return
	}
	switch {
	case len(parts) == 2 && r.Method == http.MethodGet:
		writeJSON(w, st.etag(), map[string]any{"KvsARN": st.arn, "ItemCount": len(st.data), "TotalSizeInBytes": st.size(),
			"Created": float64(st.created.UnixMilli()) / 1000, "LastModified": float64(st.modified.UnixMilli()) / 1000, "Status": "READY"})
	case len(parts) == 4 && r.Method == http.MethodGet:
		v, ok := st.data[key]
		if !ok {
			writeError(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "Key " + key + " does not exist"})
			return
		}
		writeJSON(w, "", map[string]any{"Key": key, "Value": v, "ItemCount": len(st.data), "TotalSizeInBytes": st.size()})
	case len(parts) == 3 && r.Method == http.MethodGet:
		s.list(w, r, st)
	case len(parts) == 4 && r.Method == http.MethodPut:
		var body struct{ Value *string }
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || body.Value == nil {
			writeError(w, validation("PutKey needs a JSON body {\"Value\": string}"))
			return
		}
		s.write(w, r, st, map[string]string{key: *body.Value}, nil)
	case len(parts) == 4 && r.Method == http.MethodDelete:
		if _, ok := st.data[key]; !ok {
			writeError(w, apiError{http.StatusNotFound, "ResourceNotFoundException", "Key " + key + " does not exist"})
			return
		}
		s.write(w, r, st, nil, []string{key})
	case len(parts) == 3 && r.Method == http.MethodPost:
		var body struct {
			Puts    []struct{ Key, Value string }
			Deletes []struct{ Key string }
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&body); err != nil {
			writeError(w, validation("UpdateKeys needs a JSON body {\"Puts\": [...], \"Deletes\": [...]}"))
			return
		}
		puts := map[string]string{}
		for _, p := range body.Puts {
			puts[p.Key] = p.Value
		}
		var dels []string
		for _, d := range body.Deletes {
			dels = append(dels, d.Key)
		}
		s.write(w, r, st, puts, dels)
	default:
		writeError(w, apiError{http.StatusMethodNotAllowed, "UnknownOperationException", "no such operation: " + r.Method + " " + r.URL.Path})
	}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, st *store) {
	q := r.URL.Query()
	max := MaxListResults
	if v := q.Get("MaxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxListResults {
			writeError(w, validation("MaxResults must be 1 to 50"))
			return
		}
		max = n
	}
	keys := make([]string, 0, len(st.data))
	for k := range st.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	start := 0
	if tok := q.Get("NextToken"); tok != "" {
		start = sort.SearchStrings(keys, tok)
	}
	items := []map[string]string{}
	next := ""
	for i := start; i < len(keys); i++ {
		if len(items) == max {
			next = keys[i]
			break
		}
		items = append(items, map[string]string{"Key": keys[i], "Value": st.data[keys[i]]})
	}
	out := map[string]any{"Items": items}
	if next != "" {
		out["NextToken"] = next
	}
	writeJSON(w, "", out)
}

// write applies puts and deletes all or nothing, conditional on If-Match.
func (s *Server) write(w http.ResponseWriter, r *http.Request, st *store, puts map[string]string, dels []string) {
	im := r.Header.Get("If-Match")
	if im == "" {
		writeError(w, validation("If-Match is required: pass the store's ETag from DescribeKeyValueStore"))
		return
	}
	if im != st.etag() {
		writeError(w, apiError{http.StatusConflict, "ConflictException", "The provided ETag " + im + " does not match the current ETag of the key value store"})
		return
	}
	next := make(map[string]string, len(st.data)+len(puts))
	for k, v := range st.data {
		next[k] = v
	}
	for k, v := range puts {
		if k == "" || len(k) > MaxKeyBytes {
			writeError(w, validation(fmt.Sprintf("key %q: 1 to %d bytes", k, MaxKeyBytes)))
			return
		}
		if len(v) > MaxValueBytes {
			writeError(w, validation(fmt.Sprintf("value of %q is %d bytes: at most %d", k, len(v), MaxValueBytes)))
			return
		}
		next[k] = v
	}
	for _, k := range dels {
		delete(next, k)
	}
	var size int64
	for k, v := range next {
		size += int64(len(k) + len(v))
	}
	if size > MaxStoreBytes {
		writeError(w, apiError{http.StatusPaymentRequired, "ServiceQuotaExceededException", "the key value store would exceed 5 MB"})
		return
	}
	now := s.o.Now()
	st.data, st.modified = next, now
	st.version++
	st.history = append(st.history, snapshot{at: now, data: next})
	st.writes = append(st.writes, now)
	writeJSON(w, st.etag(), map[string]any{"ItemCount": len(next), "TotalSizeInBytes": size})
}
