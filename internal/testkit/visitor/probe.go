package visitor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Probe asks every edge location, every Interval, for a few paths, to tell when each
// location serves a deploy's version (Converged). It picks the location with the edge
// emulator's X-Edge-Location header. Its requests fill the caches like a visitor's would:
// a location that has dropped an entry fetches the new object for the probe.
type Probe struct {
	BaseURL   string
	Locations int      // locations 0..Locations-1
	Paths     []string // URL paths to ask for
	Interval  time.Duration
	Until     time.Time    // default: 10 minutes from Run
	Client    *http.Client // default: 10s timeout per request
	ID        string       // X-Visitor prefix, default "probe-"; location i sends ID+i
	Headers   http.Header  // extra request headers, if any
}

// Observation is one answer of one location to the probe.
type Observation struct {
	Time     time.Time // when the request was sent
	Location int
	Path     string
	Status   int // 0: no answer
	Version  int
	Err      string
}

// Run probes until ctx is done or Until passes and returns the observations in time order.
func (p Probe) Run(ctx context.Context) ([]Observation, error) {
	if p.BaseURL == "" || p.Locations <= 0 || len(p.Paths) == 0 {
		return nil, errors.New("visitor: Probe needs BaseURL, Locations > 0 and Paths")
	}
	if p.Interval <= 0 {
		p.Interval = 250 * time.Millisecond
	}
	if p.Until.IsZero() {
		p.Until = time.Now().Add(10 * time.Minute)
	}
	if p.Client == nil {
		p.Client = newClient(p.Locations)
	}
	if p.ID == "" {
		p.ID = "probe-"
	}
	ctx, cancel := context.WithDeadline(ctx, p.Until)
	defer cancel()
	base := strings.TrimRight(p.BaseURL, "/")

	var mu sync.Mutex
	var out []Observation
	var wg sync.WaitGroup
	for loc := range p.Locations {
		wg.Go(func() {
			for {
				for _, path := range p.Paths {
					o, ok := p.ask(ctx, base, loc, path)
					if !ok {
						return
					}
					mu.Lock()
					out = append(out, o)
					mu.Unlock()
				}
				if !sleep(ctx, p.Interval) {
					return
				}
			}
		})
	}
	wg.Wait()
	slices.SortStableFunc(out, func(a, b Observation) int { return a.Time.Compare(b.Time) })
	return out, nil
}

func (p Probe) ask(ctx context.Context, base string, loc int, path string) (Observation, bool) {
	o := Observation{Time: time.Now(), Location: loc, Path: path}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		o.Err = err.Error()
		return o, true
	}
	for k, vs := range p.Headers {
		req.Header[k] = vs
	}
	req.Header.Set("X-Edge-Location", strconv.Itoa(loc))
	req.Header.Set("X-Visitor", p.ID+strconv.Itoa(loc))
	resp, err := p.Client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return o, false
		}
		o.Err = err.Error()
		return o, true
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if ctx.Err() != nil {
			return o, false
		}
		o.Err = "read body: " + err.Error()
		return o, true
	}
	o.Status = resp.StatusCode
	o.Version = TextVersion(body)
	if o.Version == 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		o.Version = htmlVersion(body)
	}
	return o, true
}

// htmlVersion reads the meta marker of a page.
func htmlVersion(body []byte) int {
	p, err := ParsePage(&url.URL{Scheme: "http", Host: "probe", Path: "/"}, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	return p.Version
}

// Converged reports how long after d.Started every location served d's version of every
// probed path d serves, for good: for each location and path, the first observation
// after the last one that answered an older version (or an error). ok is false when some
// location and path never got there among the observations (or was never observed).
// Pass the observations of d's window only (until the next deploy started).
func Converged(obs []Observation, d Deploy, locations int) (after time.Duration, ok bool, err error) {
	type key struct {
		loc  int
		path string
	}
	fresh := map[key]time.Time{} // first fresh observation after the last stale one
	seen := map[key]bool{}
	paths := map[string]bool{}
	for _, o := range obs {
		if o.Time.Before(d.Started) {
			continue
		}
		want, exists := d.Files[stripQuery(o.Path)]
		if !exists {
			continue
		}
		paths[o.Path] = true
		k := key{o.Location, o.Path}
		seen[k] = true
		if o.Status >= 200 && o.Status <= 299 && o.Version >= want {
			if _, have := fresh[k]; !have {
				fresh[k] = o.Time
			}
		} else {
			delete(fresh, k)
		}
	}
	if len(paths) == 0 {
		return 0, false, errors.New("visitor: no observation of a path the deploy serves")
	}
	var last time.Time
	for loc := range locations {
		for path := range paths {
			k := key{loc, path}
			t, have := fresh[k]
			if !seen[k] || !have {
				return 0, false, nil
			}
			if t.After(last) {
				last = t
			}
		}
	}
	return last.Sub(d.Started), true, nil
}

// String formats an observation for logs.
func (o Observation) String() string {
	return fmt.Sprintf("%s loc %d %s -> %d v%d %s", o.Time.Format("15:04:05.000"), o.Location, o.Path, o.Status, o.Version, o.Err)
}
