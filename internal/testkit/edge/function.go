package edge

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/dop251/goja"
)

// KeyValues is a CloudFront KeyValueStore as the edge locations see it: each location
// gets a write after its own propagation delay (testkit/kvs provides one).
type KeyValues interface {
	// Get returns the value of key as location loc sees it now.
	Get(loc int, key string) (string, bool)
}

// Function runs a CloudFront Function's own JavaScript source (runtime 2.0) in an
// embedded engine (goja), for the viewer-request and viewer-response events of every
// request the emulator answers.
//
// Where it differs from CloudFront Functions: the one ES-module import the runtime
// offers, `import cf from 'cloudfront'`, is rewritten to a global before compiling (goja
// has no module loader), and any other import is refused; goja runs a superset of the
// runtime's JavaScript, so a feature CloudFront refuses (and the 10 KB / compute limits)
// is not caught here; kvs() ignores the store id it is given and reads Options.KeyValues,
// as seen from the request's location. Event objects carry the fields edgeflush's
// function and typical functions read: context.eventType, viewer.ip, request.method,
// uri, querystring, headers, cookies; response.statusCode, headers, cookies.
type Function struct {
	prog *goja.Program
	kvs  KeyValues
	pool sync.Pool // *jsVM: a goja runtime serves one goroutine at a time
}

var importRE = regexp.MustCompile(`(?m)^\s*import\s+(\w+)\s+from\s+['"]cloudfront['"];?\s*$`)
var anyImportRE = regexp.MustCompile(`(?m)^\s*import\s`)

// NewFunction compiles src; kvs backs cf.kvs() (nil: every get fails, as with a function
// that has no store associated).
func NewFunction(src []byte, kvs KeyValues) (*Function, error) {
	code := importRE.ReplaceAllString(string(src), "var $1 = __cloudfront;")
	if anyImportRE.MatchString(code) {
		return nil, errors.New("function source imports a module other than 'cloudfront': CloudFront Functions offer no other")
	}
	code += "\n;__handler = handler;"
	prog, err := goja.Compile("function.js", code, false)
	if err != nil {
		return nil, fmt.Errorf("compile function: %w", err)
	}
	f := &Function{prog: prog, kvs: kvs}
	// Compile once and check that it runs: an error at load time is the test's, not a 503.
	vm, err := f.newVM()
	if err != nil {
		return nil, err
	}
	f.pool.Put(vm)
	return f, nil
}

type jsVM struct {
	rt      *goja.Runtime
	handler goja.Callable
	parse   goja.Callable
	str     goja.Callable
	loc     int
}

func (f *Function) newVM() (*jsVM, error) {
	vm := &jsVM{rt: goja.New()}
	rt := vm.rt
	get := func(call goja.FunctionCall) goja.Value {
		p, resolve, reject := rt.NewPromise()
		key := call.Argument(0).String()
		format := "string"
		if opt := call.Argument(1); !goja.IsUndefined(opt) && !goja.IsNull(opt) {
			if v := opt.ToObject(rt).Get("format"); v != nil && !goja.IsUndefined(v) {
				format = v.String()
			}
		}
		var v string
		ok := false
		if f.kvs != nil {
			v, ok = f.kvs.Get(vm.loc, key)
		}
		switch {
		case !ok:
			_ = reject(rt.NewGoError(fmt.Errorf("KeyValueStore: key %q not found", key)))
		case format == "json":
			parsed, err := vm.parse(goja.Undefined(), rt.ToValue(v))
			if err != nil {
				_ = reject(err)
			} else {
				_ = resolve(parsed)
			}
		default:
			_ = resolve(v)
		}
		return rt.ToValue(p)
	}
	exists := func(call goja.FunctionCall) goja.Value {
		p, resolve, _ := rt.NewPromise()
		ok := false
		if f.kvs != nil {
			_, ok = f.kvs.Get(vm.loc, call.Argument(0).String())
		}
		_ = resolve(ok)
		return rt.ToValue(p)
	}
	cfMod := rt.NewObject()
	_ = cfMod.Set("kvs", func(goja.FunctionCall) goja.Value {
		h := rt.NewObject()
		_ = h.Set("get", get)
		_ = h.Set("exists", exists)
		return h
	})
	if err := rt.Set("__cloudfront", cfMod); err != nil {
		return nil, err
	}
	if _, err := rt.RunProgram(f.prog); err != nil {
		return nil, fmt.Errorf("load function: %w", err)
	}
	h, ok := goja.AssertFunction(rt.Get("__handler"))
	if !ok {
		return nil, errors.New("function source defines no function handler(event)")
	}
	vm.handler = h
	jsonObj := rt.Get("JSON").ToObject(rt)
	vm.parse, _ = goja.AssertFunction(jsonObj.Get("parse"))
	vm.str, _ = goja.AssertFunction(jsonObj.Get("stringify"))
	return vm, nil
}

// fnValue is CloudFront Functions' {value} shape of a header, cookie or query value.
type fnValue struct {
	Value      string `json:"value"`
	Attributes string `json:"attributes,omitempty"`
}

type fnRequest struct {
	Method      string             `json:"method"`
	URI         string             `json:"uri"`
	Querystring map[string]fnValue `json:"querystring"`
	Headers     map[string]fnValue `json:"headers"`
	Cookies     map[string]fnValue `json:"cookies"`
}

type fnResponse struct {
	StatusCode        int                `json:"statusCode"`
	StatusDescription string             `json:"statusDescription,omitempty"`
	Headers           map[string]fnValue `json:"headers"`
	Cookies           map[string]fnValue `json:"cookies"`
	Body              any                `json:"body,omitempty"`
}

type fnEvent struct {
	Version string `json:"version"`
	Context struct {
		EventType      string `json:"eventType"`
		DistributionID string `json:"distributionId"`
	} `json:"context"`
	Viewer struct {
		IP string `json:"ip"`
	} `json:"viewer"`
	Request  fnRequest   `json:"request"`
	Response *fnResponse `json:"response,omitempty"`
}

// run calls the handler with ev at location loc and returns its result as JSON.
func (f *Function) run(loc int, ev *fnEvent) ([]byte, error) {
	vm, _ := f.pool.Get().(*jsVM)
	if vm == nil {
		var err error
		if vm, err = f.newVM(); err != nil {
			return nil, err
		}
	}
	defer f.pool.Put(vm)
	vm.loc = loc
	in, err := json.Marshal(ev)
	if err != nil {
		return nil, err
	}
	obj, err := vm.parse(goja.Undefined(), vm.rt.ToValue(string(in)))
	if err != nil {
		return nil, err
	}
	out, err := vm.handler(goja.Undefined(), obj)
	if err != nil {
		return nil, fmt.Errorf("function threw: %w", err)
	}
	// An async handler returns a promise; goja has run its jobs when the call returned.
	if p, ok := out.Export().(*goja.Promise); ok {
		switch p.State() {
		case goja.PromiseStateFulfilled:
			out = p.Result()
		case goja.PromiseStateRejected:
			return nil, fmt.Errorf("function rejected: %v", p.Result())
		default:
			return nil, errors.New("function's promise did not settle (CloudFront Functions have no timers or I/O to wait for)")
		}
	}
	s, err := vm.str(goja.Undefined(), out)
	if err != nil {
		return nil, err
	}
	return []byte(s.String()), nil
}

func requestEvent(r *http.Request, distID, path, rawQuery string) *fnEvent {
	ev := &fnEvent{Version: "1.0"}
	ev.Context.EventType = "viewer-request"
	ev.Context.DistributionID = distID
	ev.Viewer.IP, _, _ = strings.Cut(r.RemoteAddr, ":")
	ev.Request = fnRequest{Method: r.Method, URI: path, Querystring: map[string]fnValue{}, Headers: map[string]fnValue{}, Cookies: map[string]fnValue{}}
	q, _ := url.ParseQuery(rawQuery)
	for k, vs := range q {
		ev.Request.Querystring[k] = fnValue{Value: vs[0]}
	}
	for k, vs := range r.Header {
		if lk := strings.ToLower(k); lk != "cookie" {
			ev.Request.Headers[lk] = fnValue{Value: strings.Join(vs, ",")}
		}
	}
	for _, c := range r.Cookies() {
		ev.Request.Cookies[c.Name] = fnValue{Value: c.Value}
	}
	return ev
}

// ViewerRequest runs the viewer-request event. It returns either the request's new URI
// (resp nil) or a response the function generated.
func (f *Function) ViewerRequest(loc int, r *http.Request, distID, path, rawQuery string) (uri string, resp *fnResponse, err error) {
	ev := requestEvent(r, distID, path, rawQuery)
	out, err := f.run(loc, ev)
	if err != nil {
		return "", nil, err
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(out, &probe); err != nil {
		return "", nil, fmt.Errorf("function returned %s: want the request or a response object", out)
	}
	if _, isResp := probe["statusCode"]; isResp {
		var res fnResponse
		if err := json.Unmarshal(out, &res); err != nil {
			return "", nil, fmt.Errorf("function's response: %w", err)
		}
		return "", &res, nil
	}
	var req fnRequest
	if err := json.Unmarshal(out, &req); err != nil {
		return "", nil, fmt.Errorf("function's request: %w", err)
	}
	if !strings.HasPrefix(req.URI, "/") {
		return "", nil, fmt.Errorf("function set uri %q: it must start with '/'", req.URI)
	}
	return req.URI, nil, nil
}

// ViewerResponse runs the viewer-response event on the answer about to be sent and
// applies the headers and cookies the function returns to h. The request in the event
// is the one the viewer sent, as in CloudFront.
func (f *Function) ViewerResponse(loc int, r *http.Request, distID, path, rawQuery string, status int, h http.Header) error {
	ev := requestEvent(r, distID, path, rawQuery)
	ev.Context.EventType = "viewer-response"
	ev.Response = &fnResponse{StatusCode: status, Headers: map[string]fnValue{}, Cookies: map[string]fnValue{}}
	for k, vs := range h {
		ev.Response.Headers[strings.ToLower(k)] = fnValue{Value: strings.Join(vs, ",")}
	}
	out, err := f.run(loc, ev)
	if err != nil {
		return err
	}
	var res fnResponse
	if err := json.Unmarshal(out, &res); err != nil {
		return fmt.Errorf("function returned %s: want the response object", out)
	}
	for k := range h {
		if _, ok := res.Headers[strings.ToLower(k)]; !ok {
			h.Del(k)
		}
	}
	for k, v := range res.Headers {
		h.Set(k, v.Value)
	}
	names := make([]string, 0, len(res.Cookies))
	for n := range res.Cookies {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := res.Cookies[n]
		line := n + "=" + c.Value
		if c.Attributes != "" {
			line += "; " + c.Attributes
		}
		h.Add("Set-Cookie", line)
	}
	return nil
}

// writeFunctionResponse answers with a response the viewer-request function generated.
func writeFunctionResponse(w http.ResponseWriter, res *fnResponse) {
	for k, v := range res.Headers {
		w.Header().Set(k, v.Value)
	}
	for n, c := range res.Cookies {
		line := n + "=" + c.Value
		if c.Attributes != "" {
			line += "; " + c.Attributes
		}
		w.Header().Add("Set-Cookie", line)
	}
	body := ""
	switch b := res.Body.(type) {
	case string:
		body = b
	case map[string]any:
		if d, ok := b["data"].(string); ok {
			body = d
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(res.StatusCode)
	_, _ = w.Write([]byte(body))
}
