package codepipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cpsdk "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/smithy-go"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// JobAPI is the part of *codepipeline.Client the handler reports results with.
type JobAPI interface {
	PutJobSuccessResult(ctx context.Context, in *cpsdk.PutJobSuccessResultInput, optFns ...func(*cpsdk.Options)) (*cpsdk.PutJobSuccessResultOutput, error)
	PutJobFailureResult(ctx context.Context, in *cpsdk.PutJobFailureResultInput, optFns ...func(*cpsdk.Options)) (*cpsdk.PutJobFailureResultOutput, error)
}

// CloudFrontFactory returns the CloudFront client for a job. With Params.RoleARN set it
// must assume that role (awsconf.AssumeRole with SessionName(JobID(ctx))); job results
// keep using the function's own identity.
type CloudFrontFactory func(ctx context.Context, p Params) (invalidation.API, error)

// ArtifactLocation is the S3 object of the action's input artifact.
type ArtifactLocation struct {
	Bucket, Key string
}

// DeployRequest asks a Deployer to sync the input artifact to Params.Bucket.
type DeployRequest struct {
	JobID    string
	Params   Params
	Artifact ArtifactLocation
	// ArtifactCredentials read the artifact (they come with the job). The site bucket
	// is written with the function's identity, or Params.RoleARN's when set.
	ArtifactCredentials aws.Credentials
	// StopAt, when set, is when the deploy must stop starting writes and return with
	// Continue, so that the job can report before the invocation's deadline; the next
	// job calls Deploy again with the same JobID (the first job's) to go on.
	StopAt time.Time
}

// LogValue keeps the artifact credentials out of logs.
func (r DeployRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("job_id", r.JobID), slog.String("artifact_bucket", r.Artifact.Bucket), slog.String("artifact_key", r.Artifact.Key))
}

// DeployResult is what a deploy changed.
type DeployResult struct {
	// Paths are the prepared invalidation paths (invalidation.PreparePaths or the
	// planner's output); empty when nothing changed.
	Paths             []string
	Uploaded, Deleted int
	// Continue is set when the deploy stopped at StopAt with writes left: the handler
	// continues it in the next job. Percent is the share of the uploads done.
	Continue bool
	Percent  int
}

// Deployer syncs the input artifact to the site bucket (deploy mode, issue 4). It runs
// on the first job of an execution only. A redelivered first event calls it again with
// the same JobID: making that second call return the same Paths (or converge without
// loss) is the Deployer's job. Return an error wrapping *ConfigError for a
// ConfigurationError failure; AccessDenied API errors become PermissionError.
type Deployer interface {
	Deploy(ctx context.Context, req DeployRequest) (DeployResult, error)
}

// VerifyRequest asks a Verifier to check one distribution (UserParameters "Verify").
type VerifyRequest struct {
	Params         Params
	DistributionID string
	// Paths are the job's prepared invalidation paths: exact paths are checked as they
	// are, a wildcard stands for every object of the site under it.
	Paths []string
}

// VerifyResult is what a Verifier found.
type VerifyResult struct {
	Checked, Fresh int
	// Unchecked counts the URLs left out to bound the check.
	Unchecked int
	// Problems name each stale or failed URL with the ETags, Age and X-Cache seen.
	Problems []string
}

// Verifier asks a distribution what it serves for the changed URLs and compares it with
// the site bucket (deploy mode, "Verify": true), after every invalidation is Completed.
// An error wrapping *ConfigError (the bucket is not the distribution's origin, or at
// another origin path) fails the job with ConfigurationError.
type Verifier interface {
	// CheckSite runs on the first job, before the deploy writes anything: it fails
	// (wrapping *ConfigError) when the distribution does not read Params.Bucket at
	// Params.Prefix, so that nothing is deployed that visitors could never get.
	CheckSite(ctx context.Context, p Params, distributionID string) error
	Verify(ctx context.Context, req VerifyRequest) (VerifyResult, error)
}

// DeployTracker is implemented by a Deployer that keeps the site's ledger (internal/ledger):
// the handler tells it which invalidations it created for a deploy, and when they all
// completed, from whichever job of the execution sees it. Its errors are logged and never
// change the job's result: a deploy whose record is lost is covered again by the next one.
type DeployTracker interface {
	Track(ctx context.Context, p DeployProgress) error
}

// DeployProgress reports a deploy's invalidations to a DeployTracker.
type DeployProgress struct {
	// FirstJobID identifies the deploy (the job that ran it).
	FirstJobID    string
	Params        Params
	Distributions []string
	// IDs are the invalidation ids per distribution ("" while not created).
	IDs []string
	// Completed is set once every invalidation completed.
	Completed bool
}

// Message is what a notification says about a finished job.
type Message struct {
	Pipeline, JobID                       string
	Succeeded                             bool
	Distributions, Paths, InvalidationIDs []string
	Waited                                time.Duration
	Reason                                string // the failure message when !Succeeded
	// NotWaited is set when the job succeeded without waiting for completion
	// (Wait: false), so a notice must not claim the cache is already fresh.
	NotWaited bool
}

// Notifier sends one message when a job reaches its final result. Its errors are
// logged and never change the job's result.
type Notifier interface {
	Notify(ctx context.Context, m Message) error
}

// NotifierFactory returns the notifier for a job's parameters (SlackWebhookUrl or
// SlackWebhookParameter); it is only called when one of them is set.
type NotifierFactory func(ctx context.Context, p Params) (Notifier, error)

// Defaults of the polling knobs; each can be overridden by Handler fields or by the
// environment (ConfigureFromEnv).
const (
	// DefaultPollInterval keeps the time from completion to the reported result under
	// five seconds while staying far from CloudFront's request rate limits.
	DefaultPollInterval = 4 * time.Second
	// DefaultPollBudget suits a 5-minute function timeout: poll for 4 minutes, then hand
	// over to a continuation job.
	DefaultPollBudget = 4 * time.Minute
	// DefaultSafetyMargin is kept free before the invocation deadline for reporting.
	DefaultSafetyMargin = 20 * time.Second
)

// Environment variables read by ConfigureFromEnv (Go durations, e.g. "500ms", "4m").
const (
	EnvPollInterval = "EDGEFLUSH_POLL_INTERVAL"
	EnvPollBudget   = "EDGEFLUSH_POLL_BUDGET"
	EnvSafetyMargin = "EDGEFLUSH_SAFETY_MARGIN"
)

// Handler runs CodePipeline jobs. Jobs and CloudFront are required.
type Handler struct {
	Jobs       JobAPI
	CloudFront CloudFrontFactory
	// Deployer enables deploy mode; without it a job with "Bucket" fails with a
	// ConfigurationError.
	Deployer Deployer
	// Notifiers enables SlackWebhookUrl/SlackWebhookParameter.
	Notifiers NotifierFactory
	// Verifier enables "Verify": true; without it such a job fails with a
	// ConfigurationError.
	Verifier Verifier
	// Logger receives JSON lines; nil means NewLogger(os.Stdout).
	Logger *slog.Logger

	PollInterval, PollBudget, SafetyMargin time.Duration
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// NewLogger returns the JSON-lines logger the handler uses by default.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, nil))
}

// ConfigureFromEnv sets the polling knobs from EDGEFLUSH_POLL_INTERVAL,
// EDGEFLUSH_POLL_BUDGET and EDGEFLUSH_SAFETY_MARGIN. A malformed value is skipped and
// reported in the returned error, so a typo cannot stop the function from reporting jobs.
func (h *Handler) ConfigureFromEnv(getenv func(string) string) error {
	var errs []error
	for _, knob := range []struct {
		name string
		dst  *time.Duration
	}{{EnvPollInterval, &h.PollInterval}, {EnvPollBudget, &h.PollBudget}, {EnvSafetyMargin, &h.SafetyMargin}} {
		v := getenv(knob.name)
		if v == "" {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("%s=%q is not a duration such as 4s or 2m; using the default", knob.name, v))
			continue
		}
		*knob.dst = d
	}
	return errors.Join(errs...)
}

type jobIDKey struct{}

// JobID returns the id of the job being handled, for CloudFrontFactory and
// NotifierFactory implementations.
func JobID(ctx context.Context) string {
	id, _ := ctx.Value(jobIDKey{}).(string)
	return id
}

var sessionUnsafe = regexp.MustCompile(`[^\w+=,.@-]`)

// SessionName is the STS role session name for a job: "edgeflush-" and the job id,
// restricted to the characters and 64-character length STS accepts, so CloudTrail in
// the distribution's account shows which job made each call.
func SessionName(jobID string) string {
	s := sessionUnsafe.ReplaceAllString("edgeflush-"+jobID, "-")
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return NewLogger(os.Stdout)
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Handle runs one Lambda invocation. Every problem, panics included, is reported to the
// job with PutJobFailureResult. Handle returns an error only when there is no job to
// report to (the event has no job id), or when reporting the result itself failed
// (other than InvalidJobStateException: the job already has its result): Lambda then
// delivers the event again, and the first step is idempotent (the ledger's recorded
// batch, the caller reference per job), so the job gets its result from the retry
// instead of hanging until CodePipeline's timeout.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (err error) {
	log := h.logger()
	ev, perr := ParseEvent(raw)
	var nj *noJobIDError
	if errors.As(perr, &nj) {
		log.Error("event rejected", slog.String("error", nj.Error()))
		return nj
	}
	jobID := ev.Job.ID
	log = log.With(slog.String("job_id", jobID))
	ctx = context.WithValue(ctx, jobIDKey{}, jobID)
	r := &run{h: h, log: log, ev: ev, jobID: jobID, started: h.now()}
	defer func() {
		if v := recover(); v != nil {
			log.Error("panic", slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			err = r.finish(ctx, result{failure: &failure{typ: types.FailureTypeJobFailed,
				msg: fmt.Sprintf("edgeflush hit an internal error (%v); this is a bug: please report it with the function's log for job %s, then retry the stage", v, jobID)}})
		}
	}()
	if perr != nil {
		return r.finish(ctx, result{failure: &failure{typ: types.FailureTypeJobFailed,
			msg: "the CodePipeline job event could not be read (" + perr.Error() + "); the function must be invoked by a CodePipeline Invoke/Lambda action"}})
	}
	return r.finish(ctx, r.execute(ctx))
}

// ReportError is returned by Handle when the job's result could not be reported: Lambda
// delivers the event again.
type ReportError struct {
	JobID string
	Err   error
}

func (e *ReportError) Error() string {
	return fmt.Sprintf("could not report the result of job %s (the event will be delivered again): %v", e.JobID, e.Err)
}

func (e *ReportError) Unwrap() error { return e.Err }

// failure is a job failure to report.
type failure struct {
	typ types.FailureType
	msg string
}

// result is the outcome of one invocation.
type result struct {
	failure *failure
	// token set: the job succeeds with a continuation token.
	token   string
	percent int
	summary string
	outputs map[string]string
	// state is the job state when known, for the notification.
	state *State
}

type run struct {
	h       *Handler
	log     *slog.Logger
	ev      Event
	jobID   string
	started time.Time

	params    Params
	paramsOK  bool
	st        *State // the state once known, for the notification of a failure
	cf        invalidation.API
	status    []string // last known status per distribution, for messages
	lastError []string // last creation error per distribution while pending
	// trackedDone is set once the Deployer was told that every invalidation completed.
	trackedDone bool
	// busy counts the creation rounds in a row that CloudFront refused with
	// TooManyInvalidationsInProgress; nextCreate is when to try again (backoff).
	busy       int
	nextCreate time.Time
}

// MaxCreateBackoff caps the wait between creation attempts refused with
// TooManyInvalidationsInProgress.
const MaxCreateBackoff = time.Minute

// createBackoff is the wait after the n-th refusal in a row: the poll interval doubled
// each time up to MaxCreateBackoff, with jitter (a random half to all of it), so that
// several pipelines waiting for the same distribution do not retry in step.
func createBackoff(interval time.Duration, n int) time.Duration {
	d := MaxCreateBackoff
	if n < 20 && interval<<(n-1) < MaxCreateBackoff {
		d = interval << (n - 1)
	}
	return d/2 + rand.N(d/2+1)
}

func (r *run) now() time.Time { return r.h.now() }

func (r *run) execute(ctx context.Context) result {
	data := r.ev.Job.Data
	p, err := ParseParams(data.ActionConfiguration.Configuration.UserParameters)
	if err != nil {
		return r.fail(err, "")
	}
	r.params, r.paramsOK = p, true
	if p.Verify && r.h.Verifier == nil {
		return r.fail(&ConfigError{Key: "Verify", Message: "is not available in this build of the function; remove Verify"}, "")
	}
	if p.PipelineName != "" {
		r.log = r.log.With(slog.String("pipeline", p.PipelineName))
	}
	r.log.Info("job started", slog.Bool("continuation", data.ContinuationToken != ""), slog.Any("params", p))

	// CloudFront calls and the deploy must end early enough to leave time for the
	// report, whatever the SDK retryer's backoff.
	interval := orDefault(r.h.PollInterval, DefaultPollInterval)
	margin := orDefault(r.h.SafetyMargin, DefaultSafetyMargin)
	stopAt := r.started.Add(orDefault(r.h.PollBudget, DefaultPollBudget))
	workCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		// A short function timeout (Lambda's default is 3 s) must not leave a margin
		// larger than the invocation: keep at most a third of the remaining time.
		if rem := dl.Sub(r.started); margin > rem/3 {
			margin = max(rem/3, 0)
		}
		if d := dl.Add(-margin); d.Before(stopAt) {
			stopAt = d
		}
		var cancel context.CancelFunc
		workCtx, cancel = context.WithDeadline(ctx, dl.Add(-margin/2))
		defer cancel()
	}

	r.cf, err = r.h.CloudFront(workCtx, p)
	if err != nil {
		return r.fail(fmt.Errorf("set up the CloudFront client: %w", err), "")
	}

	// A deploy stops starting writes in time for the report, then goes on in the next
	// job (no limit without a deadline).
	var deployStop time.Time
	if dl, ok := ctx.Deadline(); ok {
		deployStop = dl.Add(-margin)
	}
	var st State
	if data.ContinuationToken == "" {
		st = State{FirstJobID: r.jobID, Start: r.started, Distributions: p.DistributionIDs, Paths: p.Paths}
		if p.Verify {
			for _, dist := range p.DistributionIDs {
				if err := r.h.Verifier.CheckSite(workCtx, p, dist); err != nil {
					return r.fail(fmt.Errorf("Verify: %w", err), dist)
				}
			}
		}
		if p.DeployMode() {
			res, done := r.deploy(workCtx, &st, deployStop)
			if done {
				return res
			}
		}
		st.PathCount = len(st.Paths)
		st.IDs = make([]string, len(st.Distributions))
		st.Completed = make([]bool, len(st.Distributions))
	} else {
		st, err = DecodeToken(data.ContinuationToken)
		if err != nil {
			return result{failure: &failure{typ: types.FailureTypeJobFailed,
				msg: err.Error() + ". The job cannot be continued; retry the stage to start over (the invalidations already created stay in place)."}}
		}
		r.log.Info("continuing", slog.String("first_job_id", st.FirstJobID), slog.Float64("elapsed", r.now().Sub(st.Start).Seconds()),
			slog.Bool("deploying", st.Deploying))
		if st.Deploying {
			if !p.DeployMode() {
				return r.fail(&ConfigError{Key: "Bucket", Message: "the continuation token is of a deploy, but UserParameters has no Bucket"}, "")
			}
			res, done := r.deploy(workCtx, &st, deployStop)
			if done {
				return res
			}
			st.PathCount = len(st.Paths)
			st.IDs = make([]string, len(st.Distributions))
			st.Completed = make([]bool, len(st.Distributions))
		}
	}
	r.st = &st
	r.status = make([]string, len(st.Distributions))
	r.lastError = make([]string, len(st.Distributions))
	maxWait := time.Duration(p.MaxWaitMinutes) * time.Minute

	for {
		if st.Pending() && !r.now().Before(r.nextCreate) {
			before := strings.Join(st.IDs, ",")
			res, failed := r.createPending(workCtx, &st, interval)
			if strings.Join(st.IDs, ",") != before {
				r.track(workCtx, &st, r.allCompleted(&st))
			}
			if failed {
				return res
			}
		}
		if !st.Pending() && !p.Wait {
			return r.success(&st)
		}
		if p.Wait {
			if res, failed := r.poll(workCtx, &st); failed {
				return res
			}
			if r.allCompleted(&st) {
				// The ledger first (the removed pages that waited for these invalidations
				// are deleted now), then Verify sees the site as visitors will.
				r.track(workCtx, &st, true)
				if p.Verify {
					res, again := r.verify(workCtx, &st, stopAt)
					if !again {
						return res
					}
					return r.continuation(&st)
				}
				return r.success(&st)
			}
		}
		if elapsed := r.now().Sub(st.Start); elapsed >= maxWait {
			return result{state: &st, failure: &failure{typ: types.FailureTypeJobFailed,
				msg: fmt.Sprintf("not finished after MaxWaitMinutes (%d): %s. Invalidations already created keep running in CloudFront; raise MaxWaitMinutes in UserParameters if this is normal for your distributions.",
					p.MaxWaitMinutes, r.pendingList(&st))}}
		}
		if !r.now().Add(interval).Before(stopAt) || workCtx.Err() != nil {
			return r.continuation(&st)
		}
		select {
		case <-workCtx.Done():
			return r.continuation(&st)
		case <-time.After(interval):
		}
	}
}

// deploy runs the Deployer on the first job, and on the continuation jobs of a deploy
// sliced over several invocations (st.Deploying). done reports that the result is final
// (a failure, a success because nothing changed, or a continuation of the deploy).
func (r *run) deploy(ctx context.Context, st *State, stopAt time.Time) (result, bool) {
	p := r.params
	if r.h.Deployer == nil {
		return r.fail(&ConfigError{Key: "Bucket", Message: "deploy mode is not available in this build of the function; remove Bucket to invalidate only"}, ""), true
	}
	data := r.ev.Job.Data
	if len(data.InputArtifacts) == 0 {
		return r.fail(&ConfigError{Key: "Bucket", Message: "deploy mode needs the site as the action's input artifact; add an input artifact (the build output) to the action"}, ""), true
	}
	loc := data.InputArtifacts[0].Location.S3Location
	creds := data.ArtifactCredentials
	req := DeployRequest{
		JobID:    st.FirstJobID,
		StopAt:   stopAt,
		Params:   p,
		Artifact: ArtifactLocation{Bucket: loc.BucketName, Key: loc.ObjectKey},
		ArtifactCredentials: aws.Credentials{
			AccessKeyID:     creds.AccessKeyID,
			SecretAccessKey: creds.SecretAccessKey,
			SessionToken:    creds.SessionToken,
			Source:          "CodePipelineArtifactCredentials",
			CanExpire:       !creds.Expiration.IsZero(),
			Expires:         creds.Expiration.Time,
		},
	}
	t0 := r.now()
	res, err := r.h.Deployer.Deploy(ctx, req)
	if err != nil {
		return r.fail(fmt.Errorf("deploy to s3://%s/%s: %w", p.Bucket, p.Prefix, err), ""), true
	}
	for _, path := range res.Paths {
		if err := invalidation.ValidatePath(path); err != nil {
			return r.fail(fmt.Errorf("deploy produced an invalid invalidation path: %w", err), ""), true
		}
	}
	r.log.Info("deployed", slog.String("bucket", p.Bucket), slog.Int("uploaded", res.Uploaded), slog.Int("deleted", res.Deleted),
		slog.Int("paths", len(res.Paths)), slog.Float64("deploy_seconds", r.now().Sub(t0).Seconds()), slog.Bool("continue", res.Continue))
	if st.Deploy == nil {
		st.Deploy = &DeployCounts{}
	}
	st.Deploy.Uploaded += res.Uploaded
	st.Deploy.Deleted += res.Deleted
	if res.Continue {
		// The sync goes on in the next job; its state (keys, planned paths) is in the
		// site's ledger under the first job's id, the token only says so.
		st.Deploying = true
		st.Distributions = p.DistributionIDs
		st.Paths, st.PathCount = nil, 0
		st.IDs = make([]string, len(st.Distributions))
		st.Completed = make([]bool, len(st.Distributions))
		tok, err := EncodeToken(*st)
		if err != nil {
			return r.fail(err, ""), true
		}
		percent := min(99, max(1, res.Percent))
		summary := fmt.Sprintf("%sDeploying to s3://%s/%s: %d uploaded so far (%d%% of this slice's uploads); continuing in the next job.",
			r.summaryPrefix(), p.Bucket, p.Prefix, st.Deploy.Uploaded, res.Percent)
		r.log.Info("deploy continues in a new job", slog.Int("token_length", len(tok)), slog.Int("percent_complete", percent))
		return result{token: tok, percent: percent, summary: summary, state: st}, true
	}
	st.Deploying = false
	st.Paths = res.Paths
	if len(res.Paths) == 0 {
		// Nothing changed: nothing to invalidate.
		st.Distributions = p.DistributionIDs
		return r.success(st), true
	}
	return result{}, false
}

// track reports a deploy's invalidations to the Deployer when it keeps a ledger.
func (r *run) track(ctx context.Context, st *State, completed bool) {
	t, ok := r.h.Deployer.(DeployTracker)
	if !ok || st.Deploy == nil || r.trackedDone {
		return
	}
	r.trackedDone = completed
	err := t.Track(ctx, DeployProgress{FirstJobID: st.FirstJobID, Params: r.params, Distributions: st.Distributions,
		IDs: st.IDs, Completed: completed})
	if err != nil {
		r.log.Warn("could not record the invalidations in the site's ledger; the next deploy covers these keys again", slog.String("error", err.Error()))
	}
}

// createPending creates the invalidations whose creation is pending. The in-progress
// limit and transient errors keep a creation pending; anything else fails the job.
func (r *run) createPending(ctx context.Context, st *State, interval time.Duration) (result, bool) {
	busy := false
	defer func() {
		if busy {
			r.busy++
			wait := createBackoff(interval, r.busy)
			r.nextCreate = r.now().Add(wait)
			r.log.Info("in-progress limit reached; next creation attempt after a backoff", slog.Int("attempt", r.busy), slog.Float64("backoff_seconds", wait.Seconds()))
		} else {
			r.busy = 0
		}
	}()
	for i, dist := range st.Distributions {
		if st.IDs[i] != "" {
			continue
		}
		ref := invalidation.CallerReference(st.FirstJobID, dist)
		log := r.log.With(slog.String("distribution", dist))
		inv, err := invalidation.Create(ctx, r.cf, dist, st.Paths, ref)
		if err != nil {
			switch kind := invalidation.Classify(err); {
			case kind == invalidation.KindInProgressLimit, kind == invalidation.KindTransient, ctx.Err() != nil:
				busy = busy || kind == invalidation.KindInProgressLimit
				r.status[i] = "creation pending"
				r.lastError[i] = err.Error()
				log.Warn("invalidation not created yet, will retry", slog.String("status", "pending"), slog.String("reason", kind.String()), slog.String("error", err.Error()))
				continue
			}
			return r.fail(err, dist), true
		}
		st.IDs[i] = inv.ID
		r.status[i] = inv.Status
		r.lastError[i] = ""
		st.Completed[i] = inv.Completed()
		log.Info("invalidation created", slog.String("invalidation_id", inv.ID), slog.String("status", inv.Status),
			slog.Int("paths", len(st.Paths)), slog.Float64("elapsed", r.now().Sub(st.Start).Seconds()))
	}
	return result{}, false
}

// poll asks CloudFront once about every created, not yet completed invalidation.
func (r *run) poll(ctx context.Context, st *State) (result, bool) {
	for i, dist := range st.Distributions {
		if st.IDs[i] == "" || st.Completed[i] {
			continue
		}
		log := r.log.With(slog.String("distribution", dist), slog.String("invalidation_id", st.IDs[i]))
		inv, err := invalidation.Get(ctx, r.cf, dist, st.IDs[i])
		if err != nil {
			if invalidation.Classify(err) == invalidation.KindTransient || ctx.Err() != nil {
				log.Warn("poll failed, will retry", slog.String("error", err.Error()))
				continue
			}
			return r.fail(err, dist), true
		}
		r.status[i] = inv.Status
		st.Completed[i] = inv.Completed()
		log.Info("polled", slog.String("status", inv.Status), slog.Float64("elapsed", r.now().Sub(st.Start).Seconds()))
	}
	return result{}, false
}

func (r *run) allCompleted(st *State) bool {
	for i := range st.Distributions {
		if st.IDs[i] == "" || !st.Completed[i] {
			return false
		}
	}
	return true
}

// verify asks every distribution for the job's paths once all invalidations are
// Completed. It returns the final result, or again=true when it ran out of this
// invocation's time (the next job of the chain verifies again).
func (r *run) verify(ctx context.Context, st *State, stopAt time.Time) (res result, again bool) {
	paths := st.Paths
	if len(paths) == 0 {
		if st.PathCount == 0 {
			return r.success(st), false
		}
		// The paths did not fit the continuation token: check the whole site instead.
		paths = []string{"/*"}
	}
	vctx, cancel := context.WithDeadline(ctx, stopAt)
	defer cancel()
	var problems []string
	checked, unchecked := 0, 0
	for _, dist := range st.Distributions {
		log := r.log.With(slog.String("distribution", dist))
		vr, err := r.h.Verifier.Verify(vctx, VerifyRequest{Params: r.params, DistributionID: dist, Paths: paths})
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) && vctx.Err() != nil && ctx.Err() == nil {
				log.Warn("verify ran out of time, continuing in a new job", slog.String("error", err.Error()))
				return result{}, true
			}
			return r.fail(fmt.Errorf("verify %s: %w", dist, err), dist), false
		}
		log.Info("verified", slog.Int("checked", vr.Checked), slog.Int("fresh", vr.Fresh), slog.Int("problems", len(vr.Problems)))
		checked += vr.Checked
		unchecked += vr.Unchecked
		for _, p := range vr.Problems {
			problems = append(problems, dist+": "+p)
		}
	}
	st.Verified, st.Unverified = checked, unchecked
	if len(problems) > 0 {
		return result{state: st, failure: &failure{typ: types.FailureTypeJobFailed,
			msg: fmt.Sprintf("%sThe invalidations completed (%s), but %d of %d URLs are not fresh at the edge (asked from the function's nearest edge location): %s",
				r.summaryPrefix(), createdList(st), len(problems), checked, strings.Join(problems, "; "))}}, false
	}
	return r.success(st), false
}

// pendingList names what is not finished, for messages.
func (r *run) pendingList(st *State) string {
	var parts []string
	for i, dist := range st.Distributions {
		switch {
		case st.IDs[i] == "":
			reason := "not created yet"
			if r.lastError != nil && r.lastError[i] != "" {
				reason += " (" + truncate(r.lastError[i], 300) + ")"
			}
			parts = append(parts, fmt.Sprintf("%s: %s", dist, reason))
		case !st.Completed[i]:
			status := invalidation.StatusInProgress
			if r.status != nil && r.status[i] != "" {
				status = r.status[i]
			}
			parts = append(parts, fmt.Sprintf("%s: invalidation %s %s", dist, st.IDs[i], status))
		}
	}
	return strings.Join(parts, "; ")
}

func (r *run) continuation(st *State) result {
	tok, err := EncodeToken(*st)
	if err != nil {
		var tl *TokenTooLargeError
		if errors.As(err, &tl) {
			return result{state: st, failure: &failure{typ: types.FailureTypeJobFailed,
				msg: fmt.Sprintf("%s. %d path(s) must be kept for the creations still pending on %s. Lower MaxPaths (deploy mode) or list fewer Paths, then retry the stage. Created so far: %s.",
					err, len(st.Paths), strings.Join(tl.Pending, ", "), createdList(st))}}
		}
		return r.fail(err, "")
	}
	done, total := 0, len(st.Distributions)
	for i := range st.Distributions {
		if st.IDs[i] != "" && st.Completed[i] {
			done++
		}
	}
	percent := 0
	if total > 0 {
		percent = min(99, done*100/total)
	}
	summary := fmt.Sprintf("%sWaiting for CloudFront (%d s so far): %s", r.summaryPrefix(), int(r.now().Sub(st.Start).Seconds()), r.pendingList(st))
	r.log.Info("continuing in a new job", slog.Int("token_length", len(tok)), slog.Int("percent_complete", percent))
	return result{token: tok, percent: percent, summary: summary}
}

// summaryPrefix names the pipeline (UserParameters PipelineName) at the start of the
// execution summary, so that a summary copied out of the console says where it is from.
func (r *run) summaryPrefix() string {
	if r.params.PipelineName == "" {
		return ""
	}
	return r.params.PipelineName + ": "
}

func createdList(st *State) string {
	var parts []string
	for i, dist := range st.Distributions {
		if st.IDs[i] != "" {
			parts = append(parts, dist+" "+st.IDs[i])
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func (r *run) success(st *State) result {
	waited := r.now().Sub(st.Start)
	ids := make([]string, 0, len(st.IDs))
	for _, id := range st.IDs {
		if id != "" {
			ids = append(ids, id)
		}
	}
	var b strings.Builder
	b.WriteString(r.summaryPrefix())
	if st.Deploy != nil {
		fmt.Fprintf(&b, "Deployed to s3://%s/%s: %d uploaded, %d deleted. ", r.params.Bucket, r.params.Prefix, st.Deploy.Uploaded, st.Deploy.Deleted)
	}
	switch {
	case len(ids) == 0:
		b.WriteString("Nothing changed, nothing to invalidate.")
	case !r.params.Wait:
		fmt.Fprintf(&b, "Created invalidations (not waiting for completion) of %d path(s): %s.", st.PathCount, createdList(st))
	default:
		fmt.Fprintf(&b, "Invalidated %d path(s), completed after %d s: %s.", st.PathCount, int(waited.Seconds()), createdList(st))
	}
	if r.params.Verify && len(ids) > 0 {
		fmt.Fprintf(&b, " Verified %d URL(s) fresh at the edge", st.Verified)
		if st.Unverified > 0 {
			fmt.Fprintf(&b, " (%d more not checked, over the limit per job)", st.Unverified)
		}
		b.WriteString(".")
	}
	if len(st.Paths) > 0 {
		b.WriteString(" Paths: " + strings.Join(st.Paths, " "))
	}
	outputs := map[string]string{
		"InvalidationIds": strings.Join(ids, ","),
		"DistributionIds": strings.Join(distributionsOnly(st.Distributions), ","),
		"PathCount":       strconv.Itoa(st.PathCount),
	}
	if tenants := tenantIDs(st.Distributions); len(tenants) > 0 {
		outputs["DistributionTenantIds"] = strings.Join(tenants, ",")
	}
	if st.Deploy != nil {
		outputs["Uploaded"] = strconv.Itoa(st.Deploy.Uploaded)
		outputs["Deleted"] = strconv.Itoa(st.Deploy.Deleted)
	}
	if r.params.Verify && len(ids) > 0 {
		outputs["Verified"] = strconv.Itoa(st.Verified)
	}
	r.log.Info("job succeeded", slog.String("status", "succeeded"), slog.Any("invalidation_ids", ids), slog.Float64("elapsed", waited.Seconds()))
	return result{state: st, summary: truncate(b.String(), 2048), outputs: outputs, percent: 100}
}

// fail turns an error into the job failure that says what to fix.
func (r *run) fail(err error, dist string) result {
	typ, msg := describe(err, dist, r.params)
	return result{state: r.st, failure: &failure{typ: typ, msg: msg}}
}

// describe picks the failure type and the advice for err.
func describe(err error, dist string, p Params) (types.FailureType, string) {
	text := errText(err)
	var ce *ConfigError
	if errors.As(err, &ce) {
		return types.FailureTypeConfigurationError, text
	}
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	where := "the function's role"
	if p.RoleARN != "" {
		where = "the role " + p.RoleARN + " (RoleArn), which must also trust the function's role"
	}
	switch code {
	case "NoSuchDistribution":
		return types.FailureTypeConfigurationError, fmt.Sprintf("%s Distribution %s does not exist in the account of %s: check DistributionId/DistributionIds in UserParameters.", text, dist, where)
	case "NoSuchBucket":
		return types.FailureTypeConfigurationError, text + " Check Bucket in UserParameters."
	case "EntityNotFound":
		if msg := tenantAdvice(text, dist, where); msg != "" {
			return types.FailureTypeConfigurationError, msg
		}
	}
	switch invalidation.Classify(err) {
	case invalidation.KindConfiguration:
		return types.FailureTypeConfigurationError, text + " CloudFront rejected the request: check the distribution ids and Paths in UserParameters."
	case invalidation.KindPermission:
		if p.DeployMode() && dist == "" {
			return types.FailureTypePermissionError, fmt.Sprintf("%s Grant %s s3:ListBucket, s3:GetObject, s3:PutObject and s3:DeleteObject on the site bucket %s, and make sure the action can read its input artifact.", text, where, p.Bucket)
		}
		target := "arn:aws:cloudfront::<account>:distribution/<id>"
		if dist != "" {
			target = invalidation.ARN("<account>", dist)
		}
		return types.FailureTypePermissionError, fmt.Sprintf("%s Grant %s %s on %s.", text, where, invalidateActions(dist), target)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return types.FailureTypeJobFailed, text + " The invocation ran out of time: raise the function's timeout (5 minutes is recommended)."
	}
	return types.FailureTypeJobFailed, text
}

// errText renders err as one sentence for people. The SDK's operation errors carry
// transport details (status code, request id) that say nothing about what to fix;
// they are shortened to "<service> <operation>: <code>: <message>", keeping the
// context the callers wrapped around them.
func errText(err error) string {
	full := err.Error()
	var oe *smithy.OperationError
	var ae smithy.APIError
	if errors.As(err, &oe) && errors.As(err, &ae) {
		if i := strings.Index(full, oe.Error()); i >= 0 {
			full = full[:i] + oe.ServiceID + " " + oe.OperationName + ": " + ae.ErrorCode() + ": " + ae.ErrorMessage()
		}
	}
	return strings.TrimRight(full, ". ") + "."
}

// finish reports res to CodePipeline and, for a final result, sends the notification.
// A reporting error other than InvalidJobStateException is returned (a *ReportError), so
// that Lambda delivers the event again rather than leaving the job without a result.
func (r *run) finish(ctx context.Context, res result) error {
	jobs := r.h.Jobs
	switch {
	case res.failure != nil:
		msg := truncate(res.failure.msg, 5000)
		if msg == "" {
			msg = "failed"
		}
		r.log.Error("job failed", slog.String("status", "failed"), slog.String("failure_type", string(res.failure.typ)), slog.String("reason", msg))
		_, err := jobs.PutJobFailureResult(ctx, &cpsdk.PutJobFailureResultInput{
			JobId:          aws.String(r.jobID),
			FailureDetails: &types.FailureDetails{Type: res.failure.typ, Message: aws.String(msg)},
		})
		if ok, rerr := r.reported(err); !ok || rerr != nil {
			return rerr
		}
		r.notify(ctx, res, msg)
	case res.token != "":
		in := &cpsdk.PutJobSuccessResultInput{
			JobId:             aws.String(r.jobID),
			ContinuationToken: aws.String(res.token),
			ExecutionDetails: &types.ExecutionDetails{
				PercentComplete: aws.Int32(int32(res.percent)),
				Summary:         aws.String(truncate(res.summary, 2048)),
			},
		}
		_, err := jobs.PutJobSuccessResult(ctx, in)
		_, rerr := r.reported(err)
		return rerr
	default:
		in := &cpsdk.PutJobSuccessResultInput{
			JobId:           aws.String(r.jobID),
			OutputVariables: res.outputs,
			ExecutionDetails: &types.ExecutionDetails{
				PercentComplete: aws.Int32(100),
				Summary:         aws.String(truncate(res.summary, 2048)),
			},
		}
		if res.outputs != nil && res.outputs["InvalidationIds"] != "" {
			in.ExecutionDetails.ExternalExecutionId = aws.String(truncate(res.outputs["InvalidationIds"], 1500))
		}
		_, err := jobs.PutJobSuccessResult(ctx, in)
		if ok, rerr := r.reported(err); !ok || rerr != nil {
			return rerr
		}
		r.notify(ctx, res, "")
	}
	return nil
}

// reported logs the outcome of a result call. ok is false when the result was not
// recorded: the job already had a result (InvalidJobStateException: a redelivered
// event, whose first invocation has sent the notification; err nil), or the call failed
// (a *ReportError, for Lambda to deliver the event again).
func (r *run) reported(err error) (ok bool, _ error) {
	if err == nil {
		r.log.Info("result reported", slog.Float64("invocation_seconds", r.h.now().Sub(r.started).Seconds()))
		return true, nil
	}
	var ise *types.InvalidJobStateException
	var ae smithy.APIError
	if errors.As(err, &ise) || (errors.As(err, &ae) && ae.ErrorCode() == "InvalidJobStateException") {
		// A redelivered event whose job already has its result.
		r.log.Warn("job already has a result; ignoring", slog.String("error", err.Error()))
		return false, nil
	}
	r.log.Error("could not report the job result; returning an error so that Lambda delivers the event again", slog.String("error", err.Error()))
	return false, &ReportError{JobID: r.jobID, Err: err}
}

// notifyTimeout bounds the notification so a slow webhook cannot eat the invocation.
const notifyTimeout = 10 * time.Second

func (r *run) notify(ctx context.Context, res result, reason string) {
	if !r.paramsOK || !r.params.Notify() {
		return
	}
	if r.h.Notifiers == nil {
		r.log.Warn("a Slack notification is configured but this build has no notifier")
		return
	}
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("notifier panicked", slog.String("panic", fmt.Sprint(v)))
		}
	}()
	m := Message{Pipeline: r.params.PipelineName, JobID: r.jobID, Succeeded: res.failure == nil, Reason: reason, Distributions: r.params.DistributionIDs, NotWaited: !r.params.Wait}
	if st := res.state; st != nil {
		m.Distributions = st.Distributions
		m.Paths = st.Paths
		for _, id := range st.IDs {
			if id != "" {
				m.InvalidationIDs = append(m.InvalidationIDs, id)
			}
		}
		m.Waited = r.h.now().Sub(st.Start)
	}
	ctx, cancel := context.WithTimeout(ctx, notifyTimeout)
	defer cancel()
	n, err := r.h.Notifiers(ctx, r.params)
	if err == nil {
		err = n.Notify(ctx, m)
	}
	if err != nil {
		r.log.Warn("notification failed (the job result stands)", slog.String("error", err.Error()))
		return
	}
	r.log.Info("notification sent")
}
