// Package releasesim runs the release flow end to end under load, for the release test and
// bench/releases: internal/release deploys into moto and switches the KeyValueStore
// stand-in (testkit/kvs, a propagation delay per location); the edge emulator
// (testkit/edge) runs the shipped function (deploy/edge/releases.js) in front of the
// bucket; the visitor simulation (testkit/visitor) loads pages, assets and lazy chunks the
// whole time, each visitor keeping its own cookies as a browser does; a probe asks every
// location for the home page to time each switch. The visitors are judged against the
// timeline of switches (visitor.Judge), with a release's success being the moment every
// location has it.
package releasesim

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	edgefn "github.com/edgeflush/edgeflush/deploy/edge"
	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/release"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
	"github.com/edgeflush/edgeflush/internal/testkit/kvs"
	"github.com/edgeflush/edgeflush/internal/testkit/visitor"
)

// Step is one switch of the scenario: a release of Version deployed from Site(Version),
// or, with Rollback, the release made earlier for Version made current again.
type Step struct {
	Version  int
	Rollback bool
}

// Options configure a run.
type Options struct {
	MotoURL string
	Bucket  string
	// Site returns the files of a version (keys are paths in the tree); every file carries
	// its version marker (visitor.HTMLMarker / TextMarker).
	Site func(v int) map[string][]byte
	// Steps: the first is deployed before the visitors arrive.
	Steps     []Step
	Pages     []string // URL paths the visitors open
	Locations int
	// Delays are the KeyValueStore propagation delays per location.
	Delays            []time.Duration
	Visitors, Readers int
	LazyDelay, Think  time.Duration
	// Warm is how long visitors run before the first switch; Settle how long each switch
	// is left alone after every location has it.
	Warm, Settle time.Duration
}

// StepReport is what one switch did and what the visitors got.
type StepReport struct {
	Step
	ID string
	// Duration is from the start of the deploy (or rollback) to the KeyValueStore write.
	Duration time.Duration
	// SwitchTime is from the write to the moment the last location served the version
	// (probe), -1 when not observed.
	SwitchTime       time.Duration
	Uploaded, Copied int
	Writes           int // S3 write requests; the KeyValueStore switch is one more call
	During, After    visitor.Counts
	WrongPagesAfter  int // page views after every location switched that got another version
	// StaleAfter counts the judge's stale loads after success that a visitor should not
	// get: pages, and assets of pages of the new version. OpenPageAssetsAfter counts the
	// rest of the judge's stale loads: assets of a page opened before the switch, sent
	// after it, served from the page's own release by design (consistent, not mixed).
	StaleAfter, OpenPageAssetsAfter int
	Started, Succeeded              time.Time
}

// Report is a whole run.
type Report struct {
	Steps        []StepReport
	Loads        int
	EdgeRequests int
	EdgeHits     int
	Locations    map[string]int
}

// cookieKeeper keeps one cookie jar per X-Visitor, as each browser keeps its own. It
// ignores the attributes (Secure, Max-Age): the emulator speaks plain HTTP and a run is far
// shorter than the grace period.
type cookieKeeper struct {
	base http.RoundTripper
	mu   sync.Mutex
	jars map[string]map[string]string
}

func (c *cookieKeeper) RoundTrip(r *http.Request) (*http.Response, error) {
	who := r.Header.Get("X-Visitor")
	r = r.Clone(r.Context())
	c.mu.Lock()
	var parts []string
	for k, v := range c.jars[who] {
		parts = append(parts, k+"="+v)
	}
	c.mu.Unlock()
	if len(parts) > 0 {
		r.Header.Set("Cookie", strings.Join(parts, "; "))
	}
	resp, err := c.base.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	if sc := resp.Header.Values("Set-Cookie"); len(sc) > 0 {
		c.mu.Lock()
		if c.jars[who] == nil {
			c.jars[who] = map[string]string{}
		}
		for _, line := range sc {
			nv, _, _ := strings.Cut(line, ";")
			if n, v, ok := strings.Cut(strings.TrimSpace(nv), "="); ok {
				c.jars[who][n] = v
			}
		}
		c.mu.Unlock()
	}
	return resp, nil
}

// Run runs the scenario.
func Run(ctx context.Context, o Options) (Report, error) {
	if len(o.Steps) < 2 || o.Steps[0].Rollback {
		return Report{}, errors.New("releasesim: give an initial deploy and at least one more step")
	}
	s3cfg, err := testkit.SDKConfig(ctx, o.MotoURL)
	if err != nil {
		return Report{}, err
	}
	s3c := awsconf.NewS3(s3cfg, func(so *s3.Options) { so.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(o.Bucket)}); err != nil {
		return Report{}, fmt.Errorf("create bucket %s: %w", o.Bucket, err)
	}
	store := kvs.New(kvs.Options{Delays: o.Delays})
	defer store.Close()
	arn, _ := store.CreateStore(o.Bucket)
	kcfg, err := testkit.SDKConfig(ctx, store.URL)
	if err != nil {
		return Report{}, err
	}
	kc := awsconf.NewKeyValueStore(kcfg)
	fn, err := edge.NewFunction(edgefn.ReleasesJS, store.View(arn))
	if err != nil {
		return Report{}, err
	}
	e, err := edge.New(edge.Options{S3Endpoint: o.MotoURL, Bucket: o.Bucket, OriginPath: "/site", Locations: o.Locations, Function: fn})
	if err != nil {
		return Report{}, err
	}
	defer e.Close()
	ro := release.Options{Bucket: o.Bucket, Prefix: "site", KvsARN: arn}

	ids := map[int]string{}
	var tl []visitor.Deploy
	var reps []StepReport
	do := func(st Step) error {
		files := o.Site(st.Version)
		d := visitor.Deploy{Version: st.Version, Started: time.Now(), Files: visitor.SiteFiles(files)}
		rep := StepReport{Step: st, Started: d.Started}
		var at time.Time
		if st.Rollback {
			id, ok := ids[st.Version]
			if !ok {
				return fmt.Errorf("releasesim: no release of v%d to roll back to", st.Version)
			}
			r, _, t, err := release.Rollback(ctx, s3c, kc, id, ro)
			if err != nil {
				return err
			}
			rep.ID, at, rep.Writes = r.ID, t, 1 // the index (and the KeyValueStore switch)
		} else {
			fsys := fstest.MapFS{}
			for k, b := range files {
				fsys[k] = &fstest.MapFile{Data: b}
			}
			res, err := release.Deploy(ctx, s3c, kc, fsys, ro)
			if err != nil {
				return err
			}
			ids[st.Version] = res.Release.ID
			rep.ID, at = res.Release.ID, res.SwitchedAt
			rep.Uploaded, rep.Copied, rep.Writes = len(res.Uploaded), len(res.Copied), res.Writes
		}
		rep.Duration = at.Sub(d.Started)
		d.Succeeded = at.Add(store.MaxDelay())
		rep.Succeeded = d.Succeeded
		tl = append(tl, d)
		reps = append(reps, rep)
		return nil
	}
	if err := do(o.Steps[0]); err != nil {
		return Report{}, err
	}
	// The visitors arrive once every location has the first release: before that, a
	// location without any release passes requests through to the bare prefix.
	select {
	case <-ctx.Done():
		return Report{}, ctx.Err()
	case <-time.After(time.Until(tl[0].Succeeded)):
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	keeper := &cookieKeeper{base: &http.Transport{MaxIdleConnsPerHost: o.Visitors + 2}, jars: map[string]map[string]string{}}
	type result struct {
		loads []visitor.Load
		err   error
	}
	loadsCh := make(chan result, 1)
	go func() {
		l, err := visitor.Run(runCtx, visitor.Options{BaseURL: e.URL, Pages: o.Pages, Visitors: o.Visitors, Readers: o.Readers,
			LazyDelay: o.LazyDelay, Think: o.Think, Until: time.Now().Add(30 * time.Minute),
			Client: &http.Client{Timeout: 10 * time.Second, Transport: keeper}})
		loadsCh <- result{l, err}
	}()
	probeCh := make(chan []visitor.Observation, 1)
	go func() {
		obs, _ := visitor.Probe{BaseURL: e.URL, Locations: e.Locations(), Paths: []string{"/"}, Interval: 20 * time.Millisecond,
			Until: time.Now().Add(30 * time.Minute)}.Run(runCtx)
		probeCh <- obs
	}()
	sleep := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	if err := sleep(o.Warm); err != nil {
		return Report{}, err
	}
	for _, st := range o.Steps[1:] {
		if err := do(st); err != nil {
			stop()
			<-loadsCh
			<-probeCh
			return Report{}, err
		}
		if err := sleep(time.Until(tl[len(tl)-1].Succeeded) + o.Settle); err != nil {
			return Report{}, err
		}
	}
	stop()
	res := <-loadsCh
	obs := <-probeCh
	if res.err != nil {
		return Report{}, res.err
	}

	judged := visitor.Judge(res.loads, tl)
	sums := visitor.Summarize(judged, len(tl))
	for i := range reps {
		reps[i].During, reps[i].After = sums[i].During, sums[i].After
		reps[i].SwitchTime = switchTime(obs, tl, i, reps[i].Started.Add(reps[i].Duration), e.Locations())
	}
	for _, j := range judged {
		if j.Step < 0 || j.During {
			continue
		}
		if j.Kind == visitor.KindPage && j.Status == 200 && j.Version != tl[j.Step].Version {
			reps[j.Step].WrongPagesAfter++
		}
		if j.Stale {
			if j.Kind == visitor.KindPage || j.PageVersion == tl[j.Step].Version {
				reps[j.Step].StaleAfter++
			} else {
				reps[j.Step].OpenPageAssetsAfter++
			}
		}
	}
	rep := Report{Steps: reps, Loads: len(res.loads), Locations: map[string]int{}}
	for _, l := range res.loads {
		rep.Locations[l.Location]++
	}
	for _, r := range e.Records() {
		rep.EdgeRequests++
		if r.Hit {
			rep.EdgeHits++
		}
	}
	return rep, nil
}

// switchTime is how long after the write at `at` every location served step i's version
// of "/" for good (until the next step started), -1 when the probe never saw it.
func switchTime(obs []visitor.Observation, tl []visitor.Deploy, i int, at time.Time, locations int) time.Duration {
	end := time.Now().Add(time.Hour)
	if i+1 < len(tl) {
		end = tl[i+1].Started
	}
	want := tl[i].Version
	first := make([]time.Time, locations) // first fresh observation after the last other one
	for _, o := range obs {
		if o.Time.Before(tl[i].Started) || !o.Time.Before(end) || o.Location >= locations {
			continue
		}
		if o.Status == 200 && o.Version == want {
			if first[o.Location].IsZero() {
				first[o.Location] = o.Time
			}
		} else {
			first[o.Location] = time.Time{}
		}
	}
	var last time.Time
	for _, t := range first {
		if t.IsZero() {
			return -1
		}
		if t.After(last) {
			last = t
		}
	}
	return max(last.Sub(at), 0)
}

// Total sums the counts of every step after the first, during and after.
func (r Report) Total() (during, after visitor.Counts) {
	for _, s := range r.Steps[1:] {
		during = add(during, s.During)
		after = add(after, s.After)
	}
	return during, after
}

func add(a, b visitor.Counts) visitor.Counts {
	return visitor.Counts{Loads: a.Loads + b.Loads, Pages: a.Pages + b.Pages, Assets: a.Assets + b.Assets, Lazy: a.Lazy + b.Lazy,
		Broken: a.Broken + b.Broken, BrokenLazy: a.BrokenLazy + b.BrokenLazy, Stale: a.Stale + b.Stale, Mixed: a.Mixed + b.Mixed,
		PageErrors: a.PageErrors + b.PageErrors}
}
