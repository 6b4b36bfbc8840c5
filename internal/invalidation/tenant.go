package invalidation

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
)

// Targets. An invalidation goes to a distribution or, on a multi-tenant distribution
// (CloudFront SaaS Manager), to one distribution tenant, which has its own cache. The
// rest of edgeflush (planner budgets, in-progress counts, caller references, the
// action's continuation state) handles a target as an opaque string: a distribution id,
// or TenantTarget(id), the resource part of the tenant's ARN. Client sends the calls for
// a tenant target to the tenant operations.

// TenantTargetPrefix starts the target string of a distribution tenant.
const TenantTargetPrefix = "distribution-tenant/"

// TenantTarget is the target string of distribution tenant id.
func TenantTarget(id string) string { return TenantTargetPrefix + id }

// TenantID returns the tenant id of a tenant target.
func TenantID(target string) (string, bool) { return strings.CutPrefix(target, TenantTargetPrefix) }

// Label names a target for people: "distribution E2EXAMPLE" or "tenant dt_...".
func Label(target string) string {
	if id, ok := TenantID(target); ok {
		return "tenant " + id
	}
	return "distribution " + target
}

// ARN is the IAM resource of target in account (CloudFront ARNs have no region).
func ARN(account, target string) string {
	if id, ok := TenantID(target); ok {
		return "arn:aws:cloudfront::" + account + ":distribution-tenant/" + id
	}
	return "arn:aws:cloudfront::" + account + ":distribution/" + target
}

// tenantIDRE is the shape of a tenant id as AWS issues them ("dt_" and letters and
// digits); CheckTenantID rejects the usual mix-ups before CloudFront does less clearly.
var tenantIDRE = regexp.MustCompile(`^dt_[A-Za-z0-9]{1,64}$`)

// CheckTenantID says what is wrong with a tenant id given by a person, or nil.
func CheckTenantID(id string) error {
	if tenantIDRE.MatchString(id) {
		return nil
	}
	hint := "a distribution tenant ID looks like dt_2wjDZi3hD1ivOXf6rpZJ0HVZhB1"
	switch {
	case strings.HasPrefix(id, "arn:"):
		if i := strings.LastIndex(id, "/"); i >= 0 && tenantIDRE.MatchString(id[i+1:]) {
			hint = fmt.Sprintf("write the ID only: %q", id[i+1:])
		} else {
			hint = "write the tenant ID only, not its ARN"
		}
	case strings.TrimSpace(id) != id:
		hint = fmt.Sprintf("remove the spaces: %q", strings.TrimSpace(id))
	case strings.Contains(id, "."):
		hint = "write the tenant's ID (dt_...), not its domain; the CloudFront console lists it under Distribution tenants"
	}
	if len(id) > 100 {
		id = id[:100] + "..."
	}
	return fmt.Errorf("%q is not a distribution tenant ID; %s", id, hint)
}

// DistributionAPI is the distribution half of what Client routes.
type DistributionAPI interface {
	API
	cloudfront.ListInvalidationsAPIClient
}

// TenantAPI is the tenant half: the three tenant invalidation operations.
type TenantAPI interface {
	CreateInvalidationForDistributionTenant(ctx context.Context, in *cloudfront.CreateInvalidationForDistributionTenantInput, optFns ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationForDistributionTenantOutput, error)
	GetInvalidationForDistributionTenant(ctx context.Context, in *cloudfront.GetInvalidationForDistributionTenantInput, optFns ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationForDistributionTenantOutput, error)
	ListInvalidationsForDistributionTenant(ctx context.Context, in *cloudfront.ListInvalidationsForDistributionTenantInput, optFns ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsForDistributionTenantOutput, error)
}

// Client implements API and ListAPI over both kinds of target: a DistributionId that is
// a tenant target goes to CreateInvalidationForDistributionTenant,
// GetInvalidationForDistributionTenant or ListInvalidationsForDistributionTenant (same
// batch and answer shapes), anything else to the distribution operations.
type Client struct {
	Distributions DistributionAPI
	Tenants       TenantAPI
}

// NewClient routes over one CloudFront client.
func NewClient(c *cloudfront.Client) *Client { return &Client{Distributions: c, Tenants: c} }

// CreateInvalidation implements API.
func (c *Client) CreateInvalidation(ctx context.Context, in *cloudfront.CreateInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error) {
	id, ok := TenantID(derefString(in.DistributionId))
	if !ok {
		return c.Distributions.CreateInvalidation(ctx, in, optFns...)
	}
	out, err := c.Tenants.CreateInvalidationForDistributionTenant(ctx, &cloudfront.CreateInvalidationForDistributionTenantInput{
		Id: &id, InvalidationBatch: in.InvalidationBatch,
	}, optFns...)
	if err != nil {
		return nil, err
	}
	return &cloudfront.CreateInvalidationOutput{Invalidation: out.Invalidation, Location: out.Location, ResultMetadata: out.ResultMetadata}, nil
}

// GetInvalidation implements API.
func (c *Client) GetInvalidation(ctx context.Context, in *cloudfront.GetInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error) {
	id, ok := TenantID(derefString(in.DistributionId))
	if !ok {
		return c.Distributions.GetInvalidation(ctx, in, optFns...)
	}
	out, err := c.Tenants.GetInvalidationForDistributionTenant(ctx, &cloudfront.GetInvalidationForDistributionTenantInput{
		DistributionTenantId: &id, Id: in.Id,
	}, optFns...)
	if err != nil {
		return nil, err
	}
	return &cloudfront.GetInvalidationOutput{Invalidation: out.Invalidation, ResultMetadata: out.ResultMetadata}, nil
}

// ListInvalidations implements cloudfront.ListInvalidationsAPIClient, so the SDK's
// paginator (InProgress) lists a tenant's invalidations too.
func (c *Client) ListInvalidations(ctx context.Context, in *cloudfront.ListInvalidationsInput, optFns ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsOutput, error) {
	id, ok := TenantID(derefString(in.DistributionId))
	if !ok {
		return c.Distributions.ListInvalidations(ctx, in, optFns...)
	}
	out, err := c.Tenants.ListInvalidationsForDistributionTenant(ctx, &cloudfront.ListInvalidationsForDistributionTenantInput{
		Id: &id, Marker: in.Marker, MaxItems: in.MaxItems,
	}, optFns...)
	if err != nil {
		return nil, err
	}
	return &cloudfront.ListInvalidationsOutput{InvalidationList: out.InvalidationList, ResultMetadata: out.ResultMetadata}, nil
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
