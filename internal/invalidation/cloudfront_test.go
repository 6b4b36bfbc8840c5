package invalidation

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

// One moto for the package: starting it takes over a second.
var sharedMoto testkit.SharedMoto

func startMoto(t *testing.T) string { return sharedMoto.Get(t).URL }

func TestMain(m *testing.M) {
	code := m.Run()
	sharedMoto.Close()
	os.Exit(code)
}

// newClient returns a real CloudFront client talking to endpoint, without retries so
// that the tests see each answer.
func newClient(endpoint string) *cloudfront.Client {
	return cloudfront.New(cloudfront.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(endpoint),
		Credentials:      credentials.NewStaticCredentialsProvider(testkit.AccessKeyID, testkit.SecretAccessKey, ""),
		RetryMaxAttempts: 1,
	})
}

func createDistribution(t *testing.T, endpoint string) string {
	return testkit.CreateDistribution(t, endpoint)
}

func TestCreateGetWaitAgainstMoto(t *testing.T) {
	url := startMoto(t)
	c := newClient(url)
	dist := createDistribution(t, url)
	ctx := context.Background()

	paths, err := PreparePaths([]string{"/index.html", "/les-misérables.webp", "/a b/*"})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Create(ctx, c, dist, paths, CallerReference("test", dist))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if inv.ID == "" || inv.DistributionID != dist || inv.Status == "" {
		t.Fatalf("Create returned %+v", inv)
	}
	if strings.Join(inv.Paths, " ") != strings.Join(paths, " ") {
		t.Errorf("paths = %q, want %q", inv.Paths, paths)
	}

	got, err := Get(ctx, c, dist, inv.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if got.ID != inv.ID || !got.Completed() {
		// moto answers "COMPLETED" at once; Completed must accept it.
		t.Fatalf("Get = %+v, want completed %s", got, inv.ID)
	}

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	done, err := Wait(wctx, c, dist, inv.ID, 10*time.Millisecond)
	if err != nil || !done.Completed() {
		t.Fatalf("Wait = %+v, %v", done, err)
	}
}

func TestErrorsAgainstMoto(t *testing.T) {
	url := startMoto(t)
	c := newClient(url)
	ctx := context.Background()

	_, err := Create(ctx, c, "ENOSUCHDIST", []string{"/*"}, CallerReference("x"))
	if err == nil {
		t.Fatal("Create on an unknown distribution succeeded")
	}
	var nsd *types.NoSuchDistribution
	if !errors.As(err, &nsd) {
		t.Errorf("error %v does not unwrap to *types.NoSuchDistribution", err)
	}
	if k := Classify(err); k != KindConfiguration {
		t.Errorf("Classify(%v) = %v, want configuration", err, k)
	}
	if !strings.Contains(err.Error(), "ENOSUCHDIST") {
		t.Errorf("error %q does not name the distribution", err)
	}

	dist := createDistribution(t, url)
	_, err = Get(ctx, c, dist, "INOSUCH")
	if err == nil {
		t.Fatal("Get of an unknown invalidation succeeded")
	}
	if k := Classify(err); k != KindConfiguration {
		t.Errorf("Classify(%v) = %v, want configuration", err, k)
	}
	// Wait stops at once on a non-transient error instead of polling until the deadline.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := Wait(wctx, c, dist, "INOSUCH", time.Second); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait on an unknown invalidation = %v, want the NoSuchInvalidation error", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("Wait kept polling after a configuration error")
	}
}

// The realism proxy behaves like AWS where moto does not: InProgress before Completed,
// caller-reference deduplication, in-progress limits and injected faults.

func TestWaitThroughInProgressWithProxy(t *testing.T) {
	cf := testkit.StartCloudFront(t, startMoto(t), testkit.CloudFrontOptions{CompleteAfter: 200 * time.Millisecond})
	c := newClient(cf.URL)
	dist := createDistribution(t, cf.URL)
	ctx := context.Background()
	inv, err := Create(ctx, c, dist, []string{"/a"}, CallerReference("wait", dist))
	if err != nil {
		t.Fatal(err)
	}
	if inv.Completed() || inv.Status != StatusInProgress {
		t.Fatalf("new invalidation is %q, want InProgress", inv.Status)
	}
	done, err := Wait(ctx, c, dist, inv.ID, 20*time.Millisecond)
	if err != nil || done.Status != StatusCompleted {
		t.Fatalf("Wait = %+v, %v", done, err)
	}
	if n := cf.Requests(testkit.OpGetInvalidation); n < 3 {
		t.Errorf("Wait completed after %d polls; the proxy kept it in progress for 200ms", n)
	}
}

func TestCallerReferenceDeduplicationWithProxy(t *testing.T) {
	cf := testkit.StartCloudFront(t, startMoto(t), testkit.CloudFrontOptions{CompleteAfter: time.Hour})
	c := newClient(cf.URL)
	dist := createDistribution(t, cf.URL)
	ctx := context.Background()
	ref := CallerReference("job-1", dist)
	first, err := Create(ctx, c, dist, []string{"/a", "/b"}, ref)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Create(ctx, c, dist, []string{"/a", "/b"}, ref)
	if err != nil {
		t.Fatalf("retry with the same reference and batch: %v", err)
	}
	if again.ID != first.ID || cf.Creations(dist) != 1 {
		t.Errorf("a retry created a second invalidation: %s, %s (%d created)", first.ID, again.ID, cf.Creations(dist))
	}
	_, err = Create(ctx, c, dist, []string{"/other"}, ref)
	if Classify(err) != KindConfiguration {
		t.Errorf("same reference, other batch: %v (kind %v), want a configuration error", err, Classify(err))
	}
}

func TestInProgressLimitWithProxy(t *testing.T) {
	cf := testkit.StartCloudFront(t, startMoto(t), testkit.CloudFrontOptions{CompleteAfter: time.Hour, MaxInProgressWildcards: 1})
	c := newClient(cf.URL)
	dist := createDistribution(t, cf.URL)
	ctx := context.Background()
	if _, err := Create(ctx, c, dist, []string{"/a/*"}, CallerReference("1")); err != nil {
		t.Fatal(err)
	}
	_, err := Create(ctx, c, dist, []string{"/b/*"}, CallerReference("2"))
	if Classify(err) != KindInProgressLimit {
		t.Fatalf("second wildcard over the limit: %v (kind %v), want in-progress limit", err, Classify(err))
	}
	var tm *types.TooManyInvalidationsInProgress
	if !errors.As(err, &tm) {
		t.Errorf("error %v does not unwrap to the SDK's TooManyInvalidationsInProgress", err)
	}
	// Exact paths are counted apart from wildcards.
	if _, err := Create(ctx, c, dist, []string{"/c.html"}, CallerReference("3")); err != nil {
		t.Errorf("an exact path was refused: %v", err)
	}
}

func TestFaultsWithProxy(t *testing.T) {
	cf := testkit.StartCloudFront(t, startMoto(t), testkit.CloudFrontOptions{})
	dist := createDistribution(t, cf.URL)
	ctx := context.Background()
	c := newClient(cf.URL)
	for _, tc := range []struct {
		fault testkit.Fault
		want  Kind
	}{
		{testkit.FaultThrottling, KindTransient},
		{testkit.FaultServiceUnavailable, KindTransient},
		{testkit.FaultDropConnection, KindTransient},
		{testkit.FaultAccessDenied, KindPermission},
		{testkit.FaultTooManyInvalidations, KindInProgressLimit},
	} {
		cf.Inject(tc.fault, 1)
		_, err := Create(ctx, c, dist, []string{"/x"}, CallerReference(tc.fault.String()))
		if got := Classify(err); got != tc.want {
			t.Errorf("%v: Classify(%v) = %v, want %v", tc.fault, err, got, tc.want)
		}
	}
	if n := cf.Creations(dist); n != 0 {
		t.Errorf("faulted requests created %d invalidations", n)
	}

	// With the SDK's retryer (as awsconf configures it), throttling and 503 are retried
	// with backoff and the creation succeeds.
	retrying := cloudfront.New(cloudfront.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(cf.URL),
		Credentials: credentials.NewStaticCredentialsProvider(testkit.AccessKeyID, testkit.SecretAccessKey, ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 5
			o.MaxBackoff = 10 * time.Millisecond
		}),
	})
	cf.Inject(testkit.FaultThrottling, 2)
	cf.Inject(testkit.FaultServiceUnavailable, 1)
	inv, err := Create(ctx, retrying, dist, []string{"/x"}, CallerReference("retried"))
	if err != nil {
		t.Fatalf("Create through 3 transient faults: %v", err)
	}
	if cf.Creations(dist) != 1 || inv.ID == "" {
		t.Errorf("want exactly one invalidation after retries, got %d", cf.Creations(dist))
	}
}
