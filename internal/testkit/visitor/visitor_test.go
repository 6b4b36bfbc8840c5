package visitor

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// twoVersionSite serves v1 of a small site until switched, then v2: the page /a.html
// changes, the bundles are renamed (app-1 -> app-2), the lazy chunk chunk-1.js is deleted,
// and /img/logo.svg changes under the same name. Two visitors see a misbehaving edge after
// the switch: visitor-1 keeps getting all of v1 (a stale location) and visitor-2 keeps
// getting the v1 logo (a stale image next to a fresh page).
type twoVersionSite struct {
	mu       sync.Mutex
	switched time.Time
	visitors map[string]bool
	missing  int // requests without X-Visitor
}

func (s *twoVersionSite) files(v int) map[string]string {
	page := fmt.Sprintf(`<!doctype html><html><head>%s
<link rel="stylesheet" href="/assets/app-%d.css"><script src="/assets/app-%d.js"></script>
</head><body><img src="/img/logo.svg"><div data-lazy="/assets/chunk-%d.js"></div></body></html>`, HTMLMarker(v), v, v, v)
	return map[string]string{
		"/a.html":                             page,
		fmt.Sprintf("/assets/app-%d.css", v):  fmt.Sprintf("/* %s */ body { background: url(../img/bg.svg) }", TextMarker(v)),
		fmt.Sprintf("/assets/app-%d.js", v):   "// " + TextMarker(v),
		fmt.Sprintf("/assets/chunk-%d.js", v): "// " + TextMarker(v),
		"/img/logo.svg":                       "<svg><!-- " + TextMarker(v) + " --></svg>",
		"/img/bg.svg":                         "<svg><!-- " + TextMarker(1) + " --></svg>", // unchanged in v2
	}
}

func (s *twoVersionSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	visitor := r.Header.Get("X-Visitor")
	s.mu.Lock()
	if visitor == "" {
		s.missing++
	}
	s.visitors[visitor] = true
	switched := !s.switched.IsZero()
	// The reader's first page view is complete once it has its CSS's image: deploy v2 then,
	// so that its lazy load comes after the chunk it names was deleted.
	if !switched && visitor == "visitor-0" && r.URL.Path == "/img/bg.svg" {
		defer func() { s.mu.Lock(); s.switched = time.Now(); s.mu.Unlock() }()
	}
	s.mu.Unlock()
	v := 1
	if switched && visitor != "visitor-1" && !(visitor == "visitor-2" && r.URL.Path == "/img/logo.svg") {
		v = 2
	}
	w.Header().Set("X-Amz-Cf-Pop", "TEST"+strconv.Itoa(v))
	body, ok := s.files(v)[r.URL.Path]
	if !ok {
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	if strings.HasSuffix(r.URL.Path, ".css") {
		w.Header().Set("Content-Type", "text/css")
	}
	fmt.Fprint(w, body)
}

func TestRunAndJudge(t *testing.T) {
	site := &twoVersionSite{visitors: map[string]bool{}}
	srv := httptest.NewServer(site)
	t.Cleanup(srv.Close)

	start := time.Now()
	loads, err := Run(context.Background(), Options{
		BaseURL:   srv.URL,
		Pages:     []string{"/a.html"},
		Visitors:  3,
		Readers:   1,
		LazyDelay: 300 * time.Millisecond,
		Think:     20 * time.Millisecond,
		Until:     start.Add(1500 * time.Millisecond),
	})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run took %s, want it to stop at Until (1.5s)", took)
	}
	site.mu.Lock()
	switched := site.switched
	if site.missing > 0 || len(site.visitors) != 3 {
		t.Errorf("X-Visitor: %d requests without one, visitors seen %v", site.missing, site.visitors)
	}
	site.mu.Unlock()
	if switched.IsZero() {
		t.Fatal("the reader never finished its first page view")
	}
	v1, v2 := site.files(1), site.files(2)
	paths := func(m map[string]string) map[string]int {
		out := map[string]int{}
		for p, body := range m {
			out[p] = TextVersion([]byte(body))
			if out[p] == 0 {
				out[p] = htmlVersion([]byte(body))
			}
		}
		return out
	}
	tl := []Deploy{
		{Version: 1, Started: start.Add(-time.Second), Succeeded: start.Add(-time.Second), Files: paths(v1)},
		{Version: 2, Started: switched, Succeeded: switched, Files: paths(v2)},
	}
	judged := Judge(loads, tl)
	var brokenLazy, stale, mixed, readerLazy int
	for _, j := range judged {
		if j.Kind == KindLazy {
			if j.Visitor != "visitor-0" {
				t.Errorf("lazy load by %s, only visitor-0 reads", j.Visitor)
			}
			readerLazy++
		}
		if j.Broken {
			// The reader's lazy chunk, or (a race at the switch) the assets of a v1 page
			// another visitor loaded just before it.
			if j.PageVersion != 1 || !strings.Contains(j.URL, "-1.") || j.Status != 404 || j.Visitor == "visitor-1" {
				t.Errorf("unexpected broken load %+v", j.Load)
			}
			if j.Kind == KindLazy && j.Visitor == "visitor-0" {
				brokenLazy++
			}
		}
		if j.Stale {
			if !(j.Visitor == "visitor-1" || (j.Visitor == "visitor-2" && j.URL == "/img/logo.svg")) {
				t.Errorf("unexpected stale load %+v", j.Load)
			}
			stale++
		}
		if j.Mixed {
			if j.Visitor != "visitor-2" || j.URL != "/img/logo.svg" || j.PageVersion != 2 || j.Version != 1 {
				t.Errorf("unexpected mixed load %+v", j.Load)
			}
			mixed++
		}
		if j.PageError {
			t.Errorf("page error %+v", j.Load)
		}
		if j.Location == "" {
			t.Errorf("load without X-Amz-Cf-Pop %+v", j.Load)
		}
	}
	if brokenLazy == 0 || stale == 0 || mixed == 0 || readerLazy < 2 {
		t.Errorf("broken lazy %d, stale %d, mixed %d, reader lazy loads %d: want each > 0 (lazy ≥ 2)", brokenLazy, stale, mixed, readerLazy)
	}
	sum := Summarize(judged, len(tl))
	if sum[1].After.BrokenLazy < brokenLazy || sum[1].After.Stale != stale {
		t.Errorf("Summarize step 2 = %+v, want at least the %d broken lazy and the %d stale loads", sum[1], brokenLazy, stale)
	}
}

func TestRunBounds(t *testing.T) {
	var mu sync.Mutex
	pages := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if strings.HasSuffix(r.URL.Path, ".html") {
			pages[r.Header.Get("X-Visitor")]++
		}
		mu.Unlock()
		var b strings.Builder
		for i := range 100 {
			fmt.Fprintf(&b, `<img src="/img/%d.svg">`, i)
		}
		fmt.Fprint(w, b.String())
	}))
	t.Cleanup(srv.Close)
	loads, err := Run(context.Background(), Options{BaseURL: srv.URL, Pages: []string{"/p.html"}, Visitors: 2, MaxPages: 3, MaxAssets: 5, Think: time.Millisecond, ID: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if len(loads) != 2*3*(1+5) {
		t.Errorf("%d loads, want 2 visitors × 3 pages × (1 page + 5 assets)", len(loads))
	}
	mu.Lock()
	defer mu.Unlock()
	if pages["b0"] != 3 || pages["b1"] != 3 {
		t.Errorf("page views per visitor %v, want 3 each", pages)
	}

	// A cancelled context ends the run at once, and cut-off requests are not reported.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	loads, err = Run(ctx, Options{BaseURL: srv.URL, Pages: []string{"/p.html"}})
	if err != nil || len(loads) != 0 {
		t.Errorf("cancelled run: %d loads, %v", len(loads), err)
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, o := range []Options{
		{Pages: []string{"/"}},
		{BaseURL: "http://127.0.0.1:1"},
		{BaseURL: "ftp://x", Pages: []string{"/"}},
		{BaseURL: "http://127.0.0.1:1", Pages: []string{"/"}, Visitors: 1, Readers: 2},
	} {
		if _, err := Run(context.Background(), o); err == nil {
			t.Errorf("Run(%+v): no error", o)
		}
	}
}

func TestProbe(t *testing.T) {
	// Location 0 serves v2 at once, location 1 only from 300ms on.
	start := time.Now()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := 2
		if r.Header.Get("X-Edge-Location") == "1" && time.Since(start) < 300*time.Millisecond {
			v = 1
		}
		if r.Header.Get("X-Visitor") != "probe-"+r.Header.Get("X-Edge-Location") {
			http.Error(w, "bad X-Visitor", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, HTMLMarker(v))
	}))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 800*time.Millisecond)
	defer cancel()
	obs, err := Probe{BaseURL: srv.URL, Locations: 2, Paths: []string{"/"}, Interval: 50 * time.Millisecond}.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after, ok, err := Converged(obs, Deploy{Version: 2, Started: start, Files: map[string]int{"/": 2}}, 2)
	if err != nil || !ok {
		t.Fatalf("Converged: %v %v; observations %v", ok, err, obs)
	}
	if after < 300*time.Millisecond || after > 800*time.Millisecond {
		t.Errorf("converged after %s, want between 300ms and the end of the probe", after)
	}
}
