package notify

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// pipelineRig runs the action's handler wired exactly as cmd/edgeflush-lambda wires it
// (awsconf.Load from the standard variables, codepipeline.New, notify.FromConfig),
// against moto (STS, SSM), the CloudFront realism proxy and the job-API stand-in. Each
// of the three endpoints sits behind a recording proxy (testkit.PipelineFix) so that
// the test can see which access key signed which calls.
type pipelineRig struct {
	cf                    *testkit.CloudFront
	jobs                  *testkit.JobAPI
	motoRec, cfRec, cpRec *testkit.PipelineFix
	dist                  string
}

func newRig(t *testing.T) *pipelineRig {
	t.Helper()
	r := &pipelineRig{}
	r.cf = testkit.StartCloudFront(t, moto.URL, testkit.CloudFrontOptions{CompleteAfter: 300 * time.Millisecond})
	r.jobs = testkit.StartJobAPI(t)
	r.motoRec = testkit.StartPipelineFix(t, moto.URL)
	r.cfRec = testkit.StartPipelineFix(t, r.cf.URL)
	r.cpRec = testkit.StartPipelineFix(t, r.jobs.URL)
	r.dist = testkit.CreateDistribution(t, moto.URL)
	env := append(testkit.BaseEnv(r.motoRec.URL),
		"AWS_ENDPOINT_URL_CLOUDFRONT="+r.cfRec.URL,
		"AWS_ENDPOINT_URL_CODEPIPELINE="+r.cpRec.URL,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PROFILE=")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return r
}

func (r *pipelineRig) run(t *testing.T, params string) (testkit.JobResult, string) {
	t.Helper()
	cfg, err := awsconf.Load(context.Background(), awsconf.Options{MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testkit.SyncBuffer{}
	h := codepipeline.New(cfg, codepipeline.NewLogger(logs))
	h.Notifiers = FromConfig(cfg) // the line cmd/edgeflush-lambda has
	h.PollInterval, h.PollBudget, h.SafetyMargin = 50*time.Millisecond, 2*time.Second, 50*time.Millisecond
	d := &testkit.Driver{
		Jobs:           r.jobs,
		Invoke:         func(ctx context.Context, payload []byte) error { return h.Handle(ctx, payload) },
		UserParameters: params,
		Delay:          20 * time.Millisecond,
		MaxJobs:        30,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	chain, err := d.Run(ctx)
	if err != nil {
		t.Fatalf("chain: %v\nlogs:\n%s", err, logs)
	}
	final, _ := chain.Final()
	return final, logs.String()
}

// createDistributionAs creates a distribution in moto with the credentials of roleARN,
// so it belongs to the role's account.
func createDistributionAs(t *testing.T, roleARN string) string {
	t.Helper()
	ctx := context.Background()
	cfg, err := testkit.SDKConfig(ctx, moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := cloudfront.NewFromConfig(awsconf.AssumeRole(cfg, roleARN, "", "test-setup"))
	out, err := c.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: &cftypes.DistributionConfig{
		CallerReference: aws.String(testkit.NewJobID()),
		Comment:         aws.String("other account"),
		Enabled:         aws.Bool(true),
		Origins: &cftypes.Origins{Quantity: aws.Int32(1), Items: []cftypes.Origin{{
			Id: aws.String("site"), DomainName: aws.String("site.s3.amazonaws.com"),
			S3OriginConfig: &cftypes.S3OriginConfig{OriginAccessIdentity: aws.String("")},
		}}},
		DefaultCacheBehavior: &cftypes.DefaultCacheBehavior{
			TargetOriginId: aws.String("site"), ViewerProtocolPolicy: cftypes.ViewerProtocolPolicyRedirectToHttps, MinTTL: aws.Int64(0),
			ForwardedValues: &cftypes.ForwardedValues{QueryString: aws.Bool(false), Cookies: &cftypes.CookiePreference{Forward: cftypes.ItemSelectionNone}},
			TrustedSigners:  &cftypes.TrustedSigners{Enabled: aws.Bool(false), Quantity: aws.Int32(0)},
		},
	}})
	if err != nil {
		t.Fatalf("create a distribution as %s: %v", roleARN, err)
	}
	return aws.ToString(out.Distribution.Id)
}

func params(kv map[string]any) string {
	b, err := json.Marshal(kv)
	if err != nil {
		panic(err) // maps of strings: cannot fail
	}
	return string(b)
}

func TestHandlerNotifiesFromSSMParameter(t *testing.T) {
	r := newRig(t)
	w := startWebhook(t)
	putSecure(t, ssmClient(t), "/edgeflush/handler-test", w.secretURL())

	final, logs := r.run(t, params(map[string]any{"PipelineName": "site", "DistributionId": r.dist, "Paths": []string{"/index.html"}, "SlackWebhookParameter": "/edgeflush/handler-test"}))
	if !final.Success || final.ContinuationToken != "" {
		t.Fatalf("final %s", final)
	}
	got := w.received()
	if len(got) != 1 {
		t.Fatalf("Slack got %d messages, want exactly 1 (at the end of the chain)\nlogs:\n%s", len(got), logs)
	}
	invs := r.cf.Invalidations(r.dist)
	if len(invs) == 0 {
		t.Fatal("no invalidation")
	}
	msg, _ := json.Marshal(got[0])
	for _, want := range []string{"✅ site", r.dist, invs[len(invs)-1].ID, "/index.html", "*Waited*"} {
		if !strings.Contains(string(msg), want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(logs, "SeCrEtToKeN") {
		t.Error("the webhook URL reached the logs")
	}
}

func TestHandlerFailureIsNotifiedAndAFailedPostNeverFailsTheJob(t *testing.T) {
	r := newRig(t)

	// A failing job: the message carries the reason.
	w := startWebhook(t)
	final, _ := r.run(t, params(map[string]any{"PipelineName": "site", "DistributionId": "ENOSUCHDIST", "SlackWebhookUrl": w.secretURL()}))
	if final.Success {
		t.Fatalf("unknown distribution succeeded: %s", final)
	}
	got := w.received()
	if len(got) != 1 || !strings.HasPrefix(got[0].Text, "❌ site: edgeflush failed: ") || !strings.Contains(got[0].Text, "ENOSUCHDIST") {
		t.Fatalf("failure message = %+v", got)
	}

	// Slack down (every post 500): the job still succeeds, the failure is logged.
	down := startWebhook(t, 500, 500, 500, 500)
	final, logs := r.run(t, params(map[string]any{"PipelineName": "site", "DistributionId": r.dist, "SlackWebhookUrl": down.secretURL()}))
	if !final.Success || final.ContinuationToken != "" {
		t.Fatalf("job failed because Slack did: %s", final)
	}
	if !strings.Contains(logs, "notification failed") || strings.Contains(logs, "SeCrEtToKeN") {
		t.Errorf("logs (want the failure logged, the URL not):\n%s", logs)
	}

	// A missing SSM parameter: same.
	final, logs = r.run(t, params(map[string]any{"PipelineName": "site", "DistributionId": r.dist, "SlackWebhookParameter": "/edgeflush/absent"}))
	if !final.Success || !strings.Contains(logs, "/edgeflush/absent: not found") {
		t.Errorf("final %s, logs:\n%s", final, logs)
	}
}

// TestCrossAccountCredentials proves the split of identities in a cross-account setup:
// the CloudFront calls are signed with the credentials of the assumed role (moto's STS
// hands out a distinct access key), while the job results, the STS call itself and the
// SSM read of the webhook use the function's own.
func TestCrossAccountCredentials(t *testing.T) {
	r := newRig(t)
	w := startWebhook(t)
	putSecure(t, ssmClient(t), "/edgeflush/xacct", w.secretURL())
	const role = "arn:aws:iam::210987654321:role/edgeflush-invalidator"
	// moto keeps accounts apart: a distribution created with the role's credentials
	// exists in account 210987654321 only.
	dist := createDistributionAs(t, role)

	// Without RoleArn the function looks in its own account and finds nothing.
	final, _ := r.run(t, params(map[string]any{"PipelineName": "site", "DistributionId": dist}))
	if final.Success || !strings.Contains(final.FailureMessage, "NoSuchDistribution") {
		t.Fatalf("own account: %s", final)
	}
	cfBefore := r.cfRec.AccessKeys("cloudfront")

	final, logs := r.run(t, params(map[string]any{
		"PipelineName": "site", "DistributionId": dist, "SlackWebhookParameter": "/edgeflush/xacct",
		"RoleArn": role, "ExternalId": "site-prod",
	}))
	if !final.Success || final.ContinuationToken != "" {
		t.Fatalf("final %s\nlogs:\n%s", final, logs)
	}
	if n := len(r.cf.Invalidations(dist)); n != 1 {
		t.Errorf("%d invalidations of the other account's distribution, want 1", n)
	}
	own := testkit.AccessKeyID
	cfKeys := r.cfRec.AccessKeys("cloudfront")
	for k, n := range cfBefore {
		cfKeys[k] -= n
	}
	assumed := 0
	for k, n := range cfKeys {
		if n == 0 {
			continue
		}
		assumed += n
		if k == own {
			t.Errorf("%d CloudFront calls signed with the function's own key", n)
		}
		if !strings.HasPrefix(k, "ASIA") {
			t.Errorf("CloudFront key %s is not a temporary (assumed-role) key", k)
		}
	}
	if assumed == 0 {
		t.Fatal("no CloudFront call recorded")
	}
	for svc, rec := range map[string]*testkit.PipelineFix{"codepipeline": r.cpRec, "sts": r.motoRec, "ssm": r.motoRec} {
		keys := rec.AccessKeys(svc)
		if keys[own] == 0 || len(keys) != 1 {
			t.Errorf("%s calls signed by %v, want only the function's own key %s", svc, keys, own)
		}
	}
	if len(w.received()) != 1 {
		t.Errorf("Slack got %d messages", len(w.received()))
	}
	if strings.Contains(logs, "site-prod") {
		t.Error("the external id reached the logs")
	}
}
