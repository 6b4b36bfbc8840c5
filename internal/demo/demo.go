// Package demo is the logic of `make demo` (cmd/edgeflush-demo): one CodePipeline action
// execution through the real Lambda bootstrap under the Runtime Interface Emulator, against
// moto behind the CloudFront realism proxy, printed step by step; then two executions in
// deploy mode (artifact v1, then v2) with the edge emulator in front of the site bucket,
// printing what a visitor at each edge location gets before, during and after the v2
// deploy. It exists so that a new user sees what the action does (invalidation created,
// polling, completed, job result) and what visitors get, before touching AWS.
package demo

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

// Options are the demo's knobs (flags of edgeflush-demo).
type Options struct {
	CompleteAfter time.Duration // how long CloudFront keeps the invalidation InProgress
	PollInterval  time.Duration // EDGEFLUSH_POLL_INTERVAL for the function
	PollBudget    time.Duration // EDGEFLUSH_POLL_BUDGET: then a continuation job
	Delay         time.Duration // CodePipeline's pause before invoking a continuation job
	Params        string        // UserParameters; %s is replaced by the distribution id
	Verbose       bool          // also print the function's raw log lines
	EdgeLocations int           // edge locations of the emulated distribution (deploy part)
	Sample        time.Duration // how often the visitors ask every location for "/"
}

// DefaultOptions show both ways a job ends: the invalidation takes 5 s, one invocation
// polls for about 3 s and hands over to a continuation job, which CodePipeline invokes 1 s
// later and which sees the completion while polling.
func DefaultOptions() Options {
	return Options{
		CompleteAfter: 5 * time.Second,
		PollInterval:  time.Second,
		PollBudget:    3 * time.Second,
		Delay:         time.Second,
		Params:        `{"PipelineName": "site-pipeline", "DistributionId": "%s"}`,
		EdgeLocations: 4,
		Sample:        500 * time.Millisecond,
	}
}

// Main parses args, runs the demo and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o := DefaultOptions()
	fs := flag.NewFlagSet("edgeflush-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.CompleteAfter, "complete-after", o.CompleteAfter, "how long the emulated CloudFront keeps an invalidation InProgress")
	fs.DurationVar(&o.PollInterval, "poll-interval", o.PollInterval, "the function's poll interval (EDGEFLUSH_POLL_INTERVAL)")
	fs.DurationVar(&o.PollBudget, "poll-budget", o.PollBudget, "how long one invocation polls before continuing in a new job (EDGEFLUSH_POLL_BUDGET)")
	fs.DurationVar(&o.Delay, "delay", o.Delay, "pause before CodePipeline invokes a continuation job")
	fs.StringVar(&o.Params, "params", o.Params, "UserParameters; %s stands for the demo distribution's id")
	fs.BoolVar(&o.Verbose, "v", false, "also print the function's raw JSON log lines")
	fs.IntVar(&o.EdgeLocations, "edge-locations", o.EdgeLocations, "edge locations of the emulated distribution in the deploy part")
	fs.DurationVar(&o.Sample, "sample", o.Sample, "how often a visitor at each edge location asks for / during the deploy part")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := Run(ctx, o, stdout); err != nil {
		fmt.Fprintf(stderr, "edgeflush-demo: %v\n", err)
		return 1
	}
	return 0
}

// printer writes timestamped lines; it is shared by the driver and the log follower.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%5.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// Run runs the demo and returns nil when the pipeline job chain ended in success.
func Run(ctx context.Context, o Options, w io.Writer) (err error) {
	p := &printer{w: w, start: time.Now()}
	var cleanups []func()
	defer func() {
		p.line("stopping the emulators")
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
		testkit.CleanupBuilds()
	}()

	p.line("starting moto_server (S3, CloudFront ... emulator)")
	moto, err := testkit.NewMoto()
	if err != nil {
		return err
	}
	cleanups = append(cleanups, moto.Close)
	p.line("moto_server ready at %s", moto.URL)

	cf, err := testkit.NewCloudFront(moto.URL, testkit.CloudFrontOptions{CompleteAfter: o.CompleteAfter})
	if err != nil {
		return err
	}
	cleanups = append(cleanups, cf.Close)
	p.line("CloudFront realism proxy at %s: invalidations stay InProgress for %s, then Completed", cf.URL, o.CompleteAfter)

	jobs := testkit.NewJobAPI()
	cleanups = append(cleanups, jobs.Close)
	p.line("CodePipeline job API stand-in at %s", jobs.URL)

	p.line("building the Lambda bootstrap (CGO_ENABLED=0 go build -tags lambda.norpc %s)", testkit.LambdaPackage)
	bin, err := testkit.Build(testkit.LambdaPackage)
	if err != nil {
		return err
	}
	if st, err := os.Stat(bin); err == nil {
		p.line("bootstrap built (%.1f MB)", float64(st.Size())/(1<<20))
	}

	env := append(append(append(moto.Env(), cf.Env()...), jobs.Env()...),
		"EDGEFLUSH_POLL_INTERVAL="+o.PollInterval.String(),
		"EDGEFLUSH_POLL_BUDGET="+o.PollBudget.String(),
		"EDGEFLUSH_SAFETY_MARGIN=5s",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=60",
	)
	rie, err := testkit.NewRIE(bin, env)
	if err != nil {
		return err
	}
	cleanups = append(cleanups, rie.Close)
	p.line("Lambda Runtime Interface Emulator at %s running the bootstrap", rie.URL)

	dist, err := testkit.NewDistribution(ctx, cf.URL)
	if err != nil {
		return err
	}
	params := o.Params
	if strings.Contains(params, "%s") {
		params = fmt.Sprintf(params, dist)
	}
	p.line("distribution %s created", dist)

	follow := &follower{p: p, rie: rie, verbose: o.Verbose}
	stopFollow := follow.start()
	cleanups = append(cleanups, stopFollow)

	s3cfg, err := testkit.SDKConfig(ctx, moto.URL)
	if err != nil {
		return err
	}
	st := &stack{p: p, moto: moto, cf: cf, jobs: jobs, rie: rie, follow: follow, s3cfg: s3cfg, delay: o.Delay}
	d := st.driver(params)
	chain, err := d.Run(ctx)
	follow.flush()
	if err != nil {
		return fmt.Errorf("pipeline job chain: %w", err)
	}
	res, _ := chain.Final()
	if !chain.Succeeded() {
		return fmt.Errorf("the action failed: %s", res)
	}
	if invs := cf.Invalidations(dist); len(invs) == 1 {
		p.line("done: CloudFront completed invalidation %s at +%.1fs, the pipeline got the result %.1fs later, after %d job(s) and %d invocation(s)",
			invs[0].ID, invs[0].CompleteAt.Sub(p.start).Seconds(), res.At.Sub(invs[0].CompleteAt).Seconds(), len(chain.Jobs), chain.Invocations())
	}
	return runDeploy(ctx, o, p, st)
}

// stack is the running emulators the demo's parts share.
type stack struct {
	p      *printer
	moto   *testkit.Moto
	cf     *testkit.CloudFront
	jobs   *testkit.JobAPI
	rie    *testkit.RIE
	follow *follower
	s3cfg  aws.Config
	delay  time.Duration

	mu      sync.Mutex
	onGreen func(at time.Time) // called when an execution ends in success
}

func (st *stack) setOnGreen(f func(time.Time)) {
	st.mu.Lock()
	st.onGreen = f
	st.mu.Unlock()
}

// driver plays CodePipeline for one execution with params, printing each step.
func (st *stack) driver(params string) *testkit.Driver {
	p := st.p
	return &testkit.Driver{
		Jobs:           st.jobs,
		Invoke:         st.rie.Invoker(),
		UserParameters: params,
		Delay:          st.delay,
		ResultTimeout:  30 * time.Second,
		MaxJobs:        50,
		OnStep: func(s testkit.Step) {
			st.follow.flush()
			switch s.Kind {
			case testkit.StepJobCreated:
				if s.Seq == 1 {
					p.line("pipeline: job %d (%s) with UserParameters %s", s.Seq, s.JobID, params)
				} else {
					p.line("pipeline: job %d (%s) created with the continuation token", s.Seq, s.JobID)
				}
				p.line("pipeline: invoking the function")
			case testkit.StepInvoked:
				if s.Err != nil {
					p.line("pipeline: the invocation ended with a function error after %s: %v", s.Duration.Round(time.Millisecond), s.Err)
				}
			case testkit.StepResult:
				if r := s.Result; r.Success && r.ContinuationToken == "" {
					st.mu.Lock()
					f := st.onGreen
					st.mu.Unlock()
					if f != nil {
						f(r.At)
					}
				}
				printResult(p, s, st.delay)
			}
		},
	}
}

func printResult(p *printer, s testkit.Step, delay time.Duration) {
	r := s.Result
	switch {
	case !r.Success:
		p.line("pipeline: job %d FAILED (%s): %s", s.Seq, r.FailureType, r.FailureMessage)
	case r.ContinuationToken != "":
		pct := ""
		if r.PercentComplete != nil {
			pct = fmt.Sprintf(", %d%%", *r.PercentComplete)
		}
		p.line("pipeline: job %d in progress%s (continuation token, %d chars): %s", s.Seq, pct, len(r.ContinuationToken), r.Summary)
		p.line("pipeline: invoking again in %s with a new job", delay)
	default:
		p.line("pipeline: job %d SUCCEEDED: %s", s.Seq, r.Summary)
		keys := make([]string, 0, len(r.OutputVariables))
		for k := range r.OutputVariables {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p.line("pipeline: output variable #{Namespace.%s} = %s", k, r.OutputVariables[k])
		}
	}
}

// follower turns the function's JSON log lines into readable demo lines as they appear.
type follower struct {
	p       *printer
	rie     *testkit.RIE
	verbose bool

	mu  sync.Mutex
	off int
}

func (f *follower) start() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f.flush()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// flush prints the complete log lines written since the last flush.
func (f *follower) flush() {
	f.mu.Lock()
	defer f.mu.Unlock()
	logs := f.rie.Logs()
	if len(logs) <= f.off {
		return
	}
	chunk := logs[f.off:]
	end := strings.LastIndexByte(chunk, '\n')
	if end < 0 {
		return
	}
	f.off += end + 1
	sc := bufio.NewScanner(strings.NewReader(chunk[:end+1]))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f.describe(sc.Text())
	}
}

func (f *follower) describe(line string) {
	line = strings.TrimSpace(line)
	var m map[string]any
	if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &m) != nil {
		return // the emulator's own lines
	}
	if f.verbose {
		f.p.line("  log %s", line)
	}
	str := func(k string) string {
		if v, ok := m[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	secs := ""
	if e, ok := m["elapsed"].(float64); ok {
		secs = fmt.Sprintf(" (%.1fs after the first job started)", e)
	}
	switch str("msg") {
	case "job started":
		kind := "first job"
		if m["continuation"] == true {
			kind = "continuation job"
		}
		f.p.line("  function: %s started", kind)
	case "continuing":
		f.p.line("  function: state restored from the continuation token")
	case "invalidation created":
		f.p.line("  function: invalidation %s created on %s, status %s%s", str("invalidation_id"), str("distribution"), str("status"), secs)
	case "polled":
		f.p.line("  function: polling %s on %s: %s%s", str("invalidation_id"), str("distribution"), str("status"), secs)
	case "continuing in a new job":
		f.p.line("  function: still in progress; handing over to a continuation job (token %s chars)", str("token_length"))
	case "deployed":
		f.p.line("  function: artifact synced to s3://%s: %s uploaded, %s deleted, %s invalidation path(s)", str("bucket"), str("uploaded"), str("deleted"), str("paths"))
	case "job succeeded":
		f.p.line("  function: all invalidations Completed%s", secs)
	case "job failed":
		f.p.line("  function: job failed (%s): %s", str("failure_type"), str("reason"))
	case "result reported":
		f.p.line("  function: job result reported to CodePipeline")
	default:
		if lvl := str("level"); lvl == "WARN" || lvl == "ERROR" {
			f.p.line("  function: %s: %s %s", strings.ToLower(lvl), str("msg"), str("error"))
		}
	}
}
