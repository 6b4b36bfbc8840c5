package main

// The deploy-mode scenarios (issue 10 §5): the real bootstrap deploys an artifact zip to
// a site bucket and invalidates; each scenario checks that every key a version changed
// is covered by an invalidation created for it ("stale keys left" must be 0), that every
// job got exactly one result, and that no invalidation was created twice.

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// siteVersion is a small site: 12 blog and 12 docs pages, a bundle per section and a
// shared stylesheet. blog and docs are the versions of each section (a new version
// edits every page of the section and renames its bundle).
func siteVersion(blog, docs int) map[string]string {
	files := map[string]string{"index.html": `<html><link href="/css/site.css"></html>`, "css/site.css": "body{}"}
	for _, sec := range []struct {
		name string
		v    int
	}{{"blog", blog}, {"docs", docs}} {
		files[fmt.Sprintf("assets/%s.%d.js", sec.name, sec.v)] = fmt.Sprintf("// %s v%d", sec.name, sec.v)
		for i := range 12 {
			files[fmt.Sprintf("%s/p%02d.html", sec.name, i)] = fmt.Sprintf(`<html><script src="/assets/%s.%d.js"></script><p>%d v%d</p></html>`, sec.name, sec.v, i, sec.v)
		}
	}
	return files
}

// changedKeys lists the keys whose content differs between two versions (new or
// edited; removed keys are kept for KeepRemoved and are not stale at the edge).
func changedKeys(a, b map[string]string) []string {
	var out []string
	for k, v := range b {
		if a[k] != v {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// deployEnv is one scenario run: a fresh proxy, job API, site and artifact buckets.
type deployEnv struct {
	moto      *testkit.Moto
	bin       string
	cf        *testkit.CloudFront
	jobs      *testkit.JobAPI
	s3        *s3.Client
	artifacts string
	site      string
	dist      string
	env       []string

	mu     sync.Mutex
	rie    []*testkit.RIE
	chains []*testkit.Chain
	seq    int
}

func newDeployEnv(m *testkit.Moto, bin string) (*deployEnv, error) {
	x := &deployEnv{moto: m, bin: bin, jobs: testkit.NewJobAPI()}
	cf, err := testkit.NewCloudFront(m.URL, testkit.CloudFrontOptions{CompleteAfter: completeAfter})
	if err != nil {
		return nil, err
	}
	x.cf = cf
	cfg, err := testkit.SDKConfig(context.Background(), m.URL)
	if err != nil {
		return nil, err
	}
	x.s3 = awsconf.NewS3(cfg)
	suffix := fmt.Sprintf("%d-%d", time.Now().UnixNano()%1e9, rand.N(1000))
	x.artifacts, x.site = "faults-art-"+suffix, "faults-site-"+suffix
	for _, b := range []string{x.artifacts, x.site} {
		if _, err := x.s3.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			return nil, err
		}
	}
	if x.dist, err = testkit.NewDistribution(context.Background(), cf.URL); err != nil {
		return nil, err
	}
	x.env = append(append(append(m.Env(), cf.Env()...), x.jobs.Env()...), functionEnv...)
	return x, nil
}

func (x *deployEnv) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, r := range x.rie {
		r.Close()
	}
	x.cf.Close()
	x.jobs.Close()
}

// function returns an invoker backed by its own emulated function (one execution
// environment: a second pipeline needs another), restarted when killed.
func (x *deployEnv) function() (invoke testkit.Invoker, kill func(), err error) {
	var mu sync.Mutex
	r, err := testkit.NewRIE(x.bin, x.env)
	if err != nil {
		return nil, nil, err
	}
	x.mu.Lock()
	x.rie = append(x.rie, r)
	x.mu.Unlock()
	invoke = func(ctx context.Context, payload []byte) error {
		mu.Lock()
		if r.Exited() {
			nr, err := testkit.NewRIE(x.bin, x.env)
			if err != nil {
				mu.Unlock()
				return err
			}
			r = nr
			x.mu.Lock()
			x.rie = append(x.rie, r)
			x.mu.Unlock()
		}
		cur := r
		mu.Unlock()
		_, err := cur.Invoke(ctx, payload)
		return err
	}
	kill = func() {
		mu.Lock()
		cur := r
		mu.Unlock()
		cur.Kill()
	}
	return invoke, kill, nil
}

// artifact stores files as a zip in the artifact bucket.
func (x *deployEnv) artifact(files map[string]string) (testkit.Artifact, error) {
	x.mu.Lock()
	x.seq++
	key := fmt.Sprintf("pipe/BuildOutput/%d.zip", x.seq)
	x.mu.Unlock()
	body, err := testkit.ZipFiles(files)
	if err != nil {
		return testkit.Artifact{}, err
	}
	if _, err := x.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(x.artifacts), Key: aws.String(key), Body: bytes.NewReader(body)}); err != nil {
		return testkit.Artifact{}, err
	}
	return testkit.Artifact{Name: "BuildOutput", Bucket: x.artifacts, Key: key, Revision: key}, nil
}

// execute runs one pipeline execution of the deploy action and returns its chain.
func (x *deployEnv) execute(files map[string]string, params string, tweak func(d *testkit.Driver, kill func())) (*testkit.Chain, error) {
	art, err := x.artifact(files)
	if err != nil {
		return nil, err
	}
	invoke, kill, err := x.function()
	if err != nil {
		return nil, err
	}
	d := &testkit.Driver{Jobs: x.jobs, Invoke: invoke, UserParameters: params, InputArtifacts: []testkit.Artifact{art},
		Delay: 200 * time.Millisecond, ResultTimeout: 2 * time.Minute, MaxJobs: 100}
	if tweak != nil {
		tweak(d, kill)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	chain, err := d.Run(ctx)
	if chain != nil {
		x.mu.Lock()
		x.chains = append(x.chains, chain)
		x.mu.Unlock()
	}
	return chain, err
}

func (x *deployEnv) params(extra string) string {
	return fmt.Sprintf(`{"PipelineName": "faults", "DistributionId": %q, "Bucket": %q%s}`, x.dist, x.site, extra)
}

// ids returns the ids of the invalidations created so far.
func (x *deployEnv) ids() map[string]bool {
	out := map[string]bool{}
	for _, inv := range x.cf.Invalidations(x.dist) {
		out[inv.ID] = true
	}
	return out
}

// stale counts the keys not covered by the paths of an invalidation created since
// (ids of the invalidations that existed before).
func (x *deployEnv) stale(keys []string, before map[string]bool) []string {
	var paths []string
	for _, inv := range x.cf.Invalidations(x.dist) {
		if !before[inv.ID] {
			paths = append(paths, inv.Paths...)
		}
	}
	var out []string
	for _, k := range keys {
		if !coveredBy(paths, k) {
			out = append(out, k)
		}
	}
	return out
}

func coveredBy(paths []string, key string) bool {
	u := "/" + key
	for _, p := range paths {
		raw, err := url.PathUnescape(p)
		if err != nil {
			continue
		}
		if raw == u || strings.HasSuffix(raw, "*") && strings.HasPrefix(u, strings.TrimSuffix(raw, "*")) {
			return true
		}
	}
	return false
}

// deployOutcome is what one deploy scenario run measured.
type deployOutcome struct {
	jobs, oneResult, duplicates int
	stale                       []string
	ok                          bool
	note                        string
	err                         error
}

// tally counts the jobs and their results over the scenario's chains.
func (x *deployEnv) tally(o *deployOutcome) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range x.chains {
		for _, j := range c.Jobs {
			o.jobs++
			if _, ok := x.jobs.Result(j.ID); ok {
				o.oneResult++
			}
		}
	}
}

type deployScenario struct {
	name string
	// wantInvalidations is how many invalidations the deploys must create in all
	// (more are duplicates).
	wantInvalidations int
	run               func(x *deployEnv) deployOutcome
}

func success(c *testkit.Chain, err error) error {
	if err != nil {
		return err
	}
	if !c.Succeeded() {
		r, _ := c.Final()
		return fmt.Errorf("execution ended %s", r)
	}
	return nil
}

func deployScenarios() []deployScenario {
	v1 := siteVersion(1, 1)
	return []deployScenario{
		{name: "deploy: failed after upload (CreateInvalidation denied), stage retried", wantInvalidations: 2, run: func(x *deployEnv) deployOutcome {
			var o deployOutcome
			if o.err = success(x.execute(v1, x.params(""), nil)); o.err != nil {
				return o
			}
			before := x.ids()
			v2 := siteVersion(2, 1)
			x.cf.Inject(testkit.FaultAccessDenied, 1)
			c, err := x.execute(v2, x.params(""), nil)
			if err != nil {
				o.err = err
				return o
			}
			if r, _ := c.Final(); r.Success || r.FailureType != "PermissionError" {
				o.note = "the denied job did not fail with PermissionError: " + r.String()
			}
			if o.err = success(x.execute(v2, x.params(""), nil)); o.err != nil {
				return o
			}
			o.stale = x.stale(changedKeys(v1, v2), before)
			o.ok = o.note == ""
			return o
		}},
		{name: "deploy: first event redelivered, wildcard slots half occupied", wantInvalidations: 2 + 2, run: func(x *deployEnv) deployOutcome {
			var o deployOutcome
			if o.err = success(x.execute(v1, x.params(`, "MaxPaths": 8`), nil)); o.err != nil {
				return o
			}
			x.cf.SetCompleteAfter(time.Hour)
			o.err = x.occupy(7)
			x.cf.SetCompleteAfter(completeAfter)
			if o.err != nil {
				return o
			}
			before := x.ids()
			v2 := siteVersion(2, 2)
			c, err := x.execute(v2, x.params(`, "MaxPaths": 8`), func(d *testkit.Driver, _ func()) { d.Redeliver = 1 })
			if o.err = success(c, err); o.err != nil {
				return o
			}
			o.stale = x.stale(changedKeys(v1, v2), before)
			o.ok = true
			return o
		}},
		{name: "deploy: killed at a random point, event delivered again", wantInvalidations: 2, run: func(x *deployEnv) deployOutcome {
			var o deployOutcome
			if o.err = success(x.execute(v1, x.params(""), nil)); o.err != nil {
				return o
			}
			before := x.ids()
			v2 := siteVersion(2, 2)
			c, err := x.execute(v2, x.params(""), func(d *testkit.Driver, kill func()) {
				d.LambdaRetries, d.RetryDelay = 2, 200*time.Millisecond
				first := true
				inner := d.Invoke
				d.Invoke = func(ctx context.Context, payload []byte) error {
					if first {
						first = false
						t := time.AfterFunc(time.Duration(rand.N(1500))*time.Millisecond, kill)
						defer t.Stop()
					}
					return inner(ctx, payload)
				}
			})
			if o.err = success(c, err); o.err != nil {
				return o
			}
			o.stale = x.stale(changedKeys(v1, v2), before)
			o.ok = true
			return o
		}},
		{name: "deploy: two pipelines deploy the same site at once", wantInvalidations: 3, run: func(x *deployEnv) deployOutcome {
			var o deployOutcome
			if o.err = success(x.execute(v1, x.params(""), nil)); o.err != nil {
				return o
			}
			before := x.ids()
			va, vb := siteVersion(2, 1), siteVersion(1, 2)
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, v := range []map[string]string{va, vb} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = success(x.execute(v, x.params(""), nil))
				}()
			}
			wg.Wait()
			if o.err = errorsJoin(errs); o.err != nil {
				return o
			}
			o.stale = x.stale(ledgerUnion(changedKeys(v1, va), changedKeys(v1, vb)), before)
			o.ok = true
			return o
		}},
	}
}

func ledgerUnion(a, b []string) []string {
	out := append(slices.Clone(a), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

func errorsJoin(errs []error) error {
	var parts []string
	for _, e := range errs {
		if e != nil {
			parts = append(parts, e.Error())
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}

// occupy creates one invalidation of n wildcard paths (as another pipeline would),
// holding that much of the distribution's room while it is in progress.
func (x *deployEnv) occupy(n int) error {
	cfg, err := testkit.SDKConfig(context.Background(), x.cf.URL)
	if err != nil {
		return err
	}
	var paths []string
	for i := range n {
		paths = append(paths, fmt.Sprintf("/busy%d/*", i))
	}
	_, err = cloudfront.NewFromConfig(cfg).CreateInvalidation(context.Background(), &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String(x.dist),
		InvalidationBatch: &cftypes.InvalidationBatch{CallerReference: aws.String(fmt.Sprintf("occupy-%d", time.Now().UnixNano())),
			Paths: &cftypes.Paths{Quantity: aws.Int32(int32(n)), Items: paths}},
	})
	return err
}

func runDeployScenario(m *testkit.Moto, bin string, sc deployScenario) deployOutcome {
	x, err := newDeployEnv(m, bin)
	if err != nil {
		return deployOutcome{err: err}
	}
	defer x.close()
	o := sc.run(x)
	x.tally(&o)
	if n := x.cf.Creations(x.dist); n > sc.wantInvalidations {
		o.duplicates = n - sc.wantInvalidations
	}
	return o
}

// deployReport runs the deploy scenarios and returns their table.
func deployReport(m *testkit.Moto, bin string, runs int) (string, bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Deploy mode\n\nEach run: a fresh proxy, job-API stand-in, site and artifact buckets; the bootstrap deploys a 27-file site (v1, then the scenario's versions) with `\"Bucket\"` in UserParameters. *Stale keys left* counts keys a version changed that no invalidation created for it covers (must be 0).\n\n")
	fmt.Fprintf(&b, "| scenario | runs | ended as expected | jobs | jobs with exactly one result | duplicate invalidations | stale keys left |\n|---|---|---|---|---|---|---|\n")
	allOK := true
	for _, sc := range deployScenarios() {
		var okRuns, jobs, one, dups, stale int
		var notes []string
		for r := range runs {
			o := runDeployScenario(m, bin, sc)
			status := "ok"
			if o.err != nil {
				status = o.err.Error()
				notes = append(notes, o.err.Error())
			} else if o.note != "" {
				notes = append(notes, o.note)
			}
			if o.ok && o.err == nil {
				okRuns++
			}
			jobs += o.jobs
			one += o.oneResult
			dups += o.duplicates
			stale += len(o.stale)
			if len(o.stale) > 0 {
				notes = append(notes, "stale: "+strings.Join(o.stale, " "))
			}
			fmt.Fprintf(os.Stderr, "%-80.80s run %d: %d jobs, %d stale, %s\n", sc.name, r+1, o.jobs, len(o.stale), status)
		}
		if okRuns != runs || one != jobs || dups != 0 || stale != 0 {
			allOK = false
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d |\n", sc.name, runs, okRuns, jobs, one, dups, stale)
		for _, n := range notes {
			fmt.Fprintf(&b, "|  ↳ | %s | | | | | |\n", strings.ReplaceAll(n, "|", "/"))
		}
	}
	return b.String(), allOK
}
