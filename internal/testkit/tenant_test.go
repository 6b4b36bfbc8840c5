package testkit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"
)

func createTenantInv(ctx context.Context, c *cloudfront.Client, tenant, ref string, paths ...string) (*cloudfront.CreateInvalidationForDistributionTenantOutput, error) {
	return c.CreateInvalidationForDistributionTenant(ctx, &cloudfront.CreateInvalidationForDistributionTenantInput{Id: aws.String(tenant), InvalidationBatch: batch(ref, paths...)})
}

func TestTenantInvalidationsThroughSDK(t *testing.T) {
	ctx := context.Background()
	m := moto(t)
	cf := StartCloudFront(t, m.URL, CloudFrontOptions{CompleteAfter: 500 * time.Millisecond, MaxInProgressWildcards: 2})
	c := cfClient(t, cf.URL, 1)
	dist := CreateDistribution(t, cf.URL)
	a := cf.CreateTenant(dist, "tenant-a", "a.example.com")
	b := cf.CreateTenant(dist, "tenant-b", "b.example.com")

	got, err := c.GetDistributionTenant(ctx, &cloudfront.GetDistributionTenantInput{Identifier: aws.String(a)})
	if err != nil {
		t.Fatal(err)
	}
	if tn := got.DistributionTenant; aws.ToString(tn.Id) != a || aws.ToString(tn.DistributionId) != dist || len(tn.Domains) != 1 ||
		aws.ToString(tn.Domains[0].Domain) != "a.example.com" || aws.ToString(tn.Arn) != "arn:aws:cloudfront::123456789012:distribution-tenant/"+a {
		t.Fatalf("GetDistributionTenant = %+v", tn)
	}

	out, err := createTenantInv(ctx, c, a, "ref-1", "/*", "/index.html")
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.Invalidation.Id)
	if aws.ToString(out.Invalidation.Status) != "InProgress" || aws.ToString(out.Location) == "" {
		t.Fatalf("created %+v at %q", out.Invalidation, aws.ToString(out.Location))
	}
	// Same reference, same batch: the same invalidation; different batch: InvalidArgument.
	again, err := createTenantInv(ctx, c, a, "ref-1", "/index.html", "/*")
	if err != nil || aws.ToString(again.Invalidation.Id) != id {
		t.Fatalf("retry = %v, %v; want %s", again, err, id)
	}
	if _, err := createTenantInv(ctx, c, a, "ref-1", "/other.html"); !isCode(err, "InvalidArgument") {
		t.Fatalf("reused reference with another batch: %v", err)
	}
	// The wildcard limit is per tenant: a second wildcard fits on a, a third does not; b is free.
	if _, err := createTenantInv(ctx, c, a, "ref-2", "/a/*"); err != nil {
		t.Fatal(err)
	}
	_, err = createTenantInv(ctx, c, a, "ref-3", "/b/*")
	var tm *types.TooManyInvalidationsInProgress
	if !errors.As(err, &tm) {
		t.Fatalf("third wildcard on one tenant: %v, want TooManyInvalidationsInProgress", err)
	}
	if _, err := createTenantInv(ctx, c, b, "ref-3", "/b/*", "/c/*"); err != nil {
		t.Fatalf("tenant b has its own room: %v", err)
	}
	if n := len(cf.Invalidations(dist)); n != 0 {
		t.Fatalf("the parent distribution got %d invalidations, want 0", n)
	}
	if n := len(cf.TenantInvalidations(a)); n != 2 {
		t.Fatalf("tenant a has %d invalidations, want 2", n)
	}

	list, err := c.ListInvalidationsForDistributionTenant(ctx, &cloudfront.ListInvalidationsForDistributionTenantInput{Id: aws.String(a), MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if l := list.InvalidationList; len(l.Items) != 1 || !aws.ToBool(l.IsTruncated) || aws.ToString(l.Items[0].Status) != "InProgress" || aws.ToString(l.Items[0].Id) == id {
		t.Fatalf("first page (newest first) = %+v", l)
	}

	time.Sleep(600 * time.Millisecond)
	g, err := c.GetInvalidationForDistributionTenant(ctx, &cloudfront.GetInvalidationForDistributionTenantInput{DistributionTenantId: aws.String(a), Id: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(g.Invalidation.Status) != "Completed" || len(g.Invalidation.InvalidationBatch.Paths.Items) != 2 {
		t.Fatalf("after CompleteAfter: %+v", g.Invalidation)
	}
	if _, err := createTenantInv(ctx, c, a, "ref-4", "/b/*"); err != nil {
		t.Fatalf("room is back once completed: %v", err)
	}
}

func TestTenantUnknown(t *testing.T) {
	ctx := context.Background()
	m := moto(t)
	cf := StartCloudFront(t, m.URL, CloudFrontOptions{})
	c := cfClient(t, cf.URL, 1)
	dist := CreateDistribution(t, cf.URL)
	a := cf.CreateTenant(dist, "tenant-a", "a.example.com")

	var nf *types.EntityNotFound
	if _, err := createTenantInv(ctx, c, "dt_nosuch", "r", "/*"); !errors.As(err, &nf) {
		t.Fatalf("create on unknown tenant: %v, want EntityNotFound", err)
	}
	if _, err := c.GetDistributionTenant(ctx, &cloudfront.GetDistributionTenantInput{Identifier: aws.String("dt_nosuch")}); !errors.As(err, &nf) {
		t.Fatalf("get unknown tenant: %v, want EntityNotFound", err)
	}
	if _, err := c.ListInvalidationsForDistributionTenant(ctx, &cloudfront.ListInvalidationsForDistributionTenantInput{Id: aws.String("dt_nosuch")}); !errors.As(err, &nf) {
		t.Fatalf("list unknown tenant: %v, want EntityNotFound", err)
	}
	var ni *types.NoSuchInvalidation
	if _, err := c.GetInvalidationForDistributionTenant(ctx, &cloudfront.GetInvalidationForDistributionTenantInput{DistributionTenantId: aws.String(a), Id: aws.String("INOSUCH")}); !errors.As(err, &ni) {
		t.Fatalf("unknown invalidation: %v, want NoSuchInvalidation", err)
	}
	if _, err := createTenantInv(ctx, c, a, "r", "no-slash"); !isCode(err, "InvalidArgument") {
		t.Fatalf("bad path: %v", err)
	}
	cf.Inject(FaultTooManyInvalidations, 1)
	var tm *types.TooManyInvalidationsInProgress
	if _, err := createTenantInv(ctx, c, a, "r2", "/x"); !errors.As(err, &tm) {
		t.Fatalf("injected fault on a tenant creation: %v", err)
	}
}

func isCode(err error, code string) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == code
}
