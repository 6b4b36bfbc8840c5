package cli

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/spf13/pflag"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// Distribution tenants (--tenant): each tenant of a multi-tenant distribution has its
// own cache and its own invalidations. The commands handle a tenant as one more target
// beside the distributions (invalidation.TenantTarget: "distribution-tenant/ID" in the
// output), so planning, budgets, in-progress handling and caller references are the
// same for both.

// addTenantFlag adds the repeatable --tenant flag (EDGEFLUSH_TENANT, tenant: in the
// config file, through config.go like every flag).
func addTenantFlag(f *pflag.FlagSet, dst *[]string, usage string) {
	f.StringSliceVar(dst, "tenant", nil, usage)
}

// targets joins the distributions and the tenants (as tenant targets), duplicates
// removed, and rejects a malformed tenant id with a usage error.
func targets(dists, tenants []string) ([]string, error) {
	out := uniqueStrings(dists)
	for _, id := range uniqueStrings(tenants) {
		if err := invalidation.CheckTenantID(id); err != nil {
			return nil, usageErrorf("--tenant: %v", err)
		}
		out = append(out, invalidation.TenantTarget(id))
	}
	return out, nil
}

// targetFlag is how a person names target on the command line, for hints.
func targetFlag(target string) string {
	if id, ok := invalidation.TenantID(target); ok {
		return "--tenant " + id
	}
	return "--distribution " + target
}

// cloudFrontClient is the SDK client with the invalidation calls of a tenant target
// routed to the tenant operations (invalidation.Client); every other call is the SDK's.
type cloudFrontClient struct {
	*cloudfront.Client
	routed *invalidation.Client
}

func newCloudFrontClient(c *cloudfront.Client) *cloudFrontClient {
	return &cloudFrontClient{Client: c, routed: invalidation.NewClient(c)}
}

func (c *cloudFrontClient) CreateInvalidation(ctx context.Context, in *cloudfront.CreateInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error) {
	return c.routed.CreateInvalidation(ctx, in, optFns...)
}

func (c *cloudFrontClient) GetInvalidation(ctx context.Context, in *cloudfront.GetInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error) {
	return c.routed.GetInvalidation(ctx, in, optFns...)
}

func (c *cloudFrontClient) ListInvalidations(ctx context.Context, in *cloudfront.ListInvalidationsInput, optFns ...func(*cloudfront.Options)) (*cloudfront.ListInvalidationsOutput, error) {
	return c.routed.ListInvalidations(ctx, in, optFns...)
}
