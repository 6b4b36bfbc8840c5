// Package visitor simulates the visitors of a static site behind a CDN (in tests, the edge
// emulator of internal/testkit/edge) and judges what they got against what was deployed
// and when.
//
// A visitor loads a page and every asset the page references (ParsePage: <link href> of the
// stylesheet/icon/preload kinds, <script src>, <img src|srcset>, <source srcset>, CSS
// url() and @import, including those of the stylesheets it loads), as a browser does. A
// reader (the first Options.Readers visitors) then keeps the page open for
// Options.LazyDelay and loads the assets the page names for later: the data-lazy attribute
// of any element (the chunk a script imports on demand) and <link rel="prefetch">. Every
// request carries the visitor's stable X-Visitor header, so the edge keeps each visitor at
// one location, as a real browser stays with its nearest edge. Everything is bounded:
// pages per visitor, assets per page, time (the context and Options.Until), and a timeout
// per request.
//
// Every file of a simulated site carries a version marker (HTMLMarker, TextMarker); Judge
// compares the marker of each response with a timeline of deploys (Deploy) and flags
// broken loads (an asset answered non-2xx), stale responses after the deploy reported
// success, and mixed pages (a page and an asset of the same name from different versions).
// Probe samples every edge location for the convergence time of a deploy (Converged).
package visitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Kind tells what a load was for.
type Kind int

const (
	KindPage  Kind = iota // the page itself
	KindAsset             // an asset loaded with the page
	KindLazy              // an asset an open page loaded later
)

func (k Kind) String() string {
	switch k {
	case KindPage:
		return "page"
	case KindAsset:
		return "asset"
	case KindLazy:
		return "lazy"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Load is one request a visitor made.
type Load struct {
	Visitor string
	Kind    Kind
	// Page is the page this load belongs to (the page itself for KindPage), PageVersion the
	// version marker the page carried as the visitor got it (0: none or not loaded).
	Page        string
	PageVersion int
	URL         string // path and query, as requested
	Start, End  time.Time
	Status      int    // 0 when no response came
	Err         string // transport error or unreadable body
	Version     int    // the response's version marker, 0 when none
	Location    string // X-Amz-Cf-Pop of the response
	XCache      string
	Age         string
	ContentType string
}

// Options configures a simulation.
type Options struct {
	// BaseURL is the site's origin as visitors see it (the edge emulator's URL).
	BaseURL string
	// Pages are the URL paths visitors open, each visitor picking at random (seeded).
	// Choose pages every version of the timeline serves; the judge reports a missing page
	// as a PageError, not as broken.
	Pages []string
	// Visitors (default 8) run at once; the first Readers of them keep each page open
	// for LazyDelay (default 5s) and then load its lazy assets.
	Visitors  int
	Readers   int
	LazyDelay time.Duration
	// Think is the pause between two page views of a visitor (default 100ms).
	Think time.Duration
	// MaxPages bounds the page views per visitor (default 10,000); MaxAssets the assets
	// loaded per page view, stylesheets' references included (default 64).
	MaxPages, MaxAssets int
	// Until ends the simulation at this time even if the context does not (default: 10
	// minutes from Run).
	Until time.Time
	// ID prefixes the visitors' X-Visitor values (default "visitor-"): visitor i sends
	// ID+i.
	ID string
	// Seed makes the page choices reproducible.
	Seed uint64
	// Client sends the requests; default: a 10s timeout per request, one idle connection
	// kept per visitor.
	Client *http.Client
}

func (o *Options) defaults() error {
	if o.BaseURL == "" {
		return errors.New("visitor: Options.BaseURL is empty: give the edge's URL")
	}
	if len(o.Pages) == 0 {
		return errors.New("visitor: Options.Pages is empty: give the URL paths visitors open")
	}
	if o.Visitors <= 0 {
		o.Visitors = 8
	}
	if o.Readers > o.Visitors {
		return fmt.Errorf("visitor: Options.Readers %d is more than Options.Visitors %d", o.Readers, o.Visitors)
	}
	if o.LazyDelay <= 0 {
		o.LazyDelay = 5 * time.Second
	}
	if o.Think <= 0 {
		o.Think = 100 * time.Millisecond
	}
	if o.MaxPages <= 0 {
		o.MaxPages = 10000
	}
	if o.MaxAssets <= 0 {
		o.MaxAssets = 64
	}
	if o.Until.IsZero() {
		o.Until = time.Now().Add(10 * time.Minute)
	}
	if o.ID == "" {
		o.ID = "visitor-"
	}
	if o.Client == nil {
		o.Client = newClient(o.Visitors)
	}
	return nil
}

// newClient is the default client: a 10s timeout per request, and an idle connection kept
// per concurrent user, so that a long run reuses connections instead of leaving thousands
// of sockets in TIME_WAIT.
func newClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = conns
	return &http.Client{Timeout: 10 * time.Second, Transport: t}
}

// maxBody bounds what a visitor reads of one response.
const maxBody = 8 << 20

// Run runs the simulation until ctx is done, Options.Until passes or every visitor made
// MaxPages page views, and returns every load in the order they were sent. Requests cut
// off by the end of the simulation are not returned: they say nothing about the edge.
func Run(ctx context.Context, o Options) ([]Load, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	base, err := url.Parse(strings.TrimRight(o.BaseURL, "/") + "/")
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("visitor: Options.BaseURL %q is not an http(s) URL", o.BaseURL)
	}
	ctx, cancel := context.WithDeadline(ctx, o.Until)
	defer cancel()

	results := make([][]Load, o.Visitors)
	var wg sync.WaitGroup
	for i := range o.Visitors {
		v := &simVisitor{
			o:      &o,
			base:   base,
			id:     fmt.Sprintf("%s%d", o.ID, i),
			reader: i < o.Readers,
			rng:    rand.New(rand.NewPCG(o.Seed, uint64(i))),
		}
		wg.Go(func() {
			v.run(ctx)
			results[i] = v.loads
		})
	}
	wg.Wait()
	var all []Load
	for _, r := range results {
		all = append(all, r...)
	}
	slices.SortStableFunc(all, func(a, b Load) int { return a.Start.Compare(b.Start) })
	return all, nil
}

type simVisitor struct {
	o      *Options
	base   *url.URL
	id     string
	reader bool
	rng    *rand.Rand
	loads  []Load
}

func (v *simVisitor) run(ctx context.Context) {
	for range v.o.MaxPages {
		page := v.o.Pages[v.rng.IntN(len(v.o.Pages))]
		if !v.view(ctx, page) || !sleep(ctx, v.o.Think) {
			return
		}
	}
}

// view loads one page with its assets (and, for a reader, its lazy assets later); false
// when the simulation ended meanwhile.
func (v *simVisitor) view(ctx context.Context, page string) bool {
	pageURL, err := v.base.Parse(page)
	if err != nil {
		v.loads = append(v.loads, Load{Visitor: v.id, Kind: KindPage, Page: page, URL: page, Start: time.Now(), End: time.Now(), Err: "bad page path: " + err.Error()})
		return true
	}
	l, body, ok := v.get(ctx, KindPage, page, 0, page)
	if !ok {
		return false
	}
	if l.Status < 200 || l.Status > 299 {
		v.loads = append(v.loads, l)
		return true
	}
	p, err := ParsePage(pageURL, bytes.NewReader(body))
	if err != nil {
		l.Err = err.Error()
	}
	l.Version = p.Version
	v.loads = append(v.loads, l)

	// Assets, then the references of the stylesheets among them (one level of @import
	// deeper each round), at most MaxAssets in all.
	seen := map[string]bool{}
	queue := p.Eager
	loaded := 0
	for len(queue) > 0 && loaded < v.o.MaxAssets {
		ref := queue[0]
		queue = queue[1:]
		if seen[ref] {
			continue
		}
		seen[ref] = true
		a, abody, ok := v.get(ctx, KindAsset, page, p.Version, ref)
		if !ok {
			return false
		}
		loaded++
		v.loads = append(v.loads, a)
		if a.Status >= 200 && a.Status <= 299 && isCSS(ref, a) {
			if u, err := v.base.Parse(ref); err == nil {
				queue = append(queue, ResolveRefs(u, CSSURLs(abody))...)
			}
		}
	}
	if !v.reader || len(p.Lazy) == 0 {
		return true
	}
	if !sleep(ctx, v.o.LazyDelay) {
		return false
	}
	for _, ref := range p.Lazy[:min(len(p.Lazy), v.o.MaxAssets)] {
		a, _, ok := v.get(ctx, KindLazy, page, p.Version, ref)
		if !ok {
			return false
		}
		v.loads = append(v.loads, a)
	}
	return true
}

// get sends one GET; ok is false when the simulation ended before an answer came.
func (v *simVisitor) get(ctx context.Context, kind Kind, page string, pageVersion int, ref string) (Load, []byte, bool) {
	l := Load{Visitor: v.id, Kind: kind, Page: page, PageVersion: pageVersion, URL: ref, Start: time.Now()}
	u, err := v.base.Parse(ref)
	if err != nil {
		l.End, l.Err = time.Now(), err.Error()
		return l, nil, true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		l.End, l.Err = time.Now(), err.Error()
		return l, nil, true
	}
	req.Header.Set("X-Visitor", v.id)
	resp, err := v.o.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return l, nil, false
		}
		l.End, l.Err = time.Now(), err.Error()
		return l, nil, true
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil && ctx.Err() != nil {
		return l, nil, false
	}
	l.End = time.Now()
	l.Status = resp.StatusCode
	l.Location = resp.Header.Get("X-Amz-Cf-Pop")
	l.XCache = resp.Header.Get("X-Cache")
	l.Age = resp.Header.Get("Age")
	l.ContentType = resp.Header.Get("Content-Type")
	if err != nil {
		l.Err = "read body: " + err.Error()
		l.Status = 0 // a cut-off body is not a served asset
		return l, nil, true
	}
	if kind != KindPage {
		l.Version = TextVersion(body)
	}
	return l, body, true
}

// isCSS: a stylesheet by its type, or by its name when the origin gave no useful type.
func isCSS(ref string, l Load) bool {
	return strings.HasPrefix(l.ContentType, "text/css") || strings.HasSuffix(stripQuery(ref), ".css")
}

// sleep waits d unless ctx ends first; false when it did.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
