package testkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"
)

// One moto for the whole package: starting it takes over a second.
var sharedMoto SharedMoto

func moto(t *testing.T) *Moto { return sharedMoto.Get(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	sharedMoto.Close()
	CleanupBuilds()
	os.Exit(code)
}

func cfClient(t *testing.T, url string, attempts int) *cloudfront.Client {
	t.Helper()
	cfg, err := SDKConfig(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	return cloudfront.NewFromConfig(cfg, func(o *cloudfront.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = attempts
			so.MaxBackoff = 10 * time.Millisecond
		})
	})
}

func batch(ref string, paths ...string) *types.InvalidationBatch {
	return &types.InvalidationBatch{
		CallerReference: aws.String(ref),
		Paths:           &types.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
	}
}

func createInv(ctx context.Context, c *cloudfront.Client, dist, ref string, paths ...string) (*cloudfront.CreateInvalidationOutput, error) {
	return c.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{DistributionId: aws.String(dist), InvalidationBatch: batch(ref, paths...)})
}

func TestCloudFrontInProgressThenCompleted(t *testing.T) {
	ctx := context.Background()
	m := moto(t)
	cf := StartCloudFront(t, m.URL, CloudFrontOptions{CompleteAfter: 400 * time.Millisecond})
	c := cfClient(t, cf.URL, 1)
	dist := CreateDistribution(t, cf.URL)

	out, err := createInv(ctx, c, dist, "ref-1", "/*")
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Invalidation.Status); got != "InProgress" {
		t.Fatalf("status after create = %q, want InProgress", got)
	}
	id := aws.ToString(out.Invalidation.Id)
	get, err := c.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(dist), Id: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(get.Invalidation.Status); got != "InProgress" {
		t.Fatalf("status right after create = %q, want InProgress", got)
	}
	time.Sleep(450 * time.Millisecond)
	get, err = c.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(dist), Id: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(get.Invalidation.Status); got != "Completed" {
		t.Fatalf("status after the delay = %q, want Completed (AWS casing)", got)
	}
	if n := cf.Creations(dist); n != 1 {
		t.Fatalf("creations = %d, want 1", n)
	}

	// Unknown ids pass moto's typed errors through.
	_, err = c.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(dist), Id: aws.String("NOPE")})
	var nsi *types.NoSuchInvalidation
	if !errors.As(err, &nsi) {
		t.Fatalf("get unknown invalidation: %v, want NoSuchInvalidation", err)
	}
	_, err = createInv(ctx, c, "ENODIST", "ref-x", "/*")
	var nsd *types.NoSuchDistribution
	if !errors.As(err, &nsd) {
		t.Fatalf("create on unknown distribution: %v, want NoSuchDistribution", err)
	}
}

func TestCloudFrontCallerReferenceDedup(t *testing.T) {
	ctx := context.Background()
	m := moto(t)
	cf := StartCloudFront(t, m.URL, CloudFrontOptions{CompleteAfter: time.Minute})
	c := cfClient(t, cf.URL, 1)
	dist := CreateDistribution(t, cf.URL)
	other := CreateDistribution(t, cf.URL)

	first, err := createInv(ctx, c, dist, "same-ref", "/a", "/b")
	if err != nil {
		t.Fatal(err)
	}
	again, err := createInv(ctx, c, dist, "same-ref", "/b", "/a")
	if err != nil {
		t.Fatalf("same reference and batch: %v, want the existing invalidation", err)
	}
	if a, b := aws.ToString(first.Invalidation.Id), aws.ToString(again.Invalidation.Id); a != b {
		t.Fatalf("same reference and batch gave ids %s and %s, want one", a, b)
	}
	_, err = createInv(ctx, c, dist, "same-ref", "/c")
	var ia *types.InvalidArgument
	if !errors.As(err, &ia) || !strings.Contains(err.Error(), "caller reference that was used") {
		t.Fatalf("same reference, other batch: %v, want InvalidArgument about the caller reference", err)
	}
	// References are per distribution.
	if _, err := createInv(ctx, c, other, "same-ref", "/c"); err != nil {
		t.Fatalf("same reference on another distribution: %v", err)
	}
	if got := cf.Creations(dist); got != 1 {
		t.Fatalf("creations on %s = %d, want 1", dist, got)
	}
	invs := cf.Invalidations(dist)
	if len(invs) != 1 || invs[0].Requests != 2 {
		t.Fatalf("records = %+v, want one answered twice", invs)
	}
}

func TestCloudFrontInProgressLimits(t *testing.T) {
	ctx := context.Background()
	m := moto(t)
	cf := StartCloudFront(t, m.URL, CloudFrontOptions{CompleteAfter: 300 * time.Millisecond, MaxInProgressPaths: 5, MaxInProgressWildcards: 2})
	c := cfClient(t, cf.URL, 1)
	dist := CreateDistribution(t, cf.URL)

	if _, err := createInv(ctx, c, dist, "f1", "/1", "/2", "/3"); err != nil {
		t.Fatal(err)
	}
	_, err := createInv(ctx, c, dist, "f2", "/4", "/5", "/6")
	var tm *types.TooManyInvalidationsInProgress
	if !errors.As(err, &tm) {
		t.Fatalf("6 file paths in progress with a limit of 5: %v, want TooManyInvalidationsInProgress", err)
	}
	// Wildcards are counted separately from files.
	if _, err := createInv(ctx, c, dist, "w1", "/a*", "/b*"); err != nil {
		t.Fatalf("2 wildcards next to 3 files: %v", err)
	}
	if _, err := createInv(ctx, c, dist, "w2", "/c*"); !errors.As(err, &tm) {
		t.Fatalf("3rd wildcard: %v, want TooManyInvalidationsInProgress", err)
	}
	time.Sleep(350 * time.Millisecond) // all completed: limits free again
	if _, err := createInv(ctx, c, dist, "f2", "/4", "/5", "/6"); err != nil {
		t.Fatalf("after completion: %v", err)
	}
	if got := cf.Creations(dist); got != 3 {
		t.Fatalf("creations = %d, want 3 (rejected ones never reach moto)", got)
	}

	// The real limit is 15 wildcards: a 16-wildcard batch is refused with defaults.
	cf2 := StartCloudFront(t, m.URL, CloudFrontOptions{CompleteAfter: time.Minute})
	c2 := cfClient(t, cf2.URL, 1)
	var many []string
	for i := 0; i < 16; i++ {
		many = append(many, fmt.Sprintf("/d%d/*", i))
	}
	if _, err := createInv(ctx, c2, dist, "w16", many...); !errors.As(err, &tm) {
		t.Fatalf("16 wildcards: %v, want TooManyInvalidationsInProgress", err)
	}
}

func TestCloudFrontListNewestFirst(t *testing.T) {
	ctx := context.Background()
	m := moto(t)
	cf := StartCloudFront(t, m.URL, CloudFrontOptions{CompleteAfter: time.Minute})
	c := cfClient(t, cf.URL, 1)
	dist := CreateDistribution(t, cf.URL)
	var ids []string
	for i := 0; i < 3; i++ {
		out, err := createInv(ctx, c, dist, fmt.Sprintf("r%d", i), "/x")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, aws.ToString(out.Invalidation.Id))
	}
	cf.Complete(dist, ids[0])
	var got, statuses []string
	p := cloudfront.NewListInvalidationsPaginator(c, &cloudfront.ListInvalidationsInput{DistributionId: aws.String(dist), MaxItems: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.InvalidationList.Items {
			got = append(got, aws.ToString(it.Id))
			statuses = append(statuses, aws.ToString(it.Status))
		}
	}
	want := []string{ids[2], ids[1], ids[0]}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("list = %v, want newest first %v", got, want)
	}
	if strings.Join(statuses, ",") != "InProgress,InProgress,Completed" {
		t.Fatalf("statuses = %v", statuses)
	}

	// An unknown distribution is NoSuchDistribution, as in CloudFront (moto would list
	// nothing); a known one without invalidations is an empty list.
	_, err := c.ListInvalidations(ctx, &cloudfront.ListInvalidationsInput{DistributionId: aws.String("ENOSUCHDIST")})
	var nsd *types.NoSuchDistribution
	if !errors.As(err, &nsd) {
		t.Fatalf("list of an unknown distribution: %v, want NoSuchDistribution", err)
	}
	empty := CreateDistribution(t, cf.URL)
	out, err := c.ListInvalidations(ctx, &cloudfront.ListInvalidationsInput{DistributionId: aws.String(empty)})
	if err != nil || aws.ToInt32(out.InvalidationList.Quantity) != 0 {
		t.Fatalf("list of a distribution without invalidations: %+v, %v", out, err)
	}
}

func TestCloudFrontFaults(t *testing.T) {
	ctx := context.Background()
	m := moto(t)
	cf := StartCloudFront(t, m.URL, CloudFrontOptions{})
	dist := CreateDistribution(t, cf.URL)
	once := cfClient(t, cf.URL, 1)

	cf.Inject(FaultTooManyInvalidations, 1)
	_, err := createInv(ctx, once, dist, "t1", "/*")
	var tm *types.TooManyInvalidationsInProgress
	if !errors.As(err, &tm) {
		t.Fatalf("injected in-progress limit: %v", err)
	}

	cf.Inject(FaultThrottling, 1)
	_, err = createInv(ctx, once, dist, "t1", "/*")
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "Throttling" || ae.ErrorMessage() != "Rate exceeded" {
		t.Fatalf("injected throttling: %v", err)
	}

	cf.Inject(FaultServiceUnavailable, 1)
	_, err = createInv(ctx, once, dist, "t1", "/*")
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 503 {
		t.Fatalf("injected 503: %v", err)
	}

	cf.Inject(FaultDropConnection, 1)
	if _, err = createInv(ctx, once, dist, "t1", "/*"); err == nil {
		t.Fatal("dropped connection: no error")
	}
	cf.Inject(FaultAccessDenied, 1)
	_, err = createInv(ctx, once, dist, "t1", "/*")
	var ad *types.AccessDenied
	if !errors.As(err, &ad) {
		t.Fatalf("injected access denied: %v", err)
	}
	if n := cf.Creations(dist); n != 0 {
		t.Fatalf("faults reached moto: %d creations", n)
	}

	// The SDK's retryer gets through each transient fault (throttling, 503, dropped
	// connection) when enough attempts are left.
	retrying := cfClient(t, cf.URL, 5)
	cf.Inject(FaultThrottling, 1)
	cf.Inject(FaultServiceUnavailable, 1)
	cf.Inject(FaultDropConnection, 1)
	if _, err := createInv(ctx, retrying, dist, "t1", "/*"); err != nil {
		t.Fatalf("retrying client after 3 transient faults: %v", err)
	}
	if n := cf.Creations(dist); n != 1 {
		t.Fatalf("creations = %d, want 1", n)
	}
	if n := cf.FaultsServed(0); n != 8 {
		t.Fatalf("faults served = %d, want 8", n)
	}

	// A lost answer: the invalidation exists, the caller retries with the same reference
	// and gets the same invalidation back.
	before := cf.Creations(dist)
	cf.Inject(FaultDropResponse, 1)
	out, err := createInv(ctx, retrying, dist, "lost-answer", "/lost")
	if err != nil {
		t.Fatalf("retry after a lost answer: %v", err)
	}
	if n := cf.Creations(dist) - before; n != 1 {
		t.Fatalf("a lost answer and its retry created %d invalidations, want 1", n)
	}
	if invs := cf.Invalidations(dist); invs[len(invs)-1].ID != aws.ToString(out.Invalidation.Id) || invs[len(invs)-1].Requests != 2 {
		t.Fatalf("records %+v", invs[len(invs)-1])
	}

	// Faults for one operation leave others alone; OpAny hits the next call.
	cf.InjectOp(OpGetInvalidation, FaultThrottling, 1)
	if _, err := createInv(ctx, once, dist, "t2", "/*"); err != nil {
		t.Fatalf("create with a Get fault queued: %v", err)
	}
	cf.InjectOp(OpAny, FaultServiceUnavailable, 1)
	_, err = once.ListInvalidations(ctx, &cloudfront.ListInvalidationsInput{DistributionId: aws.String(dist)})
	if !errors.As(err, &re) || re.HTTPStatusCode() != 503 {
		t.Fatalf("OpAny fault on list: %v", err)
	}
}

func TestMotoResetAndEnv(t *testing.T) {
	ctx := context.Background()
	m := moto(t)
	CreateDistribution(t, m.URL)
	c := cloudfront.NewFromConfig(m.Config(t))
	list, err := c.ListDistributions(ctx, &cloudfront.ListDistributionsInput{})
	if err != nil || aws.ToInt32(list.DistributionList.Quantity) == 0 {
		t.Fatalf("list before reset: %v", err)
	}
	if err := m.Reset(); err != nil {
		t.Fatal(err)
	}
	list, err = c.ListDistributions(ctx, &cloudfront.ListDistributionsInput{})
	if err != nil || aws.ToInt32(list.DistributionList.Quantity) != 0 {
		t.Fatalf("list after reset: %d, %v", aws.ToInt32(list.DistributionList.Quantity), err)
	}
	env := strings.Join(m.Env(), "\n")
	for _, want := range []string{"AWS_ENDPOINT_URL=" + m.URL, "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "AWS_ACCESS_KEY_ID="} {
		if !strings.Contains(env, want) {
			t.Errorf("Env() lacks %s", want)
		}
	}
	if got := mergeEnv([]string{"A=1", "B=2"}, []string{"B=3", "C=4"}); strings.Join(got, ",") != "A=1,B=3,C=4" {
		t.Errorf("mergeEnv = %v", got)
	}
}
