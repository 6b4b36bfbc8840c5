package testkit

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/smithy-go"
)

func cpClient(t *testing.T, url string) *codepipeline.Client {
	t.Helper()
	cfg, err := SDKConfig(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return codepipeline.NewFromConfig(cfg, func(o *codepipeline.Options) { o.RetryMaxAttempts = 1 })
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != code {
		t.Fatalf("%s: %v, want %s", what, err, code)
	}
}

func TestJobAPIRules(t *testing.T) {
	ctx := context.Background()
	j := StartJobAPI(t)
	c := cpClient(t, j.URL)
	d := &Driver{Jobs: j, UserParameters: `{"DistributionId":"E1"}`}
	job := d.NewJob("")

	// Unknown job: typed JobNotFoundException.
	_, err := c.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{JobId: aws.String("nope")})
	var nf *types.JobNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("unknown job: %v, want JobNotFoundException", err)
	}

	// Rejected inputs record nothing.
	long := strings.Repeat("t", MaxContinuationToken+1)
	_, err = c.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{JobId: aws.String(job.ID), ContinuationToken: aws.String(long)})
	var ve *types.ValidationException
	if !errors.As(err, &ve) {
		t.Fatalf("2049-char token: %v, want ValidationException", err)
	}
	_, err = c.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{JobId: aws.String(job.ID), ContinuationToken: aws.String("t"), OutputVariables: map[string]string{"A": "1"}})
	if !errors.As(err, &ve) {
		t.Fatalf("output variables with a token: %v, want ValidationException", err)
	}
	_, err = c.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{JobId: aws.String(job.ID), OutputVariables: map[string]string{"bad key": "1"}})
	if !errors.As(err, &ve) {
		t.Fatalf("bad output variable key: %v, want ValidationException", err)
	}
	_, err = c.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{JobId: aws.String(job.ID), OutputVariables: map[string]string{"Big": strings.Repeat("x", MaxOutputVariableSize)}})
	var big *types.OutputVariablesSizeExceededException
	if !errors.As(err, &big) {
		t.Fatalf("oversized output variables: %v, want OutputVariablesSizeExceededException", err)
	}
	_, err = c.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{JobId: aws.String(job.ID), ExecutionDetails: &types.ExecutionDetails{PercentComplete: aws.Int32(101)}})
	wantCode(t, "percentComplete 101", err, "ValidationException")
	_, err = c.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{JobId: aws.String(job.ID), ExecutionDetails: &types.ExecutionDetails{Summary: aws.String(strings.Repeat("s", MaxSummary+1))}})
	wantCode(t, "long summary", err, "ValidationException")
	_, err = c.PutJobFailureResult(ctx, &codepipeline.PutJobFailureResultInput{JobId: aws.String(job.ID), FailureDetails: &types.FailureDetails{Type: "Oops", Message: aws.String("m")}})
	wantCode(t, "unknown failure type", err, "ValidationException")
	_, err = c.PutJobFailureResult(ctx, &codepipeline.PutJobFailureResultInput{JobId: aws.String(job.ID), FailureDetails: &types.FailureDetails{Type: types.FailureTypeJobFailed, Message: aws.String(strings.Repeat("m", MaxFailureMessage+1))}})
	wantCode(t, "5001-char message", err, "ValidationException")
	_, err = c.PutJobFailureResult(ctx, &codepipeline.PutJobFailureResultInput{JobId: aws.String(job.ID), FailureDetails: &types.FailureDetails{Type: types.FailureTypeJobFailed, Message: aws.String("")}})
	wantCode(t, "empty message", err, "ValidationException")
	if _, ok := j.Result(job.ID); ok {
		t.Fatal("a rejected call recorded a result")
	}

	// A valid success with output variables and a full token are accepted once.
	_, err = c.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{
		JobId:            aws.String(job.ID),
		ExecutionDetails: &types.ExecutionDetails{Summary: aws.String("done"), PercentComplete: aws.Int32(100)},
		OutputVariables:  map[string]string{"InvalidationIds": "I1", "a@b-c_d": "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := j.WaitResult(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Success || res.Summary != "done" || res.OutputVariables["InvalidationIds"] != "I1" || *res.PercentComplete != 100 {
		t.Fatalf("recorded %+v", res)
	}
	_, err = c.PutJobFailureResult(ctx, &codepipeline.PutJobFailureResultInput{JobId: aws.String(job.ID), FailureDetails: &types.FailureDetails{Type: types.FailureTypeJobFailed, Message: aws.String("late")}})
	var ijs *types.InvalidJobStateException
	if !errors.As(err, &ijs) {
		t.Fatalf("second result: %v, want InvalidJobStateException", err)
	}
	if got := j.Rejected(job.ID); len(got) != 1 || got[0] != "InvalidJobStateException" {
		t.Fatalf("rejected = %v", got)
	}

	// A continuation with the maximal token, then a failure on another job.
	next := d.NewJob(strings.Repeat("t", MaxContinuationToken))
	if _, err := c.PutJobSuccessResult(ctx, &codepipeline.PutJobSuccessResultInput{JobId: aws.String(next.ID), ContinuationToken: aws.String(strings.Repeat("t", MaxContinuationToken))}); err != nil {
		t.Fatalf("2048-char token: %v", err)
	}
	third := d.NewJob("")
	if _, err := c.PutJobFailureResult(ctx, &codepipeline.PutJobFailureResultInput{JobId: aws.String(third.ID), FailureDetails: &types.FailureDetails{Type: types.FailureTypeConfigurationError, Message: aws.String("fix it")}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := j.Result(third.ID); r.Success || r.FailureType != "ConfigurationError" || r.FailureMessage != "fix it" {
		t.Fatalf("failure recorded as %+v", r)
	}
	if got := len(j.Results()); got != 3 {
		t.Fatalf("results = %d, want 3", got)
	}
}

func TestJobAPIDetailsAndAck(t *testing.T) {
	ctx := context.Background()
	j := StartJobAPI(t)
	c := cpClient(t, j.URL)
	d := &Driver{Jobs: j, UserParameters: `{"DistributionId":"E1"}`, InputArtifacts: []Artifact{{Name: "site", Bucket: "b", Key: "k.zip"}}}
	job := d.NewJob("tok")
	out, err := c.GetJobDetails(ctx, &codepipeline.GetJobDetailsInput{JobId: aws.String(job.ID)})
	if err != nil {
		t.Fatal(err)
	}
	data := out.JobDetails.Data
	if got := data.ActionConfiguration.Configuration["UserParameters"]; got != `{"DistributionId":"E1"}` {
		t.Fatalf("UserParameters = %q", got)
	}
	if aws.ToString(data.ContinuationToken) != "tok" || len(data.InputArtifacts) != 1 || aws.ToString(data.InputArtifacts[0].Location.S3Location.ObjectKey) != "k.zip" {
		t.Fatalf("job data = %+v", data)
	}
	if aws.ToString(data.ArtifactCredentials.AccessKeyId) != ArtifactAccessKeyID {
		t.Fatal("artifact credentials missing")
	}
	ack, err := c.AcknowledgeJob(ctx, &codepipeline.AcknowledgeJobInput{JobId: aws.String(job.ID), Nonce: aws.String("1")})
	if err != nil || ack.Status != types.JobStatusInProgress || !j.Acknowledged(job.ID) {
		t.Fatalf("ack = %v, %v", ack, err)
	}
	_, err = c.GetJobDetails(ctx, &codepipeline.GetJobDetailsInput{JobId: aws.String("nope")})
	wantCode(t, "details of unknown job", err, "JobNotFoundException")

	// The Lambda event carries the same data under "CodePipeline.job".
	var ev struct {
		Job struct {
			ID   string          `json:"id"`
			Data json.RawMessage `json:"data"`
		} `json:"CodePipeline.job"`
	}
	if err := json.Unmarshal(Event(job), &ev); err != nil || ev.Job.ID != job.ID || !strings.Contains(string(ev.Job.Data), `"continuationToken":"tok"`) {
		t.Fatalf("event = %s (%v)", Event(job), err)
	}

	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := j.WaitResult(wctx, job.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("wait without result: %v", err)
	}
}
