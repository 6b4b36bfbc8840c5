// Command edge is the visitors' benchmark of issue 9 (bench/edge/RESULTS.md): it deploys a
// generated site v1 -> v2 -> v3 under continuous visitor load through the edge emulator
// (internal/testkit/edge) with three tools, and reports per tool and step what the
// visitors got (internal/testkit/visitor): broken loads during and after the deploy, stale
// responses after the deploy reported success, mixed pages, seconds until every edge
// location served the new version, objects written and invalidation paths.
//
// The AWS side is moto (the S3 origin) and the CloudFront realism proxy
// (testkit.StartCloudFront) whose invalidations stay InProgress for -complete-after and
// feed the emulator. The tools:
//
//   - seed: the hand-made pipeline edgeflush replaces, in Go with the SDK: the S3 deploy
//     action extracts (PUTs) every file of the artifact, never deleting, then the Python
//     Lambda invalidates /* and waits for Completed;
//   - s3sync: `aws s3 sync --delete` (awscli), then /* and wait (SDK);
//   - edgeflush: `edgeflush deploy --distribution ID --wait`, this tree's binary.
//
// Run from the repository root: go run ./bench/edge -out bench/edge/RESULTS.md
// (about 3 minutes; needs moto_server and aws on PATH).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"mime"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"

	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
	"github.com/edgeflush/edgeflush/internal/testkit/visitor"
)

type config struct {
	out           string
	pages         int
	locations     int
	visitors      int
	readers       int
	lazyDelay     time.Duration
	completeAfter time.Duration
	warm          time.Duration
	settle        time.Duration
	poll          time.Duration
	tools         []string
	edgeflushBin  string
}

func main() {
	var c config
	var tools string
	flag.StringVar(&c.out, "out", "", "write the report to this file (and stdout)")
	flag.IntVar(&c.pages, "pages", 300, "pages of the generated site")
	flag.IntVar(&c.locations, "locations", 4, "edge locations")
	flag.IntVar(&c.visitors, "visitors", 20, "visitors at once")
	flag.IntVar(&c.readers, "readers", 12, "of the visitors, readers who keep each page open and then load its lazy chunk")
	flag.DurationVar(&c.lazyDelay, "lazy-delay", 6*time.Second, "how long a reader keeps a page open before loading its lazy chunk")
	flag.DurationVar(&c.completeAfter, "complete-after", 4*time.Second, "how long each invalidation stays InProgress")
	flag.DurationVar(&c.warm, "warm", 3*time.Second, "visitor load before the first measured deploy")
	flag.DurationVar(&c.settle, "settle", 0, "visitor load after each deploy reported success (default: lazy-delay + 2s)")
	flag.DurationVar(&c.poll, "poll", time.Second, "every tool's invalidation status poll interval")
	flag.StringVar(&tools, "tools", "seed,s3sync,edgeflush,edgeflush-killed,edgeflush-retried", "tools to run, comma-separated")
	flag.StringVar(&c.edgeflushBin, "edgeflush", "", "a prebuilt edgeflush binary (default: go build ./cmd/edgeflush)")
	flag.Parse()
	c.tools = strings.Split(tools, ",")
	if c.settle <= 0 {
		c.settle = c.lazyDelay + 2*time.Second
	}
	report, err := run(context.Background(), c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/edge:", err)
		os.Exit(1)
	}
	fmt.Print(report)
	if c.out != "" {
		if err := os.WriteFile(c.out, []byte(report), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "bench/edge:", err)
			os.Exit(1)
		}
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// bench is what every tool's run shares.
type bench struct {
	c        config
	moto     *testkit.Moto
	cf       *testkit.CloudFront
	s3       *s3.Client
	cfc      *cloudfront.Client
	tmp      string
	bin      string
	versions []map[string][]byte
	files    []map[string]int
	pages    []string
	client   *http.Client
}

type tool struct {
	name, label string
	deploy      func(ctx context.Context, b *bench, bucket, dist, dir string) (deployStats, error)
}

var allTools = []tool{
	{"seed", "seed flow: every file PUT, then `/*` + wait", deploySeed},
	{"s3sync", "`aws s3 sync --delete`, then `/*` + wait", deploySync},
	{"edgeflush", "`edgeflush deploy --wait`", deployEdgeflush},
	{"edgeflush-killed", "`edgeflush deploy --wait` killed (SIGKILL) at a random point, then run again", deployEdgeflushKilled},
	{"edgeflush-retried", "`edgeflush deploy --wait` whose CreateInvalidation is denied after the uploads, then run again", deployEdgeflushRetried},
}

// deployStats is what a tool wrote.
type deployStats struct {
	puts, deletes, writes int
}

// stepResult is one deploy of one tool.
type stepResult struct {
	version       int
	started, done time.Time
	stats         deployStats
	paths         []string // invalidation paths created during the deploy
	invalidations int
	converged     time.Duration
	convergedOK   bool
	probePaths    []string
}

type toolResult struct {
	tool    tool
	steps   []stepResult
	counts  []visitor.StepCounts
	loads   int
	locs    map[string]int
	records int // requests the edge answered (visitors and probe)
	hits    int // of which from a cache
}

func run(ctx context.Context, c config) (string, error) {
	var tools []tool
	for _, name := range c.tools {
		i := slices.IndexFunc(allTools, func(t tool) bool { return t.name == strings.TrimSpace(name) })
		if i < 0 {
			return "", fmt.Errorf("-tools: unknown tool %q (have seed, s3sync, edgeflush)", name)
		}
		tools = append(tools, allTools[i])
	}
	if c.readers > c.visitors || c.pages < 100 {
		return "", fmt.Errorf("-readers %d must not exceed -visitors %d, and -pages %d must be at least 100", c.readers, c.visitors, c.pages)
	}
	if slices.ContainsFunc(tools, func(t tool) bool { return t.name == "s3sync" }) {
		if _, err := exec.LookPath("aws"); err != nil {
			return "", errors.New("aws (awscli) not on PATH: install it (pip install awscli) or leave s3sync out of -tools")
		}
	}
	started := time.Now()
	load := loadAverage()
	b := &bench{c: c}
	var err error
	if b.tmp, err = os.MkdirTemp("", "bench-edge-"); err != nil {
		return "", err
	}
	defer os.RemoveAll(b.tmp)
	b.bin = c.edgeflushBin
	if b.bin == "" {
		b.bin = filepath.Join(b.tmp, "edgeflush")
		logf("building ./cmd/edgeflush")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/edgeflush").CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build ./cmd/edgeflush (run from the repository root): %v\n%s", err, out)
		}
	}
	if b.moto, err = testkit.NewMoto(); err != nil {
		return "", err
	}
	defer b.moto.Close()
	if b.cf, err = testkit.NewCloudFront(b.moto.URL, testkit.CloudFrontOptions{CompleteAfter: c.completeAfter}); err != nil {
		return "", err
	}
	defer b.cf.Close()
	s3cfg, err := testkit.SDKConfig(ctx, b.moto.URL)
	if err != nil {
		return "", err
	}
	b.s3 = s3.NewFromConfig(s3cfg, func(o *s3.Options) { o.UsePathStyle = true })
	cfcfg, err := testkit.SDKConfig(ctx, b.cf.URL)
	if err != nil {
		return "", err
	}
	b.cfc = cloudfront.NewFromConfig(cfcfg)
	b.versions = site(3, c.pages)
	for _, v := range b.versions {
		b.files = append(b.files, visitor.SiteFiles(v))
	}
	b.pages = stablePages(b.versions)
	b.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * (c.visitors + c.locations)}}

	var results []toolResult
	for _, t := range tools {
		r, err := b.runTool(ctx, t)
		if err != nil {
			return "", fmt.Errorf("%s: %w", t.name, err)
		}
		results = append(results, r)
	}
	return b.report(results, started, time.Since(started), load), nil
}

func (b *bench) runTool(ctx context.Context, t tool) (toolResult, error) {
	res := toolResult{tool: t, locs: map[string]int{}}
	bucket := "edge-" + t.name
	if _, err := b.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		return res, fmt.Errorf("create bucket: %w", err)
	}
	dist, err := testkit.NewDistribution(ctx, b.cf.URL)
	if err != nil {
		return res, err
	}
	e, err := edge.New(edge.Options{S3Endpoint: b.moto.URL, Bucket: bucket, DistributionID: dist, Invalidations: b.cf.EdgeInvalidations, Locations: b.c.locations})
	if err != nil {
		return res, err
	}
	defer e.Close()
	dir := filepath.Join(b.tmp, "site-"+t.name)

	timeline := make([]visitor.Deploy, 0, len(b.versions))
	deploy := func(v int) (stepResult, error) {
		// A fresh build: every file new (new mtimes), as CI writes it before the deploy.
		if err := writeSite(dir, b.versions[v-1]); err != nil {
			return stepResult{}, err
		}
		s := stepResult{version: v, started: time.Now()}
		timeline = append(timeline, visitor.Deploy{Version: v, Started: s.started, Files: b.files[v-1]})
		logf("%s: deploying v%d", t.name, v)
		s.stats, err = t.deploy(ctx, b, bucket, dist, dir)
		if err != nil {
			return s, fmt.Errorf("deploy v%d: %w", v, err)
		}
		s.done = time.Now()
		timeline[len(timeline)-1].Succeeded = s.done
		for _, inv := range b.cf.Invalidations(dist) {
			if !inv.Created.Before(s.started) {
				s.invalidations++
				s.paths = append(s.paths, inv.Paths...)
			}
		}
		logf("%s: v%d reported success after %.1fs", t.name, v, s.done.Sub(s.started).Seconds())
		return s, nil
	}

	first, err := deploy(1)
	if err != nil {
		return res, err
	}
	res.steps = append(res.steps, first)

	vctx, stopVisitors := context.WithCancel(ctx)
	defer stopVisitors()
	type visits struct {
		loads []visitor.Load
		err   error
	}
	visited := make(chan visits, 1)
	go func() {
		loads, err := visitor.Run(vctx, visitor.Options{
			BaseURL: e.URL, Pages: b.pages, Visitors: b.c.visitors, Readers: b.c.readers,
			LazyDelay: b.c.lazyDelay, Think: 200 * time.Millisecond, MaxPages: 2000,
			Until: time.Now().Add(5 * time.Minute), ID: t.name + "-visitor-", Seed: 1, Client: b.client,
		})
		visited <- visits{loads, err}
	}()
	time.Sleep(b.c.warm)

	for v := 2; v <= len(b.versions); v++ {
		paths := probePaths(b.files[v-2], b.files[v-1], v)
		pctx, stopProbe := context.WithCancel(ctx)
		probed := make(chan []visitor.Observation, 1)
		go func() {
			obs, _ := visitor.Probe{BaseURL: e.URL, Locations: e.Locations(), Paths: paths, Interval: 250 * time.Millisecond,
				Client: b.client, ID: t.name + "-probe-", Until: time.Now().Add(5 * time.Minute)}.Run(pctx)
			probed <- obs
		}()
		s, err := deploy(v)
		if err != nil {
			stopProbe()
			return res, err
		}
		time.Sleep(b.c.settle)
		stopProbe()
		obs := <-probed
		s.probePaths = paths
		s.converged, s.convergedOK, err = visitor.Converged(obs, timeline[v-1], e.Locations())
		if err != nil {
			return res, fmt.Errorf("v%d convergence: %w", v, err)
		}
		res.steps = append(res.steps, s)
	}
	stopVisitors()
	vs := <-visited
	if vs.err != nil {
		return res, vs.err
	}
	res.loads = len(vs.loads)
	for _, l := range vs.loads {
		res.locs[l.Location]++
	}
	for _, rec := range e.Records() {
		res.records++
		if rec.Hit {
			res.hits++
		}
	}
	res.counts = visitor.Summarize(visitor.Judge(vs.loads, timeline), len(timeline))
	return res, nil
}

// probePaths are the URLs the probe asks every location for during step v: the home
// page, the first changed page of each section and every changed file that keeps its name
// (the same-name images), at most 6; all of them existed in v-1 with other content.
func probePaths(prev, cur map[string]int, v int) []string {
	var pages, same []string
	sectionSeen := map[string]bool{}
	keys := make([]string, 0, len(cur))
	for p := range cur {
		keys = append(keys, p)
	}
	slices.Sort(keys)
	for _, p := range keys {
		if _, existed := prev[p]; !existed || cur[p] != v || p == "/index.html" {
			continue
		}
		switch {
		case p == "/":
			pages = append([]string{p}, pages...)
		case strings.HasSuffix(p, ".html"):
			sec, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
			if !sectionSeen[sec] {
				sectionSeen[sec] = true
				pages = append(pages, p)
			}
		default:
			same = append(same, p)
		}
	}
	return append(pages, same...)[:min(6, len(pages)+len(same))]
}

func siteKeys(dir string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		keys = append(keys, filepath.ToSlash(rel))
		return err
	})
	return keys, err
}

// deploySeed is the hand-made pipeline: CodePipeline's S3 deploy action with extract
// writes every file of the artifact (Content-Type from the extension, no Cache-Control,
// nothing deleted), then the Lambda invalidates /* and waits.
func deploySeed(ctx context.Context, b *bench, bucket, dist, dir string) (deployStats, error) {
	keys, err := siteKeys(dir)
	if err != nil {
		return deployStats{}, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, k := range keys {
		g.Go(func() error {
			body, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(k)))
			if err != nil {
				return err
			}
			_, err = b.s3.PutObject(gctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(body),
				ContentType: aws.String(mime.TypeByExtension(filepath.Ext(k)))})
			if err != nil {
				return fmt.Errorf("put %s: %w", k, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return deployStats{}, err
	}
	return deployStats{puts: len(keys), writes: len(keys)}, b.invalidateAll(ctx, dist)
}

// deploySync is `aws s3 sync --delete` (awscli's own Content-Type guess, no
// Cache-Control), then /* and wait.
func deploySync(ctx context.Context, b *bench, bucket, dist, dir string) (deployStats, error) {
	cmd := exec.CommandContext(ctx, "aws", "--endpoint-url", b.moto.URL, "s3", "sync", dir, "s3://"+bucket, "--delete", "--no-progress")
	cmd.Env = append(withoutAWS(os.Environ()), testkit.BaseEnv(b.moto.URL)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return deployStats{}, fmt.Errorf("aws s3 sync: %v\n%s", err, out)
	}
	var s deployStats
	for _, line := range strings.Split(string(out), "\n") {
		switch {
		case strings.HasPrefix(line, "upload:"):
			s.puts++
		case strings.HasPrefix(line, "delete:"):
			s.deletes++
		}
	}
	s.writes = s.puts + s.deletes
	return s, b.invalidateAll(ctx, dist)
}

// deployEdgeflushKilled starts the real binary, kills it after a random delay within
// the time a deploy takes here (before, during or after its uploads or its
// invalidation), then runs it again to the end: the second run's report is the
// deploy's (what the first wrote before the kill is not counted).
func deployEdgeflushKilled(ctx context.Context, b *bench, bucket, dist, dir string) (deployStats, error) {
	cmd := edgeflushCmd(ctx, b, bucket, dist, dir)
	if err := cmd.Start(); err != nil {
		return deployStats{}, err
	}
	delay := time.Duration(rand.Int64N(int64(3 * time.Second)))
	t := time.AfterFunc(delay, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	killed := !t.Stop()
	logf("edgeflush-killed: first run %s after %s (%v)", map[bool]string{true: "killed", false: "finished"}[killed], delay.Round(time.Millisecond), err)
	return deployEdgeflush(ctx, b, bucket, dist, dir)
}

// deployEdgeflushRetried makes the first run's CreateInvalidation fail (AccessDenied,
// as on a first setup without the permission) after its uploads, then runs it again:
// the retry has nothing left to upload and must still invalidate what the first run
// changed (the site's ledger).
func deployEdgeflushRetried(ctx context.Context, b *bench, bucket, dist, dir string) (deployStats, error) {
	b.cf.Inject(testkit.FaultAccessDenied, 1)
	if _, err := deployEdgeflush(ctx, b, bucket, dist, dir); err == nil {
		return deployStats{}, fmt.Errorf("edgeflush-retried: the first run succeeded although its invalidation was denied")
	}
	logf("edgeflush-retried: first run failed after its uploads, as injected; running it again")
	return deployEdgeflush(ctx, b, bucket, dist, dir)
}

func edgeflushCmd(ctx context.Context, b *bench, bucket, dist, dir string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, b.bin, "deploy", dir, "--bucket", bucket, "--distribution", dist, "--wait",
		"--poll-interval", b.c.poll.String(), "--output", "json")
	cmd.Env = append(append(withoutAWS(os.Environ()), testkit.BaseEnv(b.moto.URL)...), b.cf.Env()...)
	return cmd
}

// deployEdgeflush runs the real binary: deploy by content, exact invalidation, --wait.
func deployEdgeflush(ctx context.Context, b *bench, bucket, dist, dir string) (deployStats, error) {
	cmd := exec.CommandContext(ctx, b.bin, "deploy", dir, "--bucket", bucket, "--distribution", dist, "--wait",
		"--poll-interval", b.c.poll.String(), "--output", "json")
	cmd.Env = append(append(withoutAWS(os.Environ()), testkit.BaseEnv(b.moto.URL)...), b.cf.Env()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return deployStats{}, fmt.Errorf("edgeflush deploy: %v\n%s", err, stderr.String())
	}
	var doc struct {
		Uploads      []json.RawMessage `json:"uploads"`
		Deletes      []string          `json:"deletes"`
		DeletedAfter []string          `json:"deletedAfterInvalidation"`
		Writes       int               `json:"writes"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return deployStats{}, fmt.Errorf("edgeflush deploy --output json: %w\n%s", err, out)
	}
	// Removed pages go once the invalidation completed; removed assets are kept for
	// --keep-removed (24 h by default), so a later deploy deletes them.
	deletes := len(doc.Deletes) + len(doc.DeletedAfter)
	return deployStats{puts: len(doc.Uploads), deletes: deletes, writes: doc.Writes + len(doc.DeletedAfter)}, nil
}

// invalidateAll is the seed Lambda's part: CreateInvalidation /* and poll GetInvalidation
// until Completed (every b.c.poll, as edgeflush is run with --poll-interval).
func (b *bench) invalidateAll(ctx context.Context, dist string) error {
	out, err := b.cfc.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: aws.String(dist), InvalidationBatch: &cftypes.InvalidationBatch{
		CallerReference: aws.String(fmt.Sprintf("bench-edge-%d", time.Now().UnixNano())),
		Paths:           &cftypes.Paths{Quantity: aws.Int32(1), Items: []string{"/*"}},
	}})
	if err != nil {
		return fmt.Errorf("create invalidation: %w", err)
	}
	w := cloudfront.NewInvalidationCompletedWaiter(b.cfc, func(o *cloudfront.InvalidationCompletedWaiterOptions) {
		o.MinDelay, o.MaxDelay = b.c.poll, b.c.poll
	})
	return w.Wait(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(dist), Id: out.Invalidation.Id}, 5*time.Minute)
}

// withoutAWS drops the caller's AWS_* variables so that only the emulators' settings apply.
func withoutAWS(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "AWS_") })
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
