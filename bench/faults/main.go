// Command faults is the fault-injection report of issue 6 §1: it runs pipeline executions
// of the real Lambda bootstrap under the Runtime Interface Emulator against moto, the
// CloudFront realism proxy and the CodePipeline job-API stand-in, with one kind of fault
// per scenario, and reports per scenario: executions and jobs run, jobs that reached
// exactly one result, executions that ended with a terminal result of the expected kind,
// duplicate invalidations, and time to the terminal result.
//
// The deploy-mode scenarios (deploy.go) add stale keys left: keys a version changed that
// no invalidation created for it covers.
//
// Run: go run ./bench/faults [-runs 5] [-deploy-runs 3] [-out bench/faults/RESULTS.md]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

func main() {
	runs := flag.Int("runs", 5, "executions per scenario")
	flag.IntVar(&deployRuns, "deploy-runs", 3, "runs per deploy-mode scenario (0: none)")
	flag.BoolVar(&deployOnly, "deploy-only", false, "run the deploy-mode scenarios only")
	out := flag.String("out", "", "also write the report to this file")
	parallel := flag.Int("parallel", 3, "scenarios run at the same time")
	flag.Parse()
	if err := run(*runs, *parallel, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench/faults:", err)
		os.Exit(1)
	}
}

// deployRuns is the number of runs per deploy-mode scenario (deploy.go); deployOnly
// skips the invalidate-only scenarios.
var (
	deployRuns int
	deployOnly bool
)

// Function settings: short polling so that a run takes seconds, not minutes.
var functionEnv = []string{
	"EDGEFLUSH_POLL_INTERVAL=200ms",
	"EDGEFLUSH_POLL_BUDGET=1s",
	"EDGEFLUSH_SAFETY_MARGIN=5s",
	"AWS_LAMBDA_FUNCTION_TIMEOUT=60",
}

// completeAfter is how long every invalidation stays InProgress.
const completeAfter = 1500 * time.Millisecond

// execution is the environment of one pipeline execution: a fresh proxy, job API and
// emulated function, so that executions cannot disturb each other.
type execution struct {
	moto *testkit.Moto
	bin  string
	cf   *testkit.CloudFront
	jobs *testkit.JobAPI
	env  []string

	mu      sync.Mutex
	rie     *testkit.RIE
	killed  bool
	kills   int
	started int
}

func (x *execution) startRIE() error {
	r, err := testkit.NewRIE(x.bin, x.env)
	if err != nil {
		return err
	}
	x.rie, x.killed = r, false
	x.started++
	return nil
}

func (x *execution) kill() {
	x.mu.Lock()
	r := x.rie
	x.killed = true
	x.kills++
	x.mu.Unlock()
	r.Kill()
}

// invoke delivers an event; a killed environment is replaced by a fresh one first, as
// Lambda would run the retry in a new execution environment.
func (x *execution) invoke(ctx context.Context, payload []byte) error {
	x.mu.Lock()
	if x.killed || x.rie.Exited() {
		if err := x.startRIE(); err != nil {
			x.mu.Unlock()
			return err
		}
	}
	r := x.rie
	x.mu.Unlock()
	_, err := r.Invoke(ctx, payload)
	return err
}

func (x *execution) close() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.rie != nil {
		x.rie.Close()
	}
	x.cf.Close()
	x.jobs.Close()
}

// scenario describes one kind of fault.
type scenario struct {
	name string
	// distributions per execution
	dists int
	// expect is the terminal result every execution must end with: "success" or a
	// failure type.
	expect string
	// setup injects the faults before the execution and adjusts the driver.
	setup func(x *execution, d *testkit.Driver)
	// killOnCreate kills the function right after CloudFront created the first invalidation.
	killOnCreate bool
}

func scenarios() []scenario {
	return []scenario{
		{name: "baseline (no fault)", dists: 1, expect: "success"},
		{name: "Throttling (Rate exceeded): 2 on create, 3 on get", dists: 1, expect: "success", setup: func(x *execution, d *testkit.Driver) {
			x.cf.Inject(testkit.FaultThrottling, 2)
			x.cf.InjectOp(testkit.OpGetInvalidation, testkit.FaultThrottling, 3)
		}},
		{name: "503 ServiceUnavailable: 2 on create, 2 on get", dists: 1, expect: "success", setup: func(x *execution, d *testkit.Driver) {
			x.cf.Inject(testkit.FaultServiceUnavailable, 2)
			x.cf.InjectOp(testkit.OpGetInvalidation, testkit.FaultServiceUnavailable, 2)
		}},
		{name: "dropped connections: before create, after create (answer lost), on get", dists: 1, expect: "success", setup: func(x *execution, d *testkit.Driver) {
			x.cf.Inject(testkit.FaultDropConnection, 1)
			x.cf.Inject(testkit.FaultDropResponse, 1)
			x.cf.InjectOp(testkit.OpGetInvalidation, testkit.FaultDropConnection, 1)
		}},
		{name: "TooManyInvalidationsInProgress burst (12 creates refused)", dists: 1, expect: "success", setup: func(x *execution, d *testkit.Driver) {
			x.cf.Inject(testkit.FaultTooManyInvalidations, 12)
		}},
		{name: "first event redelivered twice", dists: 1, expect: "success", setup: func(x *execution, d *testkit.Driver) {
			d.Redeliver = 2
		}},
		{name: "killed between CreateInvalidation and PutJobSuccessResult, event delivered again", dists: 1, expect: "success", killOnCreate: true, setup: func(x *execution, d *testkit.Driver) {
			d.LambdaRetries = 2
			d.RetryDelay = 200 * time.Millisecond // Lambda waits about 1 minute
		}},
		{name: "continuation token from an older format", dists: 1, expect: "JobFailed", setup: func(x *execution, d *testkit.Driver) {
			d.RewriteToken = func(seq int, tok string) string {
				// What a previous build's token looks like to this one: another version prefix.
				if _, body, ok := strings.Cut(tok, "."); ok {
					return "v0." + body
				}
				return "v0." + tok
			}
		}},
		{name: "everything at once, 3 distributions", dists: 3, expect: "success", killOnCreate: true, setup: func(x *execution, d *testkit.Driver) {
			x.cf.Inject(testkit.FaultThrottling, 1)
			x.cf.Inject(testkit.FaultDropResponse, 1)
			x.cf.Inject(testkit.FaultTooManyInvalidations, 4)
			x.cf.Inject(testkit.FaultServiceUnavailable, 1)
			x.cf.InjectOp(testkit.OpGetInvalidation, testkit.FaultDropConnection, 1)
			x.cf.InjectOp(testkit.OpGetInvalidation, testkit.FaultThrottling, 2)
			d.Redeliver = 1
			d.LambdaRetries = 2
			d.RetryDelay = 200 * time.Millisecond
		}},
	}
}

// outcome is what one execution measured.
type outcome struct {
	jobs, jobsOneResult, invocations, functionErrors, refusedSeconds int
	terminalOK                                                       bool
	duplicates                                                       int
	timeToResult                                                     time.Duration
	kills, faults                                                    int
	err                                                              error
	final                                                            string
}

func runOne(m *testkit.Moto, bin string, sc scenario) outcome {
	x := &execution{moto: m, bin: bin, jobs: testkit.NewJobAPI()}
	var once sync.Once
	opts := testkit.CloudFrontOptions{CompleteAfter: completeAfter}
	if sc.killOnCreate {
		opts.OnCreate = func(testkit.ProxyInvalidation) { once.Do(x.kill) }
	}
	cf, err := testkit.NewCloudFront(m.URL, opts)
	if err != nil {
		return outcome{err: err}
	}
	x.cf = cf
	defer x.close()
	x.env = append(append(append(m.Env(), cf.Env()...), x.jobs.Env()...), functionEnv...)
	x.mu.Lock()
	err = x.startRIE()
	x.mu.Unlock()
	if err != nil {
		return outcome{err: err}
	}
	var dists []string
	for i := 0; i < sc.dists; i++ {
		id, err := testkit.NewDistribution(context.Background(), cf.URL)
		if err != nil {
			return outcome{err: err}
		}
		dists = append(dists, strconv.Quote(id))
	}
	d := &testkit.Driver{
		Jobs:           x.jobs,
		Invoke:         x.invoke,
		UserParameters: fmt.Sprintf(`{"PipelineName": "faults", "DistributionIds": [%s]}`, strings.Join(dists, ",")),
		Delay:          200 * time.Millisecond,
		ResultTimeout:  2 * time.Minute,
		MaxJobs:        100,
	}
	if sc.setup != nil {
		sc.setup(x, d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	chain, err := d.Run(ctx)
	o := outcome{err: err}
	if chain == nil {
		return o
	}
	o.jobs = len(chain.Jobs)
	o.invocations = chain.Invocations()
	for _, j := range chain.Jobs {
		if _, ok := x.jobs.Result(j.ID); ok {
			o.jobsOneResult++ // the stand-in accepts one result per job and refuses the rest
		}
		o.refusedSeconds += len(x.jobs.Rejected(j.ID))
		for _, inv := range j.Invocations {
			if inv.Err != nil {
				o.functionErrors++
			}
		}
	}
	if res, ok := chain.Final(); ok {
		o.timeToResult = res.At.Sub(chain.Start)
		switch {
		case res.Success && res.ContinuationToken == "":
			o.final = "success"
		case !res.Success:
			o.final = res.FailureType
		}
		o.terminalOK = o.final == sc.expect
	}
	o.faults = cf.FaultsServed(0)
	o.duplicates = cf.Creations("") - sc.dists
	if o.duplicates < 0 {
		o.duplicates = 0 // a failed execution may create fewer
	}
	x.mu.Lock()
	o.kills = x.kills
	x.mu.Unlock()
	return o
}

type row struct {
	sc       scenario
	outcomes []outcome
}

func run(runs, parallel int, out string) error {
	fmt.Fprintln(os.Stderr, "starting moto and building the bootstrap ...")
	m, err := testkit.NewMoto()
	if err != nil {
		return err
	}
	defer m.Close()
	bin, err := testkit.Build(testkit.LambdaPackage)
	if err != nil {
		return err
	}
	defer testkit.CleanupBuilds()

	scs := scenarios()
	if deployOnly {
		scs = nil
	}
	rows := make([]row, len(scs))
	sem := make(chan struct{}, max(1, parallel))
	var wg sync.WaitGroup
	start := time.Now()
	for i, sc := range scs {
		rows[i].sc = sc
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			for r := 0; r < runs; r++ {
				o := runOne(m, bin, sc)
				rows[i].outcomes = append(rows[i].outcomes, o)
				status := "ok"
				if o.err != nil {
					status = o.err.Error()
				}
				fmt.Fprintf(os.Stderr, "%-80.80s run %d: %s, %d jobs, %s\n", sc.name, r+1, o.final, o.jobs, status)
			}
		}()
	}
	wg.Wait()
	deployTable, deployOK := "", true
	if deployRuns > 0 {
		deployTable, deployOK = deployReport(m, bin, deployRuns)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Fault injection through the real bootstrap\n\nGenerated by `%s` on %s in %s. Each execution: a fresh CloudFront realism proxy (invalidations InProgress for %s), job-API stand-in and emulated function; the real bootstrap (`./cmd/edgeflush-lambda`) under aws-lambda-rie; the driver re-invokes continuation jobs 200 ms apart; the function polls every 200 ms for up to 1 s per invocation (EDGEFLUSH_POLL_INTERVAL/EDGEFLUSH_POLL_BUDGET). Throttling and 503 go through the SDK retryer of internal/awsconf (8 attempts, exponential backoff with jitter), which is most of the time to result in those rows.\n\n",
		strings.TrimSpace("go run ./bench/faults "+strings.Join(os.Args[1:], " ")), time.Now().UTC().Format("2006-01-02 15:04 UTC"), time.Since(start).Round(time.Second), completeAfter)
	fmt.Fprintf(&b, "| scenario | expected end | executions | faults served | ended as expected | jobs | jobs with exactly one result | second results refused | duplicate invalidations | function errors (invocations) | time to result median / max (s) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	allOK := true
	for _, r := range rows {
		var execs, okEnd, jobs, one, refused, dups, ferr, invs, faults int
		var times []float64
		var errs []string
		for _, o := range r.outcomes {
			execs++
			if o.err != nil {
				errs = append(errs, o.err.Error())
			}
			if o.terminalOK && o.err == nil {
				okEnd++
			}
			jobs += o.jobs
			faults += o.faults + o.kills
			one += o.jobsOneResult
			refused += o.refusedSeconds
			dups += o.duplicates
			ferr += o.functionErrors
			invs += o.invocations
			times = append(times, o.timeToResult.Seconds())
		}
		slices.Sort(times)
		med, mx := 0.0, 0.0
		if len(times) > 0 {
			med, mx = times[len(times)/2], times[len(times)-1]
		}
		if okEnd != execs || one != jobs || dups != 0 {
			allOK = false
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %d | %d | %d | %d (%d) | %.1f / %.1f |\n", r.sc.name, r.sc.expect, execs, faults, okEnd, jobs, one, refused, dups, ferr, invs, med, mx)
		for _, e := range errs {
			fmt.Fprintf(&b, "|  ↳ error | %s | | | | | | | | | |\n", strings.ReplaceAll(e, "|", "/"))
		}
	}
	allOK = allOK && deployOK
	verdict := "All executions ended with one terminal result of the expected kind, every job got exactly one result, no invalidation was created twice, and no changed key was left uncovered."
	if !allOK {
		verdict = "**Some executions did not meet the bar; see the rows above.**"
	}
	fmt.Fprintf(&b, "\n%s\n\nReading the columns: *faults served* counts the injected answers the proxy actually gave plus the kills; *jobs with exactly one result* counts jobs for which the stand-in accepted a result (it accepts one per job, like CodePipeline); *second results refused* are later PutJob*Result calls for a job that already had one (a redelivered or retried event), answered InvalidJobStateException and only logged by the function; *function errors* are invocations that did not end normally: the killed invocations (the emulator reports the lost connection) — the function itself returns an error once it knows the job id only when the result could not be reported (so that Lambda delivers the event again). A killed run is retried in a fresh emulator, as Lambda retries an asynchronous invocation in a new execution environment. The older-format token row expects JobFailed: the continuation cannot be trusted, so the job fails with a message telling to retry the stage instead of hanging or misreading the state.\n", verdict)
	b.WriteString(deployTable)
	fmt.Print(b.String())
	if out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
	}
	if !allOK {
		return fmt.Errorf("some executions failed the bar")
	}
	return nil
}
