package testkit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Limits CodePipeline enforces on job results (API model and user guide).
const (
	MaxContinuationToken  = 2048
	MaxSummary            = 2048
	MaxExternalExecution  = 1500
	MaxFailureMessage     = 5000
	MaxOutputVariableSize = 122880 // bytes, keys plus values, per action
)

// FailureTypes are the values CodePipeline accepts for failureDetails.type.
var FailureTypes = []string{"JobFailed", "ConfigurationError", "PermissionError", "RevisionOutOfSync", "RevisionUnavailable", "SystemUnavailable"}

var outputKeyRE = regexp.MustCompile(`^[A-Za-z0-9@\-_]+$`)

// JobResult is a result reported for a job.
type JobResult struct {
	JobID   string
	Success bool
	At      time.Time

	// Success fields.
	ContinuationToken   string
	Summary             string
	ExternalExecutionID string
	PercentComplete     *int
	OutputVariables     map[string]string
	CurrentRevision     json.RawMessage

	// Failure fields.
	FailureType    string
	FailureMessage string
}

// Continues reports whether the result is a success with a continuation token, after which
// CodePipeline creates a new job.
func (r JobResult) Continues() bool { return r.Success && r.ContinuationToken != "" }

// String is a one-line description for logs and demo output (no credentials in it).
func (r JobResult) String() string {
	switch {
	case !r.Success:
		return fmt.Sprintf("failure %s: %s", r.FailureType, r.FailureMessage)
	case r.ContinuationToken != "":
		return fmt.Sprintf("in progress (continuation token, %d chars)", len(r.ContinuationToken))
	}
	return fmt.Sprintf("success: %s", r.Summary)
}

// Job is a job known to the stand-in.
type Job struct {
	ID        string
	AccountID string
	Data      json.RawMessage // the job data, as in the Lambda event and GetJobDetails
	Created   time.Time
}

// JobAPI stands in for CodePipeline's job-worker API (AWS JSON 1.1 over POST /, target
// CodePipeline_20150709.<Op>), which moto does not implement. It enforces the rules the real
// service enforces on results and records them so tests can wait for them.
type JobAPI struct {
	URL string

	srv *httptest.Server

	mu       sync.Mutex
	jobs     map[string]*Job
	order    []string
	results  map[string]JobResult
	rejected map[string][]string // job id -> error codes answered to result calls
	calls    map[string]int      // operation -> count
	acked    map[string]bool
	changed  chan struct{}       // closed and replaced on every new result
	faults   map[string][]string // operation -> error codes of the next answers
}

// FailNext makes the next n calls of operation op (e.g. "PutJobSuccessResult") answer
// the error code without recording anything: "InternalError" as HTTP 500 (an outage,
// which the SDK retries itself), any other code as HTTP 400 (e.g.
// "AccessDeniedException", as for a role whose permission has not propagated yet, which
// the SDK does not retry).
func (j *JobAPI) FailNext(op string, n int, code string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for range n {
		j.faults[op] = append(j.faults[op], code)
	}
}

// StartJobAPI starts the stand-in on a free loopback port; it is closed when the test ends.
func StartJobAPI(t testing.TB) *JobAPI {
	t.Helper()
	j := NewJobAPI()
	t.Cleanup(j.Close)
	return j
}

// NewJobAPI starts the stand-in; the caller must call Close.
func NewJobAPI() *JobAPI {
	j := &JobAPI{
		jobs:     map[string]*Job{},
		results:  map[string]JobResult{},
		rejected: map[string][]string{},
		calls:    map[string]int{},
		acked:    map[string]bool{},
		changed:  make(chan struct{}),
		faults:   map[string][]string{},
	}
	j.srv = httptest.NewServer(http.HandlerFunc(j.serve))
	j.URL = j.srv.URL
	return j
}

// Close stops the stand-in.
func (j *JobAPI) Close() { j.srv.Close() }

// Env returns AWS_ENDPOINT_URL_CODEPIPELINE pointing at the stand-in.
func (j *JobAPI) Env() []string { return []string{"AWS_ENDPOINT_URL_CODEPIPELINE=" + j.URL} }

// AddJob registers a job so that results can be reported for it.
func (j *JobAPI) AddJob(job Job) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if job.Created.IsZero() {
		job.Created = time.Now()
	}
	cp := job
	if _, ok := j.jobs[job.ID]; !ok {
		j.order = append(j.order, job.ID)
	}
	j.jobs[job.ID] = &cp
}

// Result returns the result reported for jobID, if any.
func (j *JobAPI) Result(jobID string) (JobResult, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.results[jobID]
	return r, ok
}

// Results returns all results in job creation order.
func (j *JobAPI) Results() []JobResult {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []JobResult
	for _, id := range j.order {
		if r, ok := j.results[id]; ok {
			out = append(out, r)
		}
	}
	return out
}

// Rejected returns the error codes the stand-in answered to result calls for jobID
// (for example InvalidJobStateException for a second result).
func (j *JobAPI) Rejected(jobID string) []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.rejected[jobID]...)
}

// Acknowledged reports whether AcknowledgeJob was called for jobID.
func (j *JobAPI) Acknowledged(jobID string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.acked[jobID]
}

// Calls returns how many times operation op was called.
func (j *JobAPI) Calls(op string) int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.calls[op]
}

// WaitResult waits until a result is reported for jobID or ctx ends.
func (j *JobAPI) WaitResult(ctx context.Context, jobID string) (JobResult, error) {
	for {
		j.mu.Lock()
		r, ok := j.results[jobID]
		ch := j.changed
		j.mu.Unlock()
		if ok {
			return r, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return JobResult{}, fmt.Errorf("wait for the result of job %s: %w", jobID, ctx.Err())
		}
	}
}

// APIError is an AWS JSON 1.1 error answer.
type APIError struct {
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

func validationError(format string, args ...any) *APIError {
	return &APIError{Code: "ValidationException", Message: fmt.Sprintf(format, args...)}
}

func writeJSONError(w http.ResponseWriter, e *APIError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", requestID())
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "message": e.Message})
}

func (j *JobAPI) serve(w http.ResponseWriter, r *http.Request) {
	const prefix = "CodePipeline_20150709."
	target := r.Header.Get("X-Amz-Target")
	if r.Method != http.MethodPost || !strings.HasPrefix(target, prefix) {
		writeJSONError(w, &APIError{Code: "UnknownOperationException", Message: "expected POST / with X-Amz-Target CodePipeline_20150709.<Op>"})
		return
	}
	op := strings.TrimPrefix(target, prefix)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeJSONError(w, &APIError{Code: "SerializationException", Message: "cannot read body"})
		return
	}
	j.mu.Lock()
	j.calls[op]++
	var fault string
	if q := j.faults[op]; len(q) > 0 {
		fault, j.faults[op] = q[0], q[1:]
	}
	j.mu.Unlock()
	if fault != "" {
		status := http.StatusBadRequest
		if fault == "InternalError" {
			status = http.StatusInternalServerError
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": fault, "message": "testkit: injected " + fault})
		return
	}
	var out any
	var apiErr *APIError
	switch op {
	case "PutJobSuccessResult":
		apiErr = j.putSuccess(body)
		out = struct{}{}
	case "PutJobFailureResult":
		apiErr = j.putFailure(body)
		out = struct{}{}
	case "GetJobDetails":
		out, apiErr = j.getJobDetails(body)
	case "AcknowledgeJob":
		out, apiErr = j.acknowledge(body)
	default:
		apiErr = &APIError{Code: "UnknownOperationException", Message: "the stand-in does not implement " + op}
	}
	if apiErr != nil {
		writeJSONError(w, apiErr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", requestID())
	_ = json.NewEncoder(w).Encode(out)
}

type successInput struct {
	JobID             *string         `json:"jobId"`
	ContinuationToken *string         `json:"continuationToken"`
	CurrentRevision   json.RawMessage `json:"currentRevision"`
	ExecutionDetails  *struct {
		Summary             *string `json:"summary"`
		ExternalExecutionID *string `json:"externalExecutionId"`
		PercentComplete     *int    `json:"percentComplete"`
	} `json:"executionDetails"`
	OutputVariables map[string]string `json:"outputVariables"`
}

type failureInput struct {
	JobID          *string `json:"jobId"`
	FailureDetails *struct {
		Type                *string `json:"type"`
		Message             *string `json:"message"`
		ExternalExecutionID *string `json:"externalExecutionId"`
	} `json:"failureDetails"`
}

func checkLen(field string, s *string, minLen, maxLen int) *APIError {
	if s == nil {
		return nil
	}
	if n := utf8.RuneCountInString(*s); n < minLen || n > maxLen {
		return validationError("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length between %d and %d (got %d)", field, minLen, maxLen, n)
	}
	return nil
}

// record stores a result after the job checks shared by both result operations.
func (j *JobAPI) record(jobID *string, res JobResult) *APIError {
	if jobID == nil || *jobID == "" {
		return validationError("1 validation error detected: Value null at 'jobId' failed to satisfy constraint: Member must not be null")
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	reject := func(e *APIError) *APIError {
		j.rejected[*jobID] = append(j.rejected[*jobID], e.Code)
		return e
	}
	if _, ok := j.jobs[*jobID]; !ok {
		return reject(&APIError{Code: "JobNotFoundException", Message: fmt.Sprintf("Job with id %s was not found", *jobID)})
	}
	if _, done := j.results[*jobID]; done {
		return reject(&APIError{Code: "InvalidJobStateException", Message: fmt.Sprintf("Job with id %s is not in the InProgress state", *jobID)})
	}
	res.JobID = *jobID
	res.At = time.Now()
	j.results[*jobID] = res
	close(j.changed)
	j.changed = make(chan struct{})
	return nil
}

func (j *JobAPI) putSuccess(body []byte) *APIError {
	var in successInput
	if err := json.Unmarshal(body, &in); err != nil {
		return &APIError{Code: "SerializationException", Message: err.Error()}
	}
	if e := checkLen("continuationToken", in.ContinuationToken, 1, MaxContinuationToken); e != nil {
		return e
	}
	res := JobResult{Success: true, CurrentRevision: in.CurrentRevision, OutputVariables: in.OutputVariables}
	if in.ContinuationToken != nil {
		res.ContinuationToken = *in.ContinuationToken
	}
	if d := in.ExecutionDetails; d != nil {
		if e := checkLen("executionDetails.summary", d.Summary, 1, MaxSummary); e != nil {
			return e
		}
		if e := checkLen("executionDetails.externalExecutionId", d.ExternalExecutionID, 1, MaxExternalExecution); e != nil {
			return e
		}
		if d.PercentComplete != nil && (*d.PercentComplete < 0 || *d.PercentComplete > 100) {
			return validationError("1 validation error detected: Value '%d' at 'executionDetails.percentComplete' failed to satisfy constraint: Member must have value between 0 and 100", *d.PercentComplete)
		}
		if d.Summary != nil {
			res.Summary = *d.Summary
		}
		if d.ExternalExecutionID != nil {
			res.ExternalExecutionID = *d.ExternalExecutionID
		}
		res.PercentComplete = d.PercentComplete
	}
	if len(in.OutputVariables) > 0 {
		if in.ContinuationToken != nil {
			return validationError("outputVariables can only be included when there is no continuation token on the request")
		}
		size := 0
		for k, v := range in.OutputVariables {
			if !outputKeyRE.MatchString(k) {
				return validationError("1 validation error detected: Value at 'outputVariables' failed to satisfy constraint: Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [A-Za-z0-9@\\-_]+] (key %q)", k)
			}
			size += len(k) + len(v)
		}
		if size > MaxOutputVariableSize {
			return &APIError{Code: "OutputVariablesSizeExceededException", Message: fmt.Sprintf("The output variables size of %d bytes exceeds the limit of %d bytes", size, MaxOutputVariableSize)}
		}
	}
	return j.record(in.JobID, res)
}

func (j *JobAPI) putFailure(body []byte) *APIError {
	var in failureInput
	if err := json.Unmarshal(body, &in); err != nil {
		return &APIError{Code: "SerializationException", Message: err.Error()}
	}
	d := in.FailureDetails
	if d == nil || d.Type == nil || d.Message == nil {
		return validationError("1 validation error detected: failureDetails with type and message is required")
	}
	valid := false
	for _, t := range FailureTypes {
		valid = valid || *d.Type == t
	}
	if !valid {
		return validationError("1 validation error detected: Value '%s' at 'failureDetails.type' failed to satisfy constraint: Member must satisfy enum value set: [%s]", *d.Type, strings.Join(FailureTypes, ", "))
	}
	if e := checkLen("failureDetails.message", d.Message, 1, MaxFailureMessage); e != nil {
		return e
	}
	if e := checkLen("failureDetails.externalExecutionId", d.ExternalExecutionID, 1, MaxExternalExecution); e != nil {
		return e
	}
	return j.record(in.JobID, JobResult{FailureType: *d.Type, FailureMessage: *d.Message})
}

func (j *JobAPI) job(body []byte) (*Job, *APIError) {
	var in struct {
		JobID string `json:"jobId"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, &APIError{Code: "SerializationException", Message: err.Error()}
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	job, ok := j.jobs[in.JobID]
	if !ok {
		return nil, &APIError{Code: "JobNotFoundException", Message: fmt.Sprintf("Job with id %s was not found", in.JobID)}
	}
	cp := *job
	return &cp, nil
}

func (j *JobAPI) getJobDetails(body []byte) (any, *APIError) {
	job, e := j.job(body)
	if e != nil {
		return nil, e
	}
	return map[string]any{"jobDetails": map[string]any{"id": job.ID, "accountId": job.AccountID, "data": job.Data}}, nil
}

func (j *JobAPI) acknowledge(body []byte) (any, *APIError) {
	job, e := j.job(body)
	if e != nil {
		return nil, e
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	status := "InProgress"
	if r, ok := j.results[job.ID]; ok {
		status = "Succeeded"
		if !r.Success {
			status = "Failed"
		}
	}
	j.acked[job.ID] = true
	return map[string]string{"status": status}, nil
}
