package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Invoker delivers one Lambda event: an in-process handler or the bootstrap under RIE.
// A non-nil error is a function error (Lambda would retry an asynchronous invocation).
type Invoker func(ctx context.Context, payload []byte) error

// Artifact is an input artifact of a job (an S3 object in the artifact store).
type Artifact struct {
	Name, Bucket, Key, Revision string
}

// Fake artifact credentials put into every event. They are recognisable so that tests can
// assert they never reach the logs.
const (
	ArtifactAccessKeyID     = "ASIATESTKITARTIFACT1"
	ArtifactSecretAccessKey = "testkit-artifact-secret-never-log-me"
	ArtifactSessionToken    = "testkit-artifact-session-token-never-log-me"
)

// Secrets returns every credential string the test kit hands out, for "not in the logs"
// assertions.
func Secrets() []string {
	return []string{SecretAccessKey, ArtifactAccessKeyID, ArtifactSecretAccessKey, ArtifactSessionToken}
}

// Driver plays CodePipeline for one action execution: it creates a job, invokes the
// function with the job's event, waits for the job's result and, while the result is a
// success with a continuation token, creates a new job (new id) carrying the token and
// invokes again after Delay.
type Driver struct {
	Jobs   *JobAPI // where jobs are registered and results reported
	Invoke Invoker

	FunctionName   string // default "edgeflush"
	UserParameters string
	AccountID      string // default "123456789012"
	InputArtifacts []Artifact

	// Delay is the pause between a continuation result and the next invocation. Real
	// CodePipeline re-invokes "periodically" (tens of seconds); tests use milliseconds.
	Delay time.Duration
	// ResultTimeout bounds the wait for a job's result after its invocation returned;
	// default 10 s. Past it the chain fails as the real action would time out.
	ResultTimeout time.Duration
	// MaxJobs bounds the chain (default 200).
	MaxJobs int
	// Redeliver delivers the first job's event this many more times after the first
	// invocation returned, as Lambda's at-least-once asynchronous delivery may.
	Redeliver int
	// LambdaRetries re-delivers an event after a function error, up to this many times
	// (Lambda's asynchronous default is 2), RetryDelay apart.
	LambdaRetries int
	RetryDelay    time.Duration
	// OnStep, when set, is told about every step (for the demo's output).
	OnStep func(Step)
	// RewriteToken, when set, replaces the continuation token given to job seq (from 2),
	// e.g. to hand a token of an older format to a newer function.
	RewriteToken func(seq int, token string) string
}

// StepKind names what happened in a chain.
type StepKind string

const (
	StepJobCreated StepKind = "job created"
	StepInvoked    StepKind = "invoked"
	StepResult     StepKind = "result"
)

// Step is one event of a chain.
type Step struct {
	Kind       StepKind
	JobID      string
	Seq        int           // job number in the chain, from 1
	Redelivery bool          // a duplicate delivery of the event
	Retry      bool          // Lambda's retry after a function error
	Duration   time.Duration // of the invocation
	Err        error         // the invocation's function error
	Result     *JobResult
}

// Invocation is one delivery of a job's event.
type Invocation struct {
	Start      time.Time
	Duration   time.Duration
	Err        error
	Redelivery bool // a duplicate delivery of an event that had been delivered
	Retry      bool // Lambda's retry after a function error
}

// ChainJob is one job of a chain.
type ChainJob struct {
	ID                string
	ContinuationToken string // the token the job was created with ("" for the first)
	Created           time.Time
	Invocations       []Invocation
	Result            JobResult
	HasResult         bool
}

// Chain is the record of a whole action execution.
type Chain struct {
	Jobs       []ChainJob
	Start, End time.Time
}

// Final returns the last job's result (the action's outcome when it is not a continuation).
func (c *Chain) Final() (JobResult, bool) {
	if len(c.Jobs) == 0 || !c.Jobs[len(c.Jobs)-1].HasResult {
		return JobResult{}, false
	}
	return c.Jobs[len(c.Jobs)-1].Result, true
}

// Succeeded reports whether the chain ended in a success without a continuation token.
func (c *Chain) Succeeded() bool {
	r, ok := c.Final()
	return ok && r.Success && r.ContinuationToken == ""
}

// Invocations counts all deliveries in the chain.
func (c *Chain) Invocations() int {
	n := 0
	for _, j := range c.Jobs {
		n += len(j.Invocations)
	}
	return n
}

// NewJobID returns a random job id shaped like CodePipeline's (a UUID).
func NewJobID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (d *Driver) defaults() {
	if d.FunctionName == "" {
		d.FunctionName = "edgeflush"
	}
	if d.AccountID == "" {
		d.AccountID = "123456789012"
	}
	if d.ResultTimeout == 0 {
		d.ResultTimeout = 10 * time.Second
	}
	if d.MaxJobs == 0 {
		d.MaxJobs = 200
	}
}

// JobData builds the job data CodePipeline puts into the event (and GetJobDetails).
func (d *Driver) JobData(continuationToken string) json.RawMessage {
	d.defaults()
	inputs := []map[string]any{}
	for _, a := range d.InputArtifacts {
		inputs = append(inputs, map[string]any{
			"name":     a.Name,
			"revision": a.Revision,
			"location": map[string]any{"type": "S3", "s3Location": map[string]string{"bucketName": a.Bucket, "objectKey": a.Key}},
		})
	}
	data := map[string]any{
		"actionConfiguration": map[string]any{"configuration": map[string]string{
			"FunctionName":   d.FunctionName,
			"UserParameters": d.UserParameters,
		}},
		"inputArtifacts":  inputs,
		"outputArtifacts": []any{},
		"artifactCredentials": map[string]any{
			"accessKeyId":     ArtifactAccessKeyID,
			"secretAccessKey": ArtifactSecretAccessKey,
			"sessionToken":    ArtifactSessionToken,
			"expirationTime":  time.Now().Add(time.Hour).UnixMilli(),
		},
	}
	if continuationToken != "" {
		data["continuationToken"] = continuationToken
	}
	b, _ := json.Marshal(data) // plain maps and strings: cannot fail
	return b
}

// NewJob registers a new job (fresh id) with the job API and returns it.
func (d *Driver) NewJob(continuationToken string) Job {
	d.defaults()
	job := Job{ID: NewJobID(), AccountID: d.AccountID, Data: d.JobData(continuationToken)}
	d.Jobs.AddJob(job)
	return job
}

// Event returns the Lambda event CodePipeline sends for job.
func Event(job Job) []byte {
	b, _ := json.Marshal(map[string]any{"CodePipeline.job": map[string]any{
		"id": job.ID, "accountId": job.AccountID, "data": job.Data,
	}})
	return b
}

// ErrNoResult means a job's invocation ended without a job result; the real action would
// hang until it timed out.
var ErrNoResult = errors.New("the function returned without reporting a job result")

// Run plays one action execution to its end and returns the chain. The error is non-nil
// when a job got no result, the chain exceeded MaxJobs or ctx ended; the chain recorded
// so far is returned with it.
func (d *Driver) Run(ctx context.Context) (*Chain, error) {
	d.defaults()
	if d.Jobs == nil || d.Invoke == nil {
		return nil, errors.New("testkit driver needs Jobs and Invoke")
	}
	chain := &Chain{Start: time.Now()}
	defer func() { chain.End = time.Now() }()
	token := ""
	for seq := 1; ; seq++ {
		if seq > d.MaxJobs {
			return chain, fmt.Errorf("chain did not end within %d jobs", d.MaxJobs)
		}
		job := d.NewJob(token)
		cj := ChainJob{ID: job.ID, ContinuationToken: token, Created: time.Now()}
		d.step(Step{Kind: StepJobCreated, JobID: job.ID, Seq: seq})
		ev := Event(job)

		err := d.deliver(ctx, &cj, seq, ev, false, false)
		for retry := 0; err != nil && retry < d.LambdaRetries; retry++ {
			if !sleep(ctx, d.RetryDelay) {
				break
			}
			err = d.deliver(ctx, &cj, seq, ev, false, true)
		}
		if seq == 1 {
			for i := 0; i < d.Redeliver; i++ {
				_ = d.deliver(ctx, &cj, seq, ev, true, false)
			}
		}

		wctx, cancel := context.WithTimeout(ctx, d.ResultTimeout)
		res, werr := d.Jobs.WaitResult(wctx, job.ID)
		cancel()
		if werr != nil {
			chain.Jobs = append(chain.Jobs, cj)
			if ctx.Err() != nil {
				return chain, fmt.Errorf("job %d (%s): %w", seq, job.ID, ctx.Err())
			}
			return chain, fmt.Errorf("job %d (%s): %w (last invocation error: %v)", seq, job.ID, ErrNoResult, err)
		}
		cj.Result, cj.HasResult = res, true
		chain.Jobs = append(chain.Jobs, cj)
		d.step(Step{Kind: StepResult, JobID: job.ID, Seq: seq, Result: &res})
		if !res.Continues() {
			return chain, nil
		}
		token = res.ContinuationToken
		if d.RewriteToken != nil {
			token = d.RewriteToken(seq+1, token)
		}
		if !sleep(ctx, d.Delay) {
			return chain, fmt.Errorf("chain interrupted after job %d: %w", seq, ctx.Err())
		}
	}
}

func (d *Driver) deliver(ctx context.Context, cj *ChainJob, seq int, ev []byte, redelivery, retry bool) error {
	inv := Invocation{Start: time.Now(), Redelivery: redelivery, Retry: retry}
	inv.Err = d.Invoke(ctx, ev)
	inv.Duration = time.Since(inv.Start)
	cj.Invocations = append(cj.Invocations, inv)
	d.step(Step{Kind: StepInvoked, JobID: cj.ID, Seq: seq, Redelivery: redelivery, Retry: retry, Duration: inv.Duration, Err: inv.Err})
	return inv.Err
}

func (d *Driver) step(s Step) {
	if d.OnStep != nil {
		d.OnStep(s)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
