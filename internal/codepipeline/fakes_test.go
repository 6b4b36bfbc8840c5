package codepipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	cpsdk "github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// fakeCloudFront behaves like CloudFront for the handler: caller references
// deduplicate, invalidations complete after a number of GetInvalidation calls, and
// errors can be queued per operation.
type fakeCloudFront struct {
	mu sync.Mutex
	// completeAfterGets: an invalidation answers InProgress to this many Gets, then Completed.
	completeAfterGets int
	// completedStatus is what a completed invalidation answers ("Completed" by default;
	// moto answers "COMPLETED").
	completedStatus string
	createErrs      []error // popped one per CreateInvalidation call
	getErrs         []error
	missing         map[string]bool // distributions that do not exist

	createCalls int
	createTimes []time.Time
	getCalls    int
	invs        map[string]*fakeInv // by caller reference
	order       []*fakeInv
	seq         int
}

type fakeInv struct {
	dist, id, ref string
	paths         []string
	gets          int
}

func newFakeCloudFront() *fakeCloudFront {
	return &fakeCloudFront{invs: map[string]*fakeInv{}, missing: map[string]bool{}, completedStatus: "Completed"}
}

func (f *fakeCloudFront) CreateInvalidation(ctx context.Context, in *cloudfront.CreateInvalidationInput, _ ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.createCalls++
	f.createTimes = append(f.createTimes, time.Now())
	if len(f.createErrs) > 0 {
		err := f.createErrs[0]
		f.createErrs = f.createErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	dist := aws.ToString(in.DistributionId)
	if f.missing[dist] {
		return nil, &cftypes.NoSuchDistribution{Message: aws.String("The specified distribution does not exist.")}
	}
	ref := aws.ToString(in.InvalidationBatch.CallerReference)
	paths := in.InvalidationBatch.Paths.Items
	if inv, ok := f.invs[dist+"/"+ref]; ok {
		if fmt.Sprint(inv.paths) != fmt.Sprint(paths) {
			return nil, &cftypes.InvalidArgument{Message: aws.String("Your request contains a caller reference that was used for a previous invalidation batch for the same distribution.")}
		}
		return &cloudfront.CreateInvalidationOutput{Invalidation: f.render(inv)}, nil
	}
	f.seq++
	inv := &fakeInv{dist: dist, id: fmt.Sprintf("I%04dFAKE", f.seq), ref: ref, paths: append([]string(nil), paths...)}
	f.invs[dist+"/"+ref] = inv
	f.order = append(f.order, inv)
	return &cloudfront.CreateInvalidationOutput{Invalidation: f.render(inv)}, nil
}

func (f *fakeCloudFront) render(inv *fakeInv) *cftypes.Invalidation {
	status := "InProgress"
	if inv.gets >= f.completeAfterGets && inv.gets > 0 || f.completeAfterGets == 0 {
		status = f.completedStatus
	}
	return &cftypes.Invalidation{Id: aws.String(inv.id), Status: aws.String(status), CreateTime: aws.Time(time.Now()),
		InvalidationBatch: &cftypes.InvalidationBatch{CallerReference: aws.String(inv.ref), Paths: &cftypes.Paths{Quantity: aws.Int32(int32(len(inv.paths))), Items: inv.paths}}}
}

func (f *fakeCloudFront) GetInvalidation(ctx context.Context, in *cloudfront.GetInvalidationInput, _ ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.getCalls++
	if len(f.getErrs) > 0 {
		err := f.getErrs[0]
		f.getErrs = f.getErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	for _, inv := range f.order {
		if inv.dist == aws.ToString(in.DistributionId) && inv.id == aws.ToString(in.Id) {
			inv.gets++
			return &cloudfront.GetInvalidationOutput{Invalidation: f.render(inv)}, nil
		}
	}
	return nil, &cftypes.NoSuchInvalidation{Message: aws.String("no such invalidation")}
}

func (f *fakeCloudFront) created() []*fakeInv {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*fakeInv(nil), f.order...)
}

// fakeJobs records results and, like CodePipeline, accepts one result per job.
type fakeJobs struct {
	mu       sync.Mutex
	results  map[string]jobResult
	order    []string
	rejected int
	err      error // returned by every call when set
}

type jobResult struct {
	success bool
	token   string
	summary string
	percent int
	outputs map[string]string
	typ     types.FailureType
	message string
}

func newFakeJobs() *fakeJobs { return &fakeJobs{results: map[string]jobResult{}} }

func (j *fakeJobs) put(id string, r jobResult) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if _, dup := j.results[id]; dup {
		j.rejected++
		return &types.InvalidJobStateException{Message: aws.String("Job " + id + " is in state Succeeded")}
	}
	j.results[id] = r
	j.order = append(j.order, id)
	return nil
}

func (j *fakeJobs) PutJobSuccessResult(ctx context.Context, in *cpsdk.PutJobSuccessResultInput, _ ...func(*cpsdk.Options)) (*cpsdk.PutJobSuccessResultOutput, error) {
	r := jobResult{success: true, token: aws.ToString(in.ContinuationToken), outputs: in.OutputVariables}
	if len(r.token) > MaxTokenLen {
		return nil, fmt.Errorf("ValidationException: continuationToken longer than %d", MaxTokenLen)
	}
	if r.token != "" && in.OutputVariables != nil {
		return nil, fmt.Errorf("ValidationException: outputVariables with a continuation token")
	}
	if d := in.ExecutionDetails; d != nil {
		r.summary = aws.ToString(d.Summary)
		if d.PercentComplete != nil {
			r.percent = int(*d.PercentComplete)
		}
		if len(r.summary) > 2048 {
			return nil, fmt.Errorf("ValidationException: summary too long")
		}
	}
	return &cpsdk.PutJobSuccessResultOutput{}, j.put(aws.ToString(in.JobId), r)
}

func (j *fakeJobs) PutJobFailureResult(ctx context.Context, in *cpsdk.PutJobFailureResultInput, _ ...func(*cpsdk.Options)) (*cpsdk.PutJobFailureResultOutput, error) {
	msg := aws.ToString(in.FailureDetails.Message)
	if len(msg) < 1 || len(msg) > 5000 {
		return nil, fmt.Errorf("ValidationException: message length %d", len(msg))
	}
	return &cpsdk.PutJobFailureResultOutput{}, j.put(aws.ToString(in.JobId), jobResult{typ: in.FailureDetails.Type, message: msg})
}

func (j *fakeJobs) result(t *testing.T, id string) jobResult {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	r, ok := j.results[id]
	if !ok {
		t.Fatalf("job %s has no result", id)
	}
	return r
}

const (
	testSecretKey    = "wJalrXUtnFEMI-SECRET-never-log-me"
	testSessionToken = "FwoGZXIvYXdzEXAMPLE-session-never-log-me"
	testAccessKey    = "ASIAEXAMPLEKEY12345"
)

// event builds a CodePipeline job event as the service sends it.
func event(jobID, userParams, token string) json.RawMessage {
	data := map[string]any{
		"actionConfiguration": map[string]any{"configuration": map[string]string{"FunctionName": "edgeflush", "UserParameters": userParams}},
		"inputArtifacts": []any{map[string]any{"name": "site", "revision": "abc123",
			"location": map[string]any{"type": "S3", "s3Location": map[string]string{"bucketName": "artifact-bucket", "objectKey": "pipe/site/abc.zip"}}}},
		"outputArtifacts": []any{},
		"artifactCredentials": map[string]any{"accessKeyId": testAccessKey, "secretAccessKey": testSecretKey,
			"sessionToken": testSessionToken, "expirationTime": 1575493418000},
	}
	if token != "" {
		data["continuationToken"] = token
	}
	b, err := json.Marshal(map[string]any{"CodePipeline.job": map[string]any{"id": jobID, "accountId": "123456789012", "data": data}})
	if err != nil {
		panic(err)
	}
	return b
}

type harness struct {
	t    *testing.T
	cf   *fakeCloudFront
	jobs *fakeJobs
	logs *testkit.SyncBuffer
	h    *Handler
	// factoryParams records the params every CloudFront factory call got.
	factoryParams []Params
	factoryJobIDs []string
	mu            sync.Mutex
}

func newHarness(t *testing.T) *harness {
	hs := &harness{t: t, cf: newFakeCloudFront(), jobs: newFakeJobs(), logs: &testkit.SyncBuffer{}}
	hs.h = &Handler{
		Jobs: hs.jobs,
		CloudFront: func(ctx context.Context, p Params) (invalidation.API, error) {
			hs.mu.Lock()
			defer hs.mu.Unlock()
			hs.factoryParams = append(hs.factoryParams, p)
			hs.factoryJobIDs = append(hs.factoryJobIDs, JobID(ctx))
			return hs.cf, nil
		},
		Logger:       NewLogger(hs.logs),
		PollInterval: time.Millisecond,
		PollBudget:   2 * time.Second,
		SafetyMargin: time.Millisecond,
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("handler logs:\n%s", hs.logs.String())
		}
	})
	return hs
}

// invoke delivers one event and fails the test if Handle returned an error.
func (hs *harness) invoke(jobID, params, token string) jobResult {
	hs.t.Helper()
	if err := hs.h.Handle(context.Background(), event(jobID, params, token)); err != nil {
		hs.t.Fatalf("Handle(%s) returned %v; it must report to the job instead", jobID, err)
	}
	return hs.jobs.result(hs.t, jobID)
}

// chain plays CodePipeline: it re-invokes with a new job id while results carry a
// continuation token, and returns the final result and the number of jobs.
func (hs *harness) chain(params string, maxJobs int) (jobResult, int) {
	hs.t.Helper()
	token := ""
	for n := 1; n <= maxJobs; n++ {
		res := hs.invoke(fmt.Sprintf("job-%04d", n), params, token)
		if !res.success || res.token == "" {
			return res, n
		}
		if res.outputs != nil {
			hs.t.Fatalf("job %d sent output variables with a continuation token", n)
		}
		token = res.token
	}
	hs.t.Fatalf("chain did not end within %d jobs", maxJobs)
	return jobResult{}, 0
}
