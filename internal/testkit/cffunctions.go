package testkit

// cffunctions.go: the CloudFront control-plane calls of CloudFront Functions, KeyValueStores
// and function associations, which moto 5.2 does not serve (CreateFunction and
// CreateKeyValueStore answer 404; UpdateDistribution drops FunctionAssociations and ignores
// If-Match). The proxy answers them itself, rule by rule where edgeflush depends on them:
// names are unique (FunctionAlreadyExists, EntityAlreadyExists); every change of a function,
// a store or a distribution needs the current ETag in If-Match (PreconditionFailed 412
// otherwise, InvalidIfMatchVersion when missing); a function keeps a DEVELOPMENT and a LIVE
// stage and PublishFunction copies the first to the second; a function associated with a
// distribution cannot be deleted (FunctionInUse); a store associated with a function cannot
// be deleted (CannotDeleteEntityWhileInUse); a function's code is at most 10 KB
// (FunctionSizeLimitExceeded); an association needs the function published (one the proxy
// does not know, such as an ARN a test distribution was created with, is taken as given).
// The stores' data plane is the testkit/kvs server given in
// CloudFrontOptions.KeyValueStores. Where it differs: no Status transitions
// (functions are UNPUBLISHED then UNASSOCIATED/DEPLOYED at once, stores READY at once), no
// TestFunction, no function list, and the distribution's other settings are moto's.

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxFunctionSize is CloudFront's limit on a function's code.
const MaxFunctionSize = 10 * 1024

type cfFunction struct {
	name, comment, runtime string
	kvsARNs                []string
	code                   []byte // DEVELOPMENT
	liveCode               []byte // LIVE, nil until published
	liveKVS                []string
	version                int
	created, modified      time.Time
}

func (f *cfFunction) arn() string { return "arn:aws:cloudfront::123456789012:function/" + f.name }
func (f *cfFunction) etag() string {
	return "E" + strings.ToUpper(strconv.FormatInt(int64(len(f.name))*7919+int64(f.version), 36)) + "FN" + strconv.Itoa(f.version)
}

type cfStore struct {
	name, comment, id, arn string
	version                int
	modified               time.Time
}

func (s *cfStore) etag() string { return "EKVS" + strconv.Itoa(s.version) }

// functionsState is the proxy's state for functions, stores and associations.
type functionsState struct {
	mu        sync.Mutex
	functions map[string]*cfFunction
	stores    map[string]*cfStore // by name
	// assoc holds the default cache behavior's function associations per distribution,
	// and distETag the distribution config's ETag the proxy hands out.
	assoc    map[string][]FunctionAssociation
	set      map[string]bool // associations set through UpdateDistribution (else the created ones stand)
	distVers map[string]int
}

// FunctionAssociation is one association of a distribution's default cache behavior.
type FunctionAssociation struct {
	EventType   string // viewer-request, viewer-response
	FunctionARN string
}

var (
	functionPathRE = regexp.MustCompile(`^/2020-05-31/function(?:/([^/]+))?(/describe|/publish)?$`)
	kvsPathRE      = regexp.MustCompile(`^/2020-05-31/key-value-store(?:/([^/]+))?$`)
	distCallRE     = regexp.MustCompile(`^/2020-05-31/distribution/([^/]+)(/config)?/?$`)
)

// FunctionAssociations returns the default cache behavior's function associations of a
// distribution as set through the proxy.
func (c *CloudFront) FunctionAssociations(dist string) []FunctionAssociation {
	c.fn.mu.Lock()
	defer c.fn.mu.Unlock()
	return append([]FunctionAssociation(nil), c.fn.assoc[dist]...)
}

// FunctionCode returns the code of a function at stage "LIVE" or "DEVELOPMENT".
func (c *CloudFront) FunctionCode(name, stage string) ([]byte, bool) {
	c.fn.mu.Lock()
	defer c.fn.mu.Unlock()
	f := c.fn.functions[name]
	if f == nil {
		return nil, false
	}
	if stage == "LIVE" {
		return f.liveCode, f.liveCode != nil
	}
	return f.code, true
}

// serveFunctions answers the calls moto lacks; false when r is not one of them.
func (c *CloudFront) serveFunctions(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.EscapedPath()
	if m := functionPathRE.FindStringSubmatch(p); m != nil {
		c.functionOp(w, r, m[1], m[2])
		return true
	}
	if m := kvsPathRE.FindStringSubmatch(p); m != nil {
		c.storeOp(w, r, m[1])
		return true
	}
	if m := distCallRE.FindStringSubmatch(p); m != nil && (r.Method == http.MethodGet || (r.Method == http.MethodPut && m[2] != "")) {
		c.distributionOp(w, r, m[1], m[2] != "")
		return true
	}
	return false
}

func writeFnXML(w http.ResponseWriter, status int, etag string, body string) {
	w.Header().Set("Content-Type", "text/xml")
	if etag != "" {
		w.Header().Set("ETag", etag)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func esc(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

type xmlFunctionConfig struct {
	Comment                   string `xml:"Comment"`
	Runtime                   string `xml:"Runtime"`
	KeyValueStoreAssociations struct {
		Items []struct {
			KeyValueStoreARN string `xml:"KeyValueStoreARN"`
		} `xml:"Items>KeyValueStoreAssociation"`
	} `xml:"KeyValueStoreAssociations"`
}

func (c *CloudFront) summary(f *cfFunction, stage string) string {
	status := "UNPUBLISHED"
	if f.liveCode != nil {
		status = "UNASSOCIATED"
		for _, as := range c.fn.assoc {
			for _, a := range as {
				if a.FunctionARN == f.arn() {
					status = "DEPLOYED"
				}
			}
		}
	}
	kvs := f.kvsARNs
	if stage == "LIVE" {
		kvs = f.liveKVS
	}
	var assoc strings.Builder
	if len(kvs) > 0 {
		fmt.Fprintf(&assoc, "<KeyValueStoreAssociations><Quantity>%d</Quantity><Items>", len(kvs))
		for _, a := range kvs {
			fmt.Fprintf(&assoc, "<KeyValueStoreAssociation><KeyValueStoreARN>%s</KeyValueStoreARN></KeyValueStoreAssociation>", esc(a))
		}
		assoc.WriteString("</Items></KeyValueStoreAssociations>")
	}
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<FunctionSummary xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Name>%s</Name><Status>%s</Status><FunctionConfig><Comment>%s</Comment><Runtime>%s</Runtime>%s</FunctionConfig><FunctionMetadata><FunctionARN>%s</FunctionARN><Stage>%s</Stage><CreatedTime>%s</CreatedTime><LastModifiedTime>%s</LastModifiedTime></FunctionMetadata></FunctionSummary>`,
		esc(f.name), status, esc(f.comment), esc(f.runtime), assoc.String(), esc(f.arn()), stage,
		f.created.UTC().Format(time.RFC3339), f.modified.UTC().Format(time.RFC3339))
}

func checkIfMatch(w http.ResponseWriter, r *http.Request, etag string) bool {
	im := r.Header.Get("If-Match")
	switch {
	case im == "":
		WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidIfMatchVersion", "The If-Match version is missing or not valid.")
		return false
	case im != etag:
		WriteCloudFrontError(w, http.StatusPreconditionFailed, "Sender", "PreconditionFailed", "The precondition given in one or more of the request-header fields evaluated to false.")
		return false
	}
	return true
}

func (c *CloudFront) functionOp(w http.ResponseWriter, r *http.Request, name, sub string) {
	st := &c.fn
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.functions == nil {
		st.functions = map[string]*cfFunction{}
	}
	stage := r.URL.Query().Get("Stage")
	if stage == "" {
		stage = "DEVELOPMENT"
	}
	f := st.functions[name]
	if name != "" && f == nil {
		WriteCloudFrontError(w, http.StatusNotFound, "Sender", "NoSuchFunctionExists", "The function does not exist.")
		return
	}
	switch {
	case name == "" && r.Method == http.MethodPost: // CreateFunction
		var in struct {
			Name           string            `xml:"Name"`
			FunctionConfig xmlFunctionConfig `xml:"FunctionConfig"`
			FunctionCode   string            `xml:"FunctionCode"`
		}
		if err := xml.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
			WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "CreateFunctionRequest: "+err.Error())
			return
		}
		code, err := base64.StdEncoding.DecodeString(in.FunctionCode)
		if err != nil {
			WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "FunctionCode is not base64")
			return
		}
		if st.functions[in.Name] != nil {
			WriteCloudFrontError(w, http.StatusConflict, "Sender", "FunctionAlreadyExists", "A function with the same name already exists in this account.")
			return
		}
		if !c.validFunction(w, in.FunctionConfig, code) {
			return
		}
		now := time.Now()
		f = &cfFunction{name: in.Name, comment: in.FunctionConfig.Comment, runtime: in.FunctionConfig.Runtime, code: code, version: 1, created: now, modified: now}
		for _, a := range in.FunctionConfig.KeyValueStoreAssociations.Items {
			f.kvsARNs = append(f.kvsARNs, a.KeyValueStoreARN)
		}
		st.functions[in.Name] = f
		w.Header().Set("Location", c.URL+"/2020-05-31/function/"+in.Name)
		writeFnXML(w, http.StatusCreated, f.etag(), c.summary(f, "DEVELOPMENT"))
	case sub == "/describe" && r.Method == http.MethodGet:
		if stage == "LIVE" && f.liveCode == nil {
			WriteCloudFrontError(w, http.StatusNotFound, "Sender", "NoSuchFunctionExists", "The function has no LIVE stage: publish it first.")
			return
		}
		writeFnXML(w, http.StatusOK, f.etag(), c.summary(f, stage))
	case sub == "" && r.Method == http.MethodGet: // GetFunction
		code := f.code
		if stage == "LIVE" {
			code = f.liveCode
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("ETag", f.etag())
		_, _ = w.Write(code)
	case sub == "/publish" && r.Method == http.MethodPost:
		if !checkIfMatch(w, r, f.etag()) {
			return
		}
		f.liveCode, f.liveKVS = append([]byte(nil), f.code...), append([]string(nil), f.kvsARNs...)
		f.modified = time.Now()
		writeFnXML(w, http.StatusOK, "", c.summary(f, "LIVE"))
	case sub == "" && r.Method == http.MethodPut: // UpdateFunction
		if !checkIfMatch(w, r, f.etag()) {
			return
		}
		var in struct {
			FunctionConfig xmlFunctionConfig `xml:"FunctionConfig"`
			FunctionCode   string            `xml:"FunctionCode"`
		}
		if err := xml.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
			WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "UpdateFunctionRequest: "+err.Error())
			return
		}
		code, err := base64.StdEncoding.DecodeString(in.FunctionCode)
		if err != nil || !c.validFunction(w, in.FunctionConfig, code) {
			if err != nil {
				WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "FunctionCode is not base64")
			}
			return
		}
		f.code, f.comment, f.runtime, f.kvsARNs = code, in.FunctionConfig.Comment, in.FunctionConfig.Runtime, nil
		for _, a := range in.FunctionConfig.KeyValueStoreAssociations.Items {
			f.kvsARNs = append(f.kvsARNs, a.KeyValueStoreARN)
		}
		f.version++
		f.modified = time.Now()
		writeFnXML(w, http.StatusOK, f.etag(), c.summary(f, "DEVELOPMENT"))
	case sub == "" && r.Method == http.MethodDelete:
		if !checkIfMatch(w, r, f.etag()) {
			return
		}
		for _, as := range st.assoc {
			for _, a := range as {
				if a.FunctionARN == f.arn() {
					WriteCloudFrontError(w, http.StatusConflict, "Sender", "FunctionInUse", "Cannot delete function, it's in use by a distribution.")
					return
				}
			}
		}
		delete(st.functions, name)
		w.WriteHeader(http.StatusNoContent)
	default:
		WriteCloudFrontError(w, http.StatusMethodNotAllowed, "Sender", "InvalidArgument", "unsupported function call "+r.Method+" "+r.URL.Path)
	}
}

func (c *CloudFront) validFunction(w http.ResponseWriter, cfg xmlFunctionConfig, code []byte) bool {
	if len(code) > MaxFunctionSize {
		WriteCloudFrontError(w, http.StatusRequestEntityTooLarge, "Sender", "FunctionSizeLimitExceeded", fmt.Sprintf("The function code is %d bytes; the maximum is %d.", len(code), MaxFunctionSize))
		return false
	}
	if cfg.Runtime != "cloudfront-js-1.0" && cfg.Runtime != "cloudfront-js-2.0" {
		WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "Runtime must be cloudfront-js-1.0 or cloudfront-js-2.0")
		return false
	}
	if len(cfg.KeyValueStoreAssociations.Items) > 0 && cfg.Runtime != "cloudfront-js-2.0" {
		WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "KeyValueStore associations need the cloudfront-js-2.0 runtime")
		return false
	}
	if len(cfg.KeyValueStoreAssociations.Items) > 1 {
		WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "TooManyKeyValueStoreAssociations", "A function can be associated with one key value store.")
		return false
	}
	for _, a := range cfg.KeyValueStoreAssociations.Items {
		if c.storeByARN(a.KeyValueStoreARN) == nil {
			WriteCloudFrontError(w, http.StatusNotFound, "Sender", "EntityNotFound", "No key value store "+a.KeyValueStoreARN)
			return false
		}
	}
	return true
}

func (c *CloudFront) storeByARN(arn string) *cfStore {
	for _, s := range c.fn.stores {
		if s.arn == arn {
			return s
		}
	}
	return nil
}

func (c *CloudFront) storeXML(s *cfStore) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<KeyValueStore xmlns="http://cloudfront.amazonaws.com/doc/2020-05-31/"><Name>%s</Name><Id>%s</Id><Comment>%s</Comment><ARN>%s</ARN><Status>READY</Status><LastModifiedTime>%s</LastModifiedTime></KeyValueStore>`,
		esc(s.name), esc(s.id), esc(s.comment), esc(s.arn), s.modified.UTC().Format(time.RFC3339))
}

func (c *CloudFront) storeOp(w http.ResponseWriter, r *http.Request, name string) {
	st := &c.fn
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.stores == nil {
		st.stores = map[string]*cfStore{}
	}
	kv := c.opts.KeyValueStores
	switch {
	case name == "" && r.Method == http.MethodPost:
		var in struct {
			Name    string `xml:"Name"`
			Comment string `xml:"Comment"`
		}
		if err := xml.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || !regexp.MustCompile(`^[a-zA-Z0-9-_]{1,64}$`).MatchString(in.Name) {
			WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "CreateKeyValueStoreRequest needs a Name of 1 to 64 letters, digits, '-' or '_'")
			return
		}
		if st.stores[in.Name] != nil {
			WriteCloudFrontError(w, http.StatusConflict, "Sender", "EntityAlreadyExists", "A key value store with this name already exists.")
			return
		}
		if kv == nil {
			WriteCloudFrontError(w, http.StatusNotImplemented, "Receiver", "NotImplemented", "the CloudFront stand-in has no KeyValueStore data plane: set CloudFrontOptions.KeyValueStores")
			return
		}
		arn, id := kv.CreateStore(in.Name)
		s := &cfStore{name: in.Name, comment: in.Comment, id: id, arn: arn, version: 1, modified: time.Now()}
		st.stores[in.Name] = s
		w.Header().Set("Location", c.URL+"/2020-05-31/key-value-store/"+in.Name)
		writeFnXML(w, http.StatusCreated, s.etag(), c.storeXML(s))
	case name != "" && r.Method == http.MethodGet:
		s := st.stores[name]
		if s == nil {
			WriteCloudFrontError(w, http.StatusNotFound, "Sender", "EntityNotFound", "The key value store does not exist.")
			return
		}
		writeFnXML(w, http.StatusOK, s.etag(), c.storeXML(s))
	case name != "" && r.Method == http.MethodDelete:
		s := st.stores[name]
		if s == nil {
			WriteCloudFrontError(w, http.StatusNotFound, "Sender", "EntityNotFound", "The key value store does not exist.")
			return
		}
		if !checkIfMatch(w, r, s.etag()) {
			return
		}
		for _, f := range st.functions {
			for _, a := range append(append([]string(nil), f.kvsARNs...), f.liveKVS...) {
				if a == s.arn {
					WriteCloudFrontError(w, http.StatusConflict, "Sender", "CannotDeleteEntityWhileInUse", "The key value store is associated with function "+f.name+".")
					return
				}
			}
		}
		delete(st.stores, name)
		if kv != nil {
			kv.DeleteStore(s.arn)
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		WriteCloudFrontError(w, http.StatusMethodNotAllowed, "Sender", "InvalidArgument", "unsupported key value store call "+r.Method+" "+r.URL.Path)
	}
}

var (
	defaultBehaviorRE = regexp.MustCompile(`(?s)<DefaultCacheBehavior>.*?</DefaultCacheBehavior>`)
	funcAssocRE       = regexp.MustCompile(`(?s)<FunctionAssociations>.*?</FunctionAssociations>|<FunctionAssociations/>`)
)

func (c *CloudFront) distETag(dist string) string {
	return "EDIST" + strconv.Itoa(c.fn.distVers[dist])
}

// patchAssociations writes the proxy's associations into a distribution (config) XML.
func (c *CloudFront) patchAssociations(body []byte, dist string) []byte {
	as := c.fn.assoc[dist]
	var b strings.Builder
	fmt.Fprintf(&b, "<FunctionAssociations><Quantity>%d</Quantity>", len(as))
	if len(as) > 0 {
		b.WriteString("<Items>")
		for _, a := range as {
			fmt.Fprintf(&b, "<FunctionAssociation><FunctionARN>%s</FunctionARN><EventType>%s</EventType></FunctionAssociation>", esc(a.FunctionARN), esc(a.EventType))
		}
		b.WriteString("</Items>")
	}
	b.WriteString("</FunctionAssociations>")
	return defaultBehaviorRE.ReplaceAllFunc(body, func(dcb []byte) []byte {
		dcb = funcAssocRE.ReplaceAll(dcb, nil)
		return bytes.Replace(dcb, []byte("</DefaultCacheBehavior>"), []byte(b.String()+"</DefaultCacheBehavior>"), 1)
	})
}

// distributionOp serves GetDistribution, GetDistributionConfig and UpdateDistribution on top
// of distConfig (cloudfront.go: the configuration as created): the proxy adds its own ETag,
// checked by UpdateDistribution, and the function associations the last update set.
func (c *CloudFront) distributionOp(w http.ResponseWriter, r *http.Request, dist string, config bool) {
	st := &c.fn
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.assoc == nil {
		st.assoc, st.distVers, st.set = map[string][]FunctionAssociation{}, map[string]int{}, map[string]bool{}
	}
	var in []byte
	if r.Method == http.MethodPut {
		if !checkIfMatch(w, r, c.distETag(dist)) {
			return
		}
		var err error
		if in, err = io.ReadAll(io.LimitReader(r.Body, 4<<20)); err != nil {
			WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidArgument", "read body: "+err.Error())
			return
		}
		var cfg struct {
			Items []struct {
				FunctionARN string `xml:"FunctionARN"`
				EventType   string `xml:"EventType"`
			} `xml:"DefaultCacheBehavior>FunctionAssociations>Items>FunctionAssociation"`
		}
		if err := xml.Unmarshal(in, &cfg); err != nil {
			WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "MalformedXML", err.Error())
			return
		}
		seen := map[string]bool{}
		var as []FunctionAssociation
		for _, it := range cfg.Items {
			if seen[it.EventType] {
				WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidFunctionAssociation", "Only one function can be associated with each event type.")
				return
			}
			seen[it.EventType] = true
			name := strings.TrimPrefix(it.FunctionARN, "arn:aws:cloudfront::123456789012:function/")
			// A function the proxy does not know (one a test distribution was created with,
			// by ARN only) is taken as given; one it knows must be published.
			if f := st.functions[name]; f != nil && f.liveCode == nil {
				WriteCloudFrontError(w, http.StatusBadRequest, "Sender", "InvalidFunctionAssociation", "The function "+it.FunctionARN+" is not published.")
				return
			}
			as = append(as, FunctionAssociation{EventType: it.EventType, FunctionARN: it.FunctionARN})
		}
		// moto drops the associations anyway; forward the rest of the config.
		r.Body = io.NopCloser(bytes.NewReader(in))
		r.ContentLength = int64(len(in))
		rec := httptest.NewRecorder()
		c.distConfig(rec, r)
		if rec.Code != http.StatusOK {
			for k, vs := range rec.Header() {
				w.Header()[k] = vs
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		st.assoc[dist] = as
		st.set[dist] = true
		st.distVers[dist]++
		writeFnXML(w, http.StatusOK, c.distETag(dist), string(c.patchAssociations(rec.Body.Bytes(), dist)))
		return
	}
	rec := httptest.NewRecorder()
	c.distConfig(rec, r)
	if rec.Code != http.StatusOK {
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	body := rec.Body.Bytes()
	if st.set[dist] {
		body = c.patchAssociations(body, dist)
	}
	writeFnXML(w, http.StatusOK, c.distETag(dist), string(body))
}
