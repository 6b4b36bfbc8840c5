package notify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// One moto for the package; tests use distinct parameter names instead of resetting it.
var moto *testkit.Moto

func TestMain(m *testing.M) {
	var err error
	moto, err = testkit.NewMoto()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	moto.Close()
	os.Exit(code)
}

func ssmClient(t *testing.T) *ssm.Client {
	t.Helper()
	cfg, err := testkit.SDKConfig(context.Background(), moto.URL)
	if err != nil {
		t.Fatal(err)
	}
	return ssm.NewFromConfig(cfg)
}

func putSecure(t *testing.T, c *ssm.Client, name, value string) {
	t.Helper()
	_, err := c.PutParameter(context.Background(), &ssm.PutParameterInput{
		Name: aws.String(name), Value: aws.String(value), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// countingSSM counts GetParameter calls.
type countingSSM struct {
	SSMAPI
	calls atomic.Int32
}

func (c *countingSSM) GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error) {
	c.calls.Add(1)
	return c.SSMAPI.GetParameter(ctx, in, optFns...)
}

func TestResolverReadsDecryptedSecureString(t *testing.T) {
	c := ssmClient(t)
	putSecure(t, c, "/edgeflush/resolver-test", "https://hooks.slack.com/services/T1/B1/abc")
	api := &countingSSM{SSMAPI: c}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &Resolver{API: api, TTL: time.Minute, Now: func() time.Time { return now }}

	// moto returns a SecureString read without WithDecryption as "kms:alias/aws/ssm:<value>",
	// which is not a URL: getting the clean URL proves the value was decrypted.
	for i := 0; i < 2; i++ {
		got, err := r.WebhookURL(context.Background(), "/edgeflush/resolver-test")
		if err != nil || got != "https://hooks.slack.com/services/T1/B1/abc" {
			t.Fatalf("WebhookURL = %q, %v", got, err)
		}
	}
	if n := api.calls.Load(); n != 1 {
		t.Errorf("GetParameter calls = %d, want 1 (cached)", n)
	}
	// A rotated URL is picked up once the cache entry expires.
	putSecure(t, c, "/edgeflush/resolver-test", "https://hooks.slack.com/services/T1/B1/rotated")
	now = now.Add(2 * time.Minute)
	if got, err := r.WebhookURL(context.Background(), "/edgeflush/resolver-test"); err != nil || !strings.HasSuffix(got, "/rotated") {
		t.Errorf("after expiry: %q, %v", got, err)
	}
}

func TestResolverErrors(t *testing.T) {
	c := ssmClient(t)
	r := &Resolver{API: c, TTL: -1}
	_, err := r.WebhookURL(context.Background(), "/edgeflush/missing")
	var pe *ParameterError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "/edgeflush/missing: not found") || !strings.Contains(err.Error(), `aws ssm put-parameter --cli-input-json '{"Name":"/edgeflush/missing","Type":"SecureString","Value":"https://hooks.slack.com/services/..."}'`) {
		t.Errorf("missing parameter: %v", err)
	}
	putSecure(t, c, "/edgeflush/not-a-url", "hooks.slack.com/services/T/B/SECRET")
	_, err = r.WebhookURL(context.Background(), "/edgeflush/not-a-url")
	if !errors.As(err, &pe) || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("bad value: %v", err)
	}
}

func TestFactory(t *testing.T) {
	c := ssmClient(t)
	w := startWebhook(t)
	putSecure(t, c, "/edgeflush/factory-test", w.secretURL())
	f := NewFactory(c, "us-east-1")
	ctx := context.Background()
	for _, p := range []codepipeline.Params{
		{PipelineName: "site", SlackWebhookURL: w.secretURL()},
		{PipelineName: "site", SlackWebhookParameter: "/edgeflush/factory-test"},
	} {
		n, err := f(ctx, p)
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		if err := n.Notify(ctx, codepipeline.Message{Pipeline: "site", JobID: "j", Succeeded: true, Distributions: []string{"E1"}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.received(); len(got) != 2 || !strings.Contains(got[1].Text, "✅ site") {
		t.Errorf("received %+v", got)
	}
	if _, err := f(ctx, codepipeline.Params{SlackWebhookParameter: "/edgeflush/nope"}); err == nil {
		t.Error("a missing parameter gave a notifier")
	}
	if _, err := f(ctx, codepipeline.Params{SlackWebhookURL: "http://example.com/SECRET"}); err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("plain-http webhook: %v", err)
	}
}
