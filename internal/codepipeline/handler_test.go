package codepipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/smithy-go"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

const seed = `{"PipelineName": "site-pipeline", "DistributionId": "E2EXAMPLE12345"}`

func TestSeedParamsSucceedOnlyAfterCompletion(t *testing.T) {
	hs := newHarness(t)
	hs.cf.completeAfterGets = 3
	res := hs.invoke("job-1", seed, "")
	if !res.success || res.token != "" {
		t.Fatalf("want final success, got %+v", res)
	}
	invs := hs.cf.created()
	if len(invs) != 1 || invs[0].dist != "E2EXAMPLE12345" || fmt.Sprint(invs[0].paths) != "[/*]" {
		t.Fatalf("want one invalidation of /* on E2EXAMPLE12345, got %+v", invs)
	}
	if invs[0].gets < 3 {
		t.Fatalf("reported success after %d GetInvalidation calls; the invalidation completes at the 3rd", invs[0].gets)
	}
	want := map[string]string{"InvalidationIds": invs[0].id, "DistributionIds": "E2EXAMPLE12345", "PathCount": "1"}
	for k, v := range want {
		if res.outputs[k] != v {
			t.Errorf("output %s = %q, want %q", k, res.outputs[k], v)
		}
	}
	for _, s := range []string{"site-pipeline: ", "E2EXAMPLE12345", invs[0].id, "/*", "completed after"} {
		if !strings.Contains(res.summary, s) {
			t.Errorf("summary %q lacks %q", res.summary, s)
		}
	}
	if !strings.Contains(hs.logs.String(), `"pipeline":"site-pipeline"`) {
		t.Errorf("logs do not name the pipeline")
	}
}

func TestContinuationChainUntilCompletion(t *testing.T) {
	hs := newHarness(t)
	hs.cf.completeAfterGets = 5
	hs.h.PollBudget = time.Nanosecond // one poll per invocation: every job must hand over
	res, jobs := hs.chain(seed, 20)
	if !res.success {
		t.Fatalf("want success, got %+v", res)
	}
	if jobs != 5 {
		t.Fatalf("want 5 jobs (one poll each, completed at the 5th), got %d", jobs)
	}
	if n := len(hs.cf.created()); n != 1 {
		t.Fatalf("continuations created %d invalidations, want 1", n)
	}
	// Intermediate results are progress reports.
	first := hs.jobs.result(t, "job-0001")
	if first.token == "" || first.percent >= 100 || !strings.Contains(first.summary, "Waiting") {
		t.Fatalf("first job result = %+v, want a continuation with progress", first)
	}
	if res.outputs["InvalidationIds"] != hs.cf.created()[0].id {
		t.Fatalf("final outputs %v", res.outputs)
	}
}

func TestStatusComparedCaseInsensitively(t *testing.T) {
	hs := newHarness(t)
	hs.cf.completedStatus = "COMPLETED" // moto's spelling
	hs.cf.completeAfterGets = 1
	if res := hs.invoke("job-1", seed, ""); !res.success || res.token != "" {
		t.Fatalf("want final success with COMPLETED status, got %+v", res)
	}
}

func TestRedeliveredFirstEventCreatesOneInvalidation(t *testing.T) {
	hs := newHarness(t)
	ev := event("job-1", seed, "")
	for i := 0; i < 3; i++ {
		if err := hs.h.Handle(context.Background(), ev); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if n := len(hs.cf.created()); n != 1 {
		t.Fatalf("3 deliveries created %d invalidations, want 1", n)
	}
	if hs.cf.createCalls != 3 {
		t.Fatalf("want 3 CreateInvalidation calls answered by caller-reference dedup, got %d", hs.cf.createCalls)
	}
	if hs.jobs.rejected != 2 {
		t.Fatalf("want the 2 late results rejected with InvalidJobStateException, got %d", hs.jobs.rejected)
	}
	if !strings.Contains(hs.logs.String(), "job already has a result") {
		t.Fatalf("InvalidJobStateException was not logged")
	}
}

func TestRetriedContinuationDoesNotDuplicateCreation(t *testing.T) {
	// A creation pending across jobs keeps the first job's caller reference.
	hs := newHarness(t)
	tooMany := &cftypes.TooManyInvalidationsInProgress{Message: aws.String("Processing your request would cause you to exceed the maximum number of in-progress invalidations.")}
	hs.cf.createErrs = []error{tooMany}
	hs.h.PollBudget = time.Nanosecond
	first := hs.invoke("job-1", seed, "")
	if first.token == "" {
		t.Fatalf("want a continuation while the creation is pending, got %+v", first)
	}
	hs.invoke("job-2", seed, first.token)
	// Lambda redelivers job-2's event: same token, same caller reference.
	if err := hs.h.Handle(context.Background(), event("job-2", seed, first.token)); err != nil {
		t.Fatal(err)
	}
	invs := hs.cf.created()
	if len(invs) != 1 || invs[0].ref != invalidation.CallerReference("job-1", "E2EXAMPLE12345") {
		t.Fatalf("want one invalidation with the first job's caller reference, got %+v", invs)
	}
}

func TestBadInputFailsAndCreatesNothing(t *testing.T) {
	cases := []struct {
		name, params string
		key          string
	}{
		{"not json", `DistributionId=E1`, ""},
		{"empty", ``, ""},
		{"array", `["E2EXAMPLE12345"]`, ""},
		{"unknown key", `{"DistributionId":"E2EXAMPLE12345","Pathz":["/a"]}`, "Pathz"},
		{"wrong case key", `{"distributionId":"E2EXAMPLE12345"}`, "distributionId"},
		{"wrong type", `{"DistributionId":"E2EXAMPLE12345","Wait":"yes"}`, "Wait"},
		{"paths not list", `{"DistributionId":"E2EXAMPLE12345","Paths":"/index.html"}`, "Paths"},
		{"empty distribution list", `{"DistributionIds":[]}`, "DistributionId"},
		{"no distribution", `{"PipelineName":"p"}`, "DistributionId"},
		{"invalid path", `{"DistributionId":"E2EXAMPLE12345","Paths":["index.html"]}`, "Paths"},
		{"star inside", `{"DistributionId":"E2EXAMPLE12345","Paths":["/a*/b"]}`, "Paths"},
		{"arn", `{"DistributionId":"arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE12345"}`, "DistributionId"},
		{"too long", `{"DistributionId":"E2EXAMPLE12345","Paths":["/` + strings.Repeat("a", 1000) + `"]}`, ""},
		{"max wait zero", `{"DistributionId":"E2EXAMPLE12345","MaxWaitMinutes":0}`, "MaxWaitMinutes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			res := hs.invoke("job-1", c.params, "")
			if res.success || res.typ != types.FailureTypeConfigurationError {
				t.Fatalf("want ConfigurationError, got %+v", res)
			}
			if c.key != "" && !strings.Contains(res.message, `"`+c.key+`"`) {
				t.Fatalf("message %q does not name the key %q", res.message, c.key)
			}
			if hs.cf.createCalls != 0 {
				t.Fatalf("a bad input made %d CreateInvalidation calls", hs.cf.createCalls)
			}
		})
	}
}

func apiErr(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

func TestCloudFrontErrorsMapToFailureTypes(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want types.FailureType
		says string
	}{
		{"no such distribution", &cftypes.NoSuchDistribution{Message: aws.String("The specified distribution does not exist.")}, types.FailureTypeConfigurationError, "DistributionId"},
		{"access denied", &cftypes.AccessDenied{Message: aws.String("User is not authorized")}, types.FailureTypePermissionError, "cloudfront:CreateInvalidation"},
		{"invalid argument", &cftypes.InvalidArgument{Message: aws.String("bad")}, types.FailureTypeConfigurationError, "Paths"},
		{"other", apiErr("SomethingNew", "odd"), types.FailureTypeJobFailed, "SomethingNew"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			hs.cf.createErrs = []error{c.err}
			res := hs.invoke("job-1", seed, "")
			if res.success || res.typ != c.want {
				t.Fatalf("want %s, got %+v", c.want, res)
			}
			if !strings.Contains(res.message, c.says) || !strings.Contains(res.message, "E2EXAMPLE12345") {
				t.Fatalf("message %q should name the distribution and mention %q", res.message, c.says)
			}
		})
	}
}

func TestPermissionErrorNamesAssumedRole(t *testing.T) {
	hs := newHarness(t)
	hs.cf.createErrs = []error{&cftypes.AccessDenied{Message: aws.String("denied")}}
	res := hs.invoke("job-1", `{"DistributionId":"E2EXAMPLE12345","RoleArn":"arn:aws:iam::210987654321:role/invalidator"}`, "")
	if res.typ != types.FailureTypePermissionError || !strings.Contains(res.message, "arn:aws:iam::210987654321:role/invalidator") {
		t.Fatalf("got %+v", res)
	}
}

func TestInProgressLimitThenSuccess(t *testing.T) {
	hs := newHarness(t)
	tooMany := &cftypes.TooManyInvalidationsInProgress{Message: aws.String("Processing your request would cause you to exceed the maximum number of in-progress invalidations.")}
	hs.cf.createErrs = []error{tooMany, tooMany, tooMany}
	hs.cf.completeAfterGets = 2
	hs.h.PollBudget = time.Nanosecond
	res, jobs := hs.chain(seed, 20)
	if !res.success {
		t.Fatalf("want success after the in-progress limit cleared, got %+v", res)
	}
	if jobs < 4 {
		t.Fatalf("want the creation retried on later jobs, chain had %d jobs", jobs)
	}
	if n := len(hs.cf.created()); n != 1 {
		t.Fatalf("want 1 invalidation, got %d", n)
	}
	if !strings.Contains(hs.jobs.result(t, "job-0001").summary, "not created yet") {
		t.Fatalf("the progress summary should say the creation is pending: %q", hs.jobs.result(t, "job-0001").summary)
	}
}

func TestTransientErrorsKeepPolling(t *testing.T) {
	hs := newHarness(t)
	hs.cf.createErrs = []error{apiErr("ServiceUnavailable", "try later")}
	hs.cf.getErrs = []error{apiErr("Throttling", "Rate exceeded"), apiErr("Throttling", "Rate exceeded")}
	hs.cf.completeAfterGets = 1
	res, _ := hs.chain(seed, 5)
	if !res.success {
		t.Fatalf("transient errors must not fail the job: %+v", res)
	}
}

func TestSeveralDistributions(t *testing.T) {
	hs := newHarness(t)
	hs.cf.completeAfterGets = 2
	params := `{"PipelineName":"p","DistributionId":"E1AAAAAAAAAAAA","DistributionIds":["E2BBBBBBBBBBBB","E1AAAAAAAAAAAA","E3CCCCCCCCCCCC"],"Paths":["/index.html","/css/*","/index.html"]}`
	res := hs.invoke("job-1", params, "")
	if !res.success || res.token != "" {
		t.Fatalf("got %+v", res)
	}
	invs := hs.cf.created()
	if len(invs) != 3 {
		t.Fatalf("want one invalidation per distinct distribution (3), got %d", len(invs))
	}
	var ids []string
	for i, want := range []string{"E1AAAAAAAAAAAA", "E2BBBBBBBBBBBB", "E3CCCCCCCCCCCC"} {
		if invs[i].dist != want || fmt.Sprint(invs[i].paths) != "[/index.html /css/*]" {
			t.Fatalf("invalidation %d = %+v", i, invs[i])
		}
		if invs[i].gets < 2 {
			t.Fatalf("invalidation %d reported before completion", i)
		}
		ids = append(ids, invs[i].id)
	}
	if res.outputs["InvalidationIds"] != strings.Join(ids, ",") || res.outputs["DistributionIds"] != "E1AAAAAAAAAAAA,E2BBBBBBBBBBBB,E3CCCCCCCCCCCC" || res.outputs["PathCount"] != "2" {
		t.Fatalf("outputs %v", res.outputs)
	}
}

func TestWaitFalseSucceedsAfterCreation(t *testing.T) {
	hs := newHarness(t)
	hs.cf.completeAfterGets = 100
	res := hs.invoke("job-1", `{"DistributionId":"E2EXAMPLE12345","Wait":false}`, "")
	if !res.success || res.token != "" || hs.cf.getCalls != 0 {
		t.Fatalf("want immediate success without polling, got %+v after %d gets", res, hs.cf.getCalls)
	}
	if res.outputs["InvalidationIds"] == "" || !strings.Contains(res.summary, "not waiting") {
		t.Fatalf("got %+v", res)
	}
}

func TestMaxWaitMinutesExceeded(t *testing.T) {
	hs := newHarness(t)
	hs.cf.completeAfterGets = 1000
	hs.h.PollBudget = time.Nanosecond
	start := time.Now()
	clock := start
	var mu sync.Mutex
	hs.h.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	params := `{"DistributionIds":["E1AAAAAAAAAAAA","E2BBBBBBBBBBBB"],"MaxWaitMinutes":2}`
	hs.cf.missing = map[string]bool{}
	tooMany := &cftypes.TooManyInvalidationsInProgress{Message: aws.String("too many")}
	hs.cf.createErrs = []error{nil, tooMany, tooMany, tooMany, tooMany, tooMany}
	first := hs.invoke("job-1", params, "")
	if first.token == "" {
		t.Fatalf("want a continuation, got %+v", first)
	}
	mu.Lock()
	clock = start.Add(2*time.Minute + time.Second)
	mu.Unlock()
	res := hs.invoke("job-2", params, first.token)
	if res.success || res.typ != types.FailureTypeJobFailed {
		t.Fatalf("want JobFailed past MaxWaitMinutes, got %+v", res)
	}
	id := hs.cf.created()[0].id
	for _, s := range []string{"MaxWaitMinutes", "E1AAAAAAAAAAAA", id, "E2BBBBBBBBBBBB", "not created yet"} {
		if !strings.Contains(res.message, s) {
			t.Errorf("message %q lacks %q", res.message, s)
		}
	}
}

func TestTokenTooLargeFailsClearly(t *testing.T) {
	hs := newHarness(t)
	var paths []string
	for i := 0; i < 200; i++ {
		paths = append(paths, fmt.Sprintf("/%x/%d.html", sha(i), i))
	}
	hs.h.Deployer = deployerFunc(func(ctx context.Context, req DeployRequest) (DeployResult, error) {
		return DeployResult{Paths: paths, Uploaded: 200}, nil
	})
	hs.cf.createErrs = []error{&cftypes.TooManyInvalidationsInProgress{Message: aws.String("too many")}}
	hs.h.PollBudget = time.Nanosecond
	res := hs.invoke("job-1", `{"DistributionId":"E2EXAMPLE12345","Bucket":"site"}`, "")
	if res.success || res.typ != types.FailureTypeJobFailed {
		t.Fatalf("want JobFailed, got %+v", res)
	}
	for _, s := range []string{"2048", "MaxPaths", "E2EXAMPLE12345"} {
		if !strings.Contains(res.message, s) {
			t.Errorf("message %q lacks %q", res.message, s)
		}
	}
}

func sha(i int) string { return strings.Repeat(fmt.Sprintf("%08x", uint32(i)*2654435761), 4) }

func TestTokenDropsPathsWhenNothingPending(t *testing.T) {
	// Many paths, created at once but not completed: the token must still fit and the
	// final result must still count the paths.
	hs := newHarness(t)
	var paths []string
	for i := 0; i < 300; i++ {
		paths = append(paths, fmt.Sprintf("/%s/%d.html", sha(i), i))
	}
	hs.h.Deployer = deployerFunc(func(ctx context.Context, req DeployRequest) (DeployResult, error) {
		return DeployResult{Paths: paths, Uploaded: 300}, nil
	})
	hs.cf.completeAfterGets = 2
	hs.h.PollBudget = time.Nanosecond
	res, jobs := hs.chain(`{"DistributionId":"E2EXAMPLE12345","Bucket":"site"}`, 5)
	if !res.success || jobs != 2 || res.outputs["PathCount"] != "300" || res.outputs["Uploaded"] != "300" {
		t.Fatalf("got %+v after %d jobs", res, jobs)
	}
}

func TestBadContinuationTokens(t *testing.T) {
	for name, tok := range map[string]string{
		"garbage":         "hello world",
		"unknown version": "v9.AAAA",
		"bad base64":      "v1.!!!",
		"not deflate":     "v1.aGVsbG8",
	} {
		t.Run(name, func(t *testing.T) {
			hs := newHarness(t)
			res := hs.invoke("job-2", seed, tok)
			if res.success || res.typ != types.FailureTypeJobFailed || !strings.Contains(res.message, "continuation token") {
				t.Fatalf("got %+v", res)
			}
			if hs.cf.createCalls+hs.cf.getCalls != 0 {
				t.Fatalf("a bad token reached CloudFront")
			}
		})
	}
}

func TestPanicIsRecoveredAndReported(t *testing.T) {
	hs := newHarness(t)
	hs.h.CloudFront = func(ctx context.Context, p Params) (invalidation.API, error) { panic("boom") }
	res := hs.invoke("job-1", seed, "")
	if res.success || res.typ != types.FailureTypeJobFailed || !strings.Contains(res.message, "boom") {
		t.Fatalf("got %+v", res)
	}
	if !strings.Contains(hs.logs.String(), `"msg":"panic"`) {
		t.Fatalf("panic not logged")
	}
}

func TestNoJobIDReturnsError(t *testing.T) {
	for name, payload := range map[string]string{
		"empty object": `{}`,
		"not json":     `xyz`,
		"empty id":     `{"CodePipeline.job":{"id":"","data":{}}}`,
		"s3 event":     `{"Records":[{"s3":{}}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			hs := newHarness(t)
			if err := hs.h.Handle(context.Background(), json.RawMessage(payload)); err == nil {
				t.Fatal("want an error for an event without job id")
			}
			if len(hs.jobs.order) != 0 {
				t.Fatal("reported a result without a job id")
			}
		})
	}
}

func TestMalformedEventWithJobIDIsReported(t *testing.T) {
	hs := newHarness(t)
	payload := `{"CodePipeline.job":{"id":"job-1","data":{"actionConfiguration":"oops"}}}`
	if err := hs.h.Handle(context.Background(), json.RawMessage(payload)); err != nil {
		t.Fatal(err)
	}
	if res := hs.jobs.result(t, "job-1"); res.success || res.typ != types.FailureTypeJobFailed {
		t.Fatalf("got %+v", res)
	}
}

// A result that could not be reported is returned as an error, so that Lambda delivers
// the event again instead of leaving the job without a result.
func TestReportingErrorsAreReturned(t *testing.T) {
	hs := newHarness(t)
	hs.jobs.err = errors.New("connection refused")
	err := hs.h.Handle(context.Background(), event("job-1", seed, ""))
	var re *ReportError
	if !errors.As(err, &re) || re.JobID != "job-1" {
		t.Fatalf("Handle returned %v, want a *ReportError", err)
	}
	if !strings.Contains(hs.logs.String(), "could not report the job result") {
		t.Fatal("reporting error not logged")
	}
}

func TestDeadlineHandsOverEarly(t *testing.T) {
	hs := newHarness(t)
	hs.cf.completeAfterGets = 1_000_000
	hs.h.PollBudget = time.Hour
	hs.h.PollInterval = 10 * time.Millisecond
	hs.h.SafetyMargin = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := hs.h.Handle(ctx, event("job-1", seed, "")); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 450*time.Millisecond {
		t.Fatalf("handler ran %v, past the deadline minus the safety margin", d)
	}
	if res := hs.jobs.result(t, "job-1"); res.token == "" {
		t.Fatalf("want a continuation before the deadline, got %+v", res)
	}
}

func TestNoCredentialsInLogs(t *testing.T) {
	hs := newHarness(t)
	hs.cf.completeAfterGets = 2
	hs.h.PollBudget = time.Nanosecond
	hook := "https://hooks.slack.com/services/T000/B000/SECRETWEBHOOK"
	params := `{"PipelineName":"p","DistributionId":"E2EXAMPLE12345","SlackWebhookUrl":"` + hook + `","RoleArn":"arn:aws:iam::210987654321:role/r","ExternalId":"ext-secret-id"}`
	hs.h.Notifiers = func(ctx context.Context, p Params) (Notifier, error) {
		return nil, errors.New("no notifier in this test")
	}
	hs.chain(params, 5)
	// A malformed event and a panic also go through the logs.
	_ = hs.h.Handle(context.Background(), json.RawMessage(`{"CodePipeline.job":{"id":"job-x","data":{"artifactCredentials":{"secretAccessKey":"`+testSecretKey+`","sessionToken":5}}}}`))
	// Even a careless log call of the event or its credentials must not leak.
	ev, err := ParseEvent(event("job-y", params, ""))
	if err != nil {
		t.Fatal(err)
	}
	log := NewLogger(hs.logs)
	log.Info("careless", slog.Any("event", ev), slog.Any("job", ev.Job), slog.Any("data", ev.Job.Data), slog.Any("creds", ev.Job.Data.ArtifactCredentials))
	p, _ := ParseParams(params)
	log.Info("careless params", slog.Any("params", p))
	printed := fmt.Sprintf("%v %+v %#v %s", ev.Job.Data.ArtifactCredentials, ev.Job.Data.ArtifactCredentials, ev.Job.Data.ArtifactCredentials, ev.Job.Data.ArtifactCredentials)
	js, _ := json.Marshal(ev.Job.Data.ArtifactCredentials)
	all := hs.logs.String() + printed + string(js)
	for _, secret := range []string{testSecretKey, testSessionToken, testAccessKey, "SECRETWEBHOOK", "ext-secret-id"} {
		if strings.Contains(all, secret) {
			t.Errorf("secret %q appears in logs or printed values", secret)
		}
	}
	if !strings.Contains(all, "[REDACTED]") {
		t.Errorf("credentials were not printed redacted")
	}
}

type deployerFunc func(ctx context.Context, req DeployRequest) (DeployResult, error)

func (f deployerFunc) Deploy(ctx context.Context, req DeployRequest) (DeployResult, error) {
	return f(ctx, req)
}

func TestDeployModeRunsOnceAndFeedsInvalidation(t *testing.T) {
	hs := newHarness(t)
	var calls []DeployRequest
	hs.h.Deployer = deployerFunc(func(ctx context.Context, req DeployRequest) (DeployResult, error) {
		calls = append(calls, req)
		return DeployResult{Paths: []string{"/index.html", "/blog/*"}, Uploaded: 7, Deleted: 2}, nil
	})
	hs.cf.completeAfterGets = 3
	hs.h.PollBudget = time.Nanosecond
	params := `{"DistributionId":"E2EXAMPLE12345","Bucket":"site-bucket","Prefix":"www/","MaxDeletes":5,"MaxPaths":10}`
	res, jobs := hs.chain(params, 10)
	if !res.success || jobs < 2 {
		t.Fatalf("got %+v after %d jobs", res, jobs)
	}
	if len(calls) != 1 {
		t.Fatalf("deployer ran %d times, want once (first job only)", len(calls))
	}
	req := calls[0]
	if req.JobID != "job-0001" || req.Artifact != (ArtifactLocation{"artifact-bucket", "pipe/site/abc.zip"}) ||
		req.ArtifactCredentials.SecretAccessKey != testSecretKey || req.ArtifactCredentials.SessionToken != testSessionToken ||
		req.Params.Bucket != "site-bucket" || req.Params.Prefix != "www/" || req.Params.MaxDeletes != 5 || req.Params.MaxPaths != 10 ||
		!req.ArtifactCredentials.CanExpire || req.ArtifactCredentials.Expires.UnixMilli() != 1575493418000 {
		t.Fatalf("deploy request %+v", req)
	}
	invs := hs.cf.created()
	if len(invs) != 1 || fmt.Sprint(invs[0].paths) != "[/index.html /blog/*]" {
		t.Fatalf("invalidations %+v", invs)
	}
	if res.outputs["Uploaded"] != "7" || res.outputs["Deleted"] != "2" || res.outputs["PathCount"] != "2" || !strings.Contains(res.summary, "7 uploaded, 2 deleted") {
		t.Fatalf("result %+v", res)
	}
}

func TestDeployNothingChanged(t *testing.T) {
	hs := newHarness(t)
	hs.h.Deployer = deployerFunc(func(ctx context.Context, req DeployRequest) (DeployResult, error) { return DeployResult{}, nil })
	res := hs.invoke("job-1", `{"DistributionId":"E2EXAMPLE12345","Bucket":"site-bucket"}`, "")
	if !res.success || res.token != "" || hs.cf.createCalls != 0 || res.outputs["PathCount"] != "0" || res.outputs["InvalidationIds"] != "" {
		t.Fatalf("got %+v with %d creations", res, hs.cf.createCalls)
	}
}

func TestDeployFailures(t *testing.T) {
	cases := []struct {
		name     string
		deployer Deployer
		want     types.FailureType
	}{
		{"no deployer", nil, types.FailureTypeConfigurationError},
		{"guard", deployerFunc(func(context.Context, DeployRequest) (DeployResult, error) {
			return DeployResult{}, fmt.Errorf("sync: %w", &ConfigError{Key: "MaxDeletes", Message: "the deploy would delete 500 objects; raise MaxDeletes"})
		}), types.FailureTypeConfigurationError},
		{"denied", deployerFunc(func(context.Context, DeployRequest) (DeployResult, error) {
			return DeployResult{}, fmt.Errorf("put object: %w", apiErr("AccessDenied", "Access Denied"))
		}), types.FailureTypePermissionError},
		{"no bucket", deployerFunc(func(context.Context, DeployRequest) (DeployResult, error) {
			return DeployResult{}, fmt.Errorf("list: %w", apiErr("NoSuchBucket", "The specified bucket does not exist"))
		}), types.FailureTypeConfigurationError},
		{"bad zip", deployerFunc(func(context.Context, DeployRequest) (DeployResult, error) {
			return DeployResult{}, errors.New("zip: not a valid zip file")
		}), types.FailureTypeJobFailed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hs := newHarness(t)
			hs.h.Deployer = c.deployer
			res := hs.invoke("job-1", `{"DistributionId":"E2EXAMPLE12345","Bucket":"site-bucket"}`, "")
			if res.success || res.typ != c.want || hs.cf.createCalls != 0 {
				t.Fatalf("want %s without invalidations, got %+v", c.want, res)
			}
		})
	}
}

type recordingNotifier struct {
	mu   sync.Mutex
	msgs []Message
	err  error
}

func (n *recordingNotifier) Notify(ctx context.Context, m Message) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, m)
	return n.err
}

func TestNotifierCalledOnceAtTheEnd(t *testing.T) {
	hs := newHarness(t)
	n := &recordingNotifier{err: errors.New("webhook answered 500")}
	var got []Params
	hs.h.Notifiers = func(ctx context.Context, p Params) (Notifier, error) { got = append(got, p); return n, nil }
	hs.cf.completeAfterGets = 3
	hs.h.PollBudget = time.Nanosecond
	params := `{"PipelineName":"site","DistributionId":"E2EXAMPLE12345","SlackWebhookParameter":"/edgeflush/hook"}`
	res, jobs := hs.chain(params, 10)
	if !res.success || jobs < 2 {
		t.Fatalf("a failed notification must not fail the job: %+v", res)
	}
	if len(n.msgs) != 1 || len(got) != 1 || got[0].SlackWebhookParameter != "/edgeflush/hook" {
		t.Fatalf("want one notification at the end, got %d (factory calls %d)", len(n.msgs), len(got))
	}
	m := n.msgs[0]
	if !m.Succeeded || m.Pipeline != "site" || m.JobID != fmt.Sprintf("job-%04d", jobs) || fmt.Sprint(m.Distributions) != "[E2EXAMPLE12345]" ||
		fmt.Sprint(m.Paths) != "[/*]" || len(m.InvalidationIDs) != 1 || m.Waited <= 0 || m.NotWaited {
		t.Fatalf("message %+v", m)
	}
	// With Wait: false the message says the invalidation was not waited for.
	hs5 := newHarness(t)
	n5 := &recordingNotifier{}
	hs5.h.Notifiers = func(ctx context.Context, p Params) (Notifier, error) { return n5, nil }
	if res := hs5.invoke("job-1", `{"DistributionId":"E2EXAMPLE12345","Wait":false,"SlackWebhookParameter":"/edgeflush/hook"}`, ""); !res.success {
		t.Fatalf("Wait false: %+v", res)
	}
	if len(n5.msgs) != 1 || !n5.msgs[0].NotWaited {
		t.Fatalf("Wait false: messages %+v, want one with NotWaited", n5.msgs)
	}
	// Failure notification carries the reason.
	hs2 := newHarness(t)
	n2 := &recordingNotifier{}
	hs2.h.Notifiers = func(ctx context.Context, p Params) (Notifier, error) { return n2, nil }
	hs2.cf.missing["E2EXAMPLE12345"] = true
	res2 := hs2.invoke("job-1", params, "")
	if res2.success || len(n2.msgs) != 1 || n2.msgs[0].Succeeded || !strings.Contains(n2.msgs[0].Reason, "does not exist") {
		t.Fatalf("result %+v, messages %+v", res2, n2.msgs)
	}
	// A redelivered event whose job already has its result sends no second message,
	// whether the late result is a failure or a success.
	hs2.invoke("job-1", params, "")
	if len(n2.msgs) != 1 || hs2.jobs.rejected != 1 {
		t.Fatalf("redelivered failed job: %d messages, %d rejected results; want 1 and 1", len(n2.msgs), hs2.jobs.rejected)
	}
	hs4 := newHarness(t)
	n4 := &recordingNotifier{}
	hs4.h.Notifiers = func(ctx context.Context, p Params) (Notifier, error) { return n4, nil }
	for i := 0; i < 2; i++ {
		if res := hs4.invoke("job-1", params, ""); !res.success || res.token != "" {
			t.Fatalf("delivery %d: want final success, got %+v", i+1, res)
		}
	}
	if len(n4.msgs) != 1 || hs4.jobs.rejected != 1 {
		t.Fatalf("redelivered succeeded job: %d messages, %d rejected results; want 1 and 1", len(n4.msgs), hs4.jobs.rejected)
	}
	// Without Slack parameters the factory is not called.
	hs3 := newHarness(t)
	called := false
	hs3.h.Notifiers = func(ctx context.Context, p Params) (Notifier, error) { called = true; return n2, nil }
	hs3.invoke("job-1", seed, "")
	if called {
		t.Fatal("notifier factory called without Slack parameters")
	}
}

func TestCloudFrontFactoryGetsRoleAndJobID(t *testing.T) {
	hs := newHarness(t)
	hs.invoke("job-abc", `{"DistributionId":"E2EXAMPLE12345","RoleArn":"arn:aws:iam::210987654321:role/r","ExternalId":"xid-123"}`, "")
	if len(hs.factoryParams) != 1 || hs.factoryParams[0].RoleARN != "arn:aws:iam::210987654321:role/r" || hs.factoryParams[0].ExternalID != "xid-123" || hs.factoryJobIDs[0] != "job-abc" {
		t.Fatalf("factory got %+v, job ids %v", hs.factoryParams, hs.factoryJobIDs)
	}
	if got := SessionName("job-abc"); got != "edgeflush-job-abc" {
		t.Fatalf("SessionName = %q", got)
	}
	if got := SessionName(strings.Repeat("x/", 60)); len(got) != 64 || strings.Contains(got, "/") {
		t.Fatalf("SessionName not sanitised: %q", got)
	}
}

func TestConfigureFromEnv(t *testing.T) {
	h := &Handler{}
	env := map[string]string{EnvPollInterval: "250ms", EnvPollBudget: "3m", EnvSafetyMargin: "bogus"}
	err := h.ConfigureFromEnv(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), EnvSafetyMargin) {
		t.Fatalf("want an error naming %s, got %v", EnvSafetyMargin, err)
	}
	if h.PollInterval != 250*time.Millisecond || h.PollBudget != 3*time.Minute || h.SafetyMargin != 0 {
		t.Fatalf("got %+v", h)
	}
}

func TestShortFunctionTimeoutStillCreates(t *testing.T) {
	// Lambda's default timeout is 3 s: the default 20 s safety margin must shrink to fit.
	hs := newHarness(t)
	hs.h.SafetyMargin = 0
	hs.h.PollBudget = 0
	hs.h.PollInterval = 20 * time.Millisecond
	hs.cf.completeAfterGets = 1_000_000
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	if err := hs.h.Handle(ctx, event("job-1", seed, "")); err != nil {
		t.Fatal(err)
	}
	if len(hs.cf.created()) != 1 {
		t.Fatalf("no invalidation created within a 600 ms invocation")
	}
	if res := hs.jobs.result(t, "job-1"); res.token == "" {
		t.Fatalf("want a continuation, got %+v", res)
	}
}

func TestWaitFalseWithPendingCreationDoesNotPoll(t *testing.T) {
	hs := newHarness(t)
	hs.h.PollBudget = time.Nanosecond
	hs.cf.completeAfterGets = 100
	hs.cf.createErrs = []error{nil, &cftypes.TooManyInvalidationsInProgress{Message: aws.String("too many")}}
	res, jobs := hs.chain(`{"DistributionIds":["E1AAAAAAAAAAAA","E2BBBBBBBBBBBB"],"Wait":false}`, 5)
	if !res.success || jobs != 2 || hs.cf.getCalls != 0 || len(strings.Split(res.outputs["InvalidationIds"], ",")) != 2 {
		t.Fatalf("got %+v after %d jobs and %d gets", res, jobs, hs.cf.getCalls)
	}
}

// TooManyInvalidationsInProgress is retried with a growing, jittered backoff, not at
// every poll.
func TestInProgressLimitRetriedWithBackoff(t *testing.T) {
	hs := newHarness(t)
	hs.h.PollInterval = 5 * time.Millisecond
	tooMany := &cftypes.TooManyInvalidationsInProgress{Message: aws.String("too many")}
	hs.cf.createErrs = []error{tooMany, tooMany, tooMany, tooMany, tooMany}
	res := hs.invoke("job-1", seed, "")
	if !res.success || res.token != "" {
		t.Fatalf("want success once the room frees up, got %+v", res)
	}
	times := hs.cf.createTimes
	if len(times) != 6 {
		t.Fatalf("%d creation attempts, want 6", len(times))
	}
	// Attempt n+1 comes at least half of 5 ms × 2^(n-1) after attempt n.
	for n := 1; n < len(times); n++ {
		gap := times[n].Sub(times[n-1])
		if min := (5 * time.Millisecond << (n - 1)) / 2; gap < min {
			t.Errorf("gap after refusal %d: %v, want at least %v", n, gap, min)
		}
	}
	if last := times[5].Sub(times[4]); last < 20*time.Millisecond {
		t.Errorf("the fifth backoff is %v: not growing", last)
	}
}

func TestCreateBackoffIsCappedAndJittered(t *testing.T) {
	seen := map[time.Duration]bool{}
	for range 50 {
		d := createBackoff(4*time.Second, 30)
		if d < MaxCreateBackoff/2 || d > MaxCreateBackoff {
			t.Fatalf("backoff %v outside [%v, %v]", d, MaxCreateBackoff/2, MaxCreateBackoff)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct backoffs in 50: no jitter", len(seen))
	}
}
