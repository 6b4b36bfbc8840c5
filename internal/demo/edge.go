package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

// demoSite is the site the deploy part ships, version v: the home page names its
// version; v2 changes the home page and the about page and keeps the asset.
func demoSite(v int) map[string]string {
	files := map[string]string{
		".edgeflush.yaml": "rules:\n  - match: \"**/*.html\"\n    headers: {Cache-Control: \"max-age=3600\"}\n" +
			"  - match: \"assets/**\"\n    headers: {Cache-Control: \"max-age=31536000, immutable\"}\n",
		"index.html":       fmt.Sprintf("<html><h1>site v%d</h1><script src=\"/assets/app.js\"></script></html>", v),
		"about/index.html": fmt.Sprintf("<p>about, v%d</p>", v),
		"assets/app.js":    "console.log('app')",
	}
	return files
}

var versionRE = regexp.MustCompile(`site v(\d+)`)

// edgeSample is what a visitor at one location got for "/".
type edgeSample struct {
	loc     int
	at      time.Time // when the request was sent
	version int       // 0: unknown (error, no marker)
	status  int
	xcache  string
	age     string
	err     error
}

func (s edgeSample) String() string {
	name := edge.LocationName(s.loc)
	switch {
	case s.err != nil:
		return name + " error"
	case s.version == 0:
		return fmt.Sprintf("%s HTTP %d", name, s.status)
	}
	kind := strings.ToLower(strings.TrimSuffix(s.xcache, " from cloudfront"))
	if s.age != "" {
		kind += " age " + s.age + "s"
	}
	return fmt.Sprintf("%s v%d %s", name, s.version, kind)
}

// sampleEdge asks every location for "/" as visitor demo-visitor-N.
func sampleEdge(ctx context.Context, client *http.Client, e *edge.Edge) []edgeSample {
	out := make([]edgeSample, e.Locations())
	for loc := range out {
		s := edgeSample{loc: loc, at: time.Now()}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.URL+"/", nil)
		if err == nil {
			req.Header.Set("X-Edge-Location", strconv.Itoa(loc))
			req.Header.Set("X-Visitor", fmt.Sprintf("demo-visitor-%d", loc))
			var resp *http.Response
			resp, err = client.Do(req)
			if err == nil {
				body, rerr := io.ReadAll(resp.Body)
				resp.Body.Close()
				err = rerr
				s.status, s.xcache, s.age = resp.StatusCode, resp.Header.Get("X-Cache"), resp.Header.Get("Age")
				if m := versionRE.FindSubmatch(body); m != nil && resp.StatusCode == http.StatusOK {
					s.version, _ = strconv.Atoi(string(m[1]))
				}
			}
		}
		s.err = err
		out[loc] = s
	}
	return out
}

func (p *printer) samples(label string, ss []edgeSample) {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	p.line("edge %-7s %s", label, strings.Join(parts, " | "))
}

// runDeploy is the demo's second part: the pipeline in deploy mode (artifact v1, then
// v2) through the same bootstrap, with the edge emulator in front of the site bucket and
// a visitor at each edge location asking for "/" before, during and after the v2 deploy.
func runDeploy(ctx context.Context, o Options, p *printer, st *stack) error {
	if o.EdgeLocations == 0 {
		o.EdgeLocations = DefaultOptions().EdgeLocations
	}
	if o.Sample <= 0 {
		o.Sample = DefaultOptions().Sample
	}
	s3c := awsconf.NewS3(st.s3cfg)
	suffix := strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	artifacts, site := "demo-artifacts-"+suffix, "demo-site-"+suffix
	for _, b := range []string{artifacts, site} {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	dist, err := testkit.NewDistribution(ctx, st.cf.URL)
	if err != nil {
		return err
	}
	e, err := edge.New(edge.Options{
		S3Endpoint:     st.moto.URL,
		Bucket:         site,
		DistributionID: dist,
		Invalidations:  st.cf.EdgeInvalidations,
		Locations:      o.EdgeLocations,
		Pretty:         edge.PrettyRewrite,
	})
	if err != nil {
		return fmt.Errorf("start the edge emulator: %w", err)
	}
	defer e.Close()
	p.line("part 2: deploy mode. Site bucket %s behind distribution %s; edge emulator at %s with %d locations (%s ... %s), cache policy CachingOptimized, pretty URLs by a viewer-request rewrite",
		site, dist, e.URL, e.Locations(), edge.LocationName(0), edge.LocationName(e.Locations()-1))
	params := fmt.Sprintf(`{"PipelineName": "site-pipeline", "DistributionId": %q, "Bucket": %q}`, dist, site)
	client := &http.Client{Timeout: 10 * time.Second}

	deploy := func(v int) error {
		zip, err := testkit.ZipFiles(demoSite(v))
		if err != nil {
			return err
		}
		key := fmt.Sprintf("site-pipeline/BuildOutput/v%d.zip", v)
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(artifacts), Key: aws.String(key), Body: bytes.NewReader(zip)}); err != nil {
			return fmt.Errorf("put artifact %s: %w", key, err)
		}
		p.line("pipeline: execution for artifact v%d (s3://%s/%s)", v, artifacts, key)
		d := st.driver(params)
		d.InputArtifacts = []testkit.Artifact{{Name: "BuildOutput", Bucket: artifacts, Key: key, Revision: fmt.Sprintf("v%d", v)}}
		chain, err := d.Run(ctx)
		st.follow.flush()
		if err != nil {
			return fmt.Errorf("deploy v%d: pipeline job chain: %w", v, err)
		}
		res, _ := chain.Final()
		if !chain.Succeeded() {
			return fmt.Errorf("deploy v%d: the action failed: %s", v, res)
		}
		return nil
	}

	// v1: nothing is cached yet, so its invalidation is quick.
	st.cf.SetCompleteAfter(o.CompleteAfter / 5)
	if err := deploy(1); err != nil {
		return err
	}
	p.samples("before", sampleEdge(ctx, client, e)) // fills every location's cache
	p.samples("before", sampleEdge(ctx, client, e))

	// v2 under a visitor per location, sampling until every location serves v2.
	st.cf.SetCompleteAfter(o.CompleteAfter)
	var (
		mu      sync.Mutex
		green   time.Time
		firstV2 = make([]time.Time, e.Locations())
		allV2   time.Time
		stale   int // answers older than v2 from a request sent after green
		after   int // answers to requests sent after green
		settled int // samples after green in which every location served v2
	)
	st.setOnGreen(func(at time.Time) { mu.Lock(); green = at; mu.Unlock() })
	defer st.setOnGreen(nil)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(sampled)
		tick := time.NewTicker(o.Sample)
		defer tick.Stop()
		for {
			ss := sampleEdge(ctx, client, e)
			mu.Lock()
			g := green
			every := true
			for _, s := range ss {
				if s.version == 2 && firstV2[s.loc].IsZero() {
					firstV2[s.loc] = s.at
				}
				if s.version != 2 {
					every = false
					firstV2[s.loc] = time.Time{} // not yet for good
				}
				if !g.IsZero() && s.at.After(g) {
					after++
					if s.version != 2 {
						stale++
					}
				}
			}
			if every && allV2.IsZero() {
				allV2 = ss[0].at
			}
			if every && !g.IsZero() && ss[0].at.After(g) {
				settled++
			}
			done := settled >= 2 // show a couple of samples after green
			mu.Unlock()
			label := "during"
			if !g.IsZero() && ss[0].at.After(g) {
				label = "after"
			}
			p.samples(label, ss)
			if done {
				return
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	if err := deploy(2); err != nil {
		close(stop)
		<-sampled
		return err
	}
	// Bounded: every location must serve v2 well within CompleteAfter after green.
	select {
	case <-sampled:
	case <-time.After(o.CompleteAfter + 10*o.Sample + 5*time.Second):
		close(stop)
		<-sampled
	}
	invs := st.cf.Invalidations(dist)
	if len(invs) == 0 {
		return fmt.Errorf("deploy v2 created no invalidation on %s", dist)
	}
	inv := invs[len(invs)-1]
	ei := edge.Invalidation{ID: inv.ID, Paths: inv.Paths, Created: inv.Created, CompleteAt: inv.CompleteAt}
	rel := func(t time.Time) string { return fmt.Sprintf("+%.1fs", t.Sub(p.start).Seconds()) }
	p.line("edge: v2 deploy started at %s; invalidation %s (%s) created at %s, Completed at %s",
		rel(start), inv.ID, strings.Join(inv.Paths, " "), rel(inv.Created), rel(inv.CompleteAt))
	mu.Lock()
	defer mu.Unlock()
	// The moment a location starts serving v2 is its drop moment for the invalidation
	// (a request then misses and fetches v2); the samples show it from the outside.
	var lastDrop time.Time
	for loc, at := range firstV2 {
		drop := edge.DropAt(ei, loc, e.Locations())
		if drop.After(lastDrop) {
			lastDrop = drop
		}
		if at.IsZero() {
			p.line("edge: %s dropped its v1 copy of / at %s but was never seen serving v2", edge.LocationName(loc), rel(drop))
			continue
		}
		p.line("edge: %s dropped its v1 copy of / at %s; its visitor got v2 from the sample at %s", edge.LocationName(loc), rel(drop), rel(at))
	}
	if allV2.IsZero() || green.IsZero() {
		p.line("edge: NOT every location was seen serving v2 after the pipeline turned green")
		return fmt.Errorf("some edge location still serves the old site after the deploy")
	}
	verdict := "before"
	if lastDrop.After(green) {
		verdict = "AFTER"
	}
	rel2 := func(t time.Time) string { return fmt.Sprintf("+%.2fs", t.Sub(p.start).Seconds()) }
	p.line("edge: every location serves v2 from %s, %.2fs %s the pipeline turned green at %s (first sample with v2 everywhere: %s)",
		rel2(lastDrop), absSeconds(green.Sub(lastDrop)), verdict, rel2(green), rel(allV2))
	p.line("edge: stale answers to requests sent after green: %d of %d", stale, after)
	if stale > 0 || lastDrop.After(green) {
		return fmt.Errorf("%d stale answers after the pipeline turned green", stale)
	}
	return nil
}

func absSeconds(d time.Duration) float64 {
	if d < 0 {
		d = -d
	}
	return d.Seconds()
}
