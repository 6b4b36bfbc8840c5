package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
)

// inProcess is a tiny job worker: it continues until its token reaches n, then succeeds.
func inProcess(t *testing.T, c *codepipeline.Client, n int, calls *atomic.Int32) Invoker {
	return func(ctx context.Context, payload []byte) error {
		calls.Add(1)
		var ev struct {
			Job struct {
				ID   string `json:"id"`
				Data struct {
					ContinuationToken string `json:"continuationToken"`
				} `json:"data"`
			} `json:"CodePipeline.job"`
		}
		if err := json.Unmarshal(payload, &ev); err != nil {
			return err
		}
		k, _ := strconv.Atoi(ev.Job.Data.ContinuationToken)
		in := &codepipeline.PutJobSuccessResultInput{JobId: aws.String(ev.Job.ID)}
		if k < n {
			in.ContinuationToken = aws.String(strconv.Itoa(k + 1))
		} else {
			in.OutputVariables = map[string]string{"Steps": strconv.Itoa(k)}
		}
		_, err := c.PutJobSuccessResult(ctx, in)
		return err
	}
}

func TestDriverChain(t *testing.T) {
	j := StartJobAPI(t)
	c := cpClient(t, j.URL)
	var calls atomic.Int32
	var steps []Step
	d := &Driver{Jobs: j, Invoke: inProcess(t, c, 3, &calls), Delay: 20 * time.Millisecond, OnStep: func(s Step) { steps = append(steps, s) }}
	chain, err := d.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !chain.Succeeded() || len(chain.Jobs) != 4 {
		t.Fatalf("chain of %d jobs, succeeded=%v", len(chain.Jobs), chain.Succeeded())
	}
	ids := map[string]bool{}
	for i, job := range chain.Jobs {
		ids[job.ID] = true
		if want := map[bool]string{true: "", false: strconv.Itoa(i)}[i == 0]; job.ContinuationToken != want {
			t.Fatalf("job %d token %q, want %q", i, job.ContinuationToken, want)
		}
	}
	if len(ids) != 4 {
		t.Fatal("continuation jobs must get new ids")
	}
	final, _ := chain.Final()
	if final.OutputVariables["Steps"] != "3" {
		t.Fatalf("final = %+v", final)
	}
	if chain.End.Sub(chain.Start) < 60*time.Millisecond {
		t.Fatalf("chain took %s, the 3 delays alone are 60ms", chain.End.Sub(chain.Start))
	}
	if len(steps) != 12 || steps[0].Kind != StepJobCreated || steps[2].Kind != StepResult {
		t.Fatalf("steps = %+v", steps)
	}
}

func TestDriverRewriteToken(t *testing.T) {
	j := StartJobAPI(t)
	c := cpClient(t, j.URL)
	var calls atomic.Int32
	var seen []int
	d := &Driver{Jobs: j, Invoke: inProcess(t, c, 5, &calls), RewriteToken: func(seq int, tok string) string {
		seen = append(seen, seq)
		if seq == 2 {
			return "4" // jump ahead: the worker finishes after token 5
		}
		return tok
	}}
	chain, err := d.Run(context.Background())
	if err != nil || !chain.Succeeded() || len(chain.Jobs) != 3 || chain.Jobs[1].ContinuationToken != "4" {
		t.Fatalf("err=%v jobs=%d", err, len(chain.Jobs))
	}
	if len(seen) != 2 || seen[0] != 2 || seen[1] != 3 {
		t.Fatalf("RewriteToken called for jobs %v, want [2 3]", seen)
	}
}

func TestDriverRedeliveryAndRetries(t *testing.T) {
	ctx := context.Background()
	j := StartJobAPI(t)
	c := cpClient(t, j.URL)

	// A redelivered first event reaches the function again; its second result is refused.
	var calls atomic.Int32
	d := &Driver{Jobs: j, Invoke: inProcess(t, c, 0, &calls), Redeliver: 2}
	chain, err := d.Run(ctx)
	var ijs bool
	for _, inv := range chain.Jobs[0].Invocations[1:] {
		ijs = ijs || (inv.Redelivery && inv.Err != nil && strings.Contains(inv.Err.Error(), "InvalidJobStateException"))
	}
	if err != nil || !chain.Succeeded() || calls.Load() != 3 || !ijs {
		t.Fatalf("redelivery: err=%v calls=%d invocations=%+v", err, calls.Load(), chain.Jobs[0].Invocations)
	}

	// Lambda retries a function error; a function that never reports fails the chain.
	var tries atomic.Int32
	flaky := func(ctx context.Context, payload []byte) error {
		if tries.Add(1) < 3 {
			return errors.New("boom")
		}
		return inProcess(t, c, 0, &calls)(ctx, payload)
	}
	d = &Driver{Jobs: j, Invoke: flaky, LambdaRetries: 2, RetryDelay: time.Millisecond}
	chain, err = d.Run(ctx)
	if err != nil || !chain.Succeeded() || len(chain.Jobs[0].Invocations) != 3 || !chain.Jobs[0].Invocations[2].Retry {
		t.Fatalf("retries: err=%v chain=%+v", err, chain)
	}

	silent := func(context.Context, []byte) error { return nil }
	d = &Driver{Jobs: j, Invoke: silent, ResultTimeout: 50 * time.Millisecond}
	if _, err := d.Run(ctx); !errors.Is(err, ErrNoResult) {
		t.Fatalf("silent function: %v, want ErrNoResult", err)
	}
}

// TestRIEWithFakeFunction runs a minimal job worker (testdata/fakefn) under the emulator,
// driven through a chain against the job API: it exercises BuildPackage, StartRIE, the
// invoker, log capture and the RSS probe without the real handler.
func TestRIEWithFakeFunction(t *testing.T) {
	ctx := context.Background()
	j := StartJobAPI(t)
	bin := BuildPackage(t, "./internal/testkit/testdata/fakefn")
	env := append(BaseEnv("http://127.0.0.1:1"), j.Env()...)
	r := StartRIE(t, bin, env)

	d := &Driver{Jobs: j, Invoke: r.Invoker(), UserParameters: `{"Mode":"continue","Continuations":2}`}
	chain, err := d.Run(ctx)
	if err != nil {
		t.Fatalf("%v\nlogs:\n%s", err, r.Logs())
	}
	if !chain.Succeeded() || len(chain.Jobs) != 3 {
		t.Fatalf("chain of %d jobs, succeeded=%v\nlogs:\n%s", len(chain.Jobs), chain.Succeeded(), r.Logs())
	}
	if final, _ := chain.Final(); final.OutputVariables["Done"] != "yes" {
		t.Fatalf("final result %+v", final)
	}
	if !strings.Contains(r.Logs(), "fakefn job="+chain.Jobs[2].ID) {
		t.Fatalf("function logs not captured:\n%s", r.Logs())
	}
	rss, err := r.BootstrapMaxRSS()
	if err != nil || rss <= 0 {
		t.Fatalf("max RSS = %d, %v", rss, err)
	}

	// A function error comes back as *FunctionError.
	d = &Driver{Jobs: j, Invoke: r.Invoker(), UserParameters: `{"Mode":"error"}`, ResultTimeout: 100 * time.Millisecond}
	chain, err = d.Run(ctx)
	var fe *FunctionError
	if !errors.Is(err, ErrNoResult) || !errors.As(chain.Jobs[0].Invocations[0].Err, &fe) {
		t.Fatalf("function error: %v / %+v", err, chain.Jobs[0].Invocations)
	}

	// A failure result is the chain's outcome.
	d = &Driver{Jobs: j, Invoke: r.Invoker(), UserParameters: `{"Mode":"fail"}`}
	chain, err = d.Run(ctx)
	if final, _ := chain.Final(); err != nil || final.Success || final.FailureType != "ConfigurationError" {
		t.Fatalf("failure chain: %v %+v", err, final)
	}

	// Killing the emulator makes invocations fail instead of hanging.
	r.Kill()
	if _, err := r.Invoke(ctx, []byte(`{}`)); err == nil {
		t.Fatal("invoke after Kill succeeded")
	}
}
