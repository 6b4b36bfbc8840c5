package codepipeline

import (
	"slices"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// Distribution tenants ("DistributionTenantIds"): each tenant of a multi-tenant
// distribution has its own cache. A tenant joins Params.DistributionIDs as its target
// (invalidation.TenantTarget, "distribution-tenant/ID"), so the job creates, polls,
// deduplicates and carries in the continuation token a tenant's invalidation exactly
// like a distribution's; the CloudFront client (invalidation.Client) sends those calls
// to the tenant operations.

// setTenants validates DistributionTenantIds and appends them as targets.
func (p *Params) setTenants(ids []string, set bool) error {
	if len(ids) > 0 && p.Verify {
		return &ConfigError{Key: "Verify", Message: "asks each distribution at its own domain and cannot check a tenant's domain yet; remove Verify, or run edgeflush verify --base-url https://TENANT-DOMAIN after the pipeline"}
	}
	if set && len(ids) == 0 {
		return &ConfigError{Key: "DistributionTenantIds", Message: "is an empty list; remove the key or write " + keys["DistributionTenantIds"]}
	}
	for _, id := range ids {
		if err := invalidation.CheckTenantID(id); err != nil {
			return &ConfigError{Key: "DistributionTenantIds", Message: err.Error()}
		}
		if t := invalidation.TenantTarget(id); !slices.Contains(p.DistributionIDs, t) {
			p.DistributionIDs = append(p.DistributionIDs, t)
		}
	}
	return nil
}

// TenantIDs returns the tenants among the job's targets.
func (p Params) TenantIDs() []string { return tenantIDs(p.DistributionIDs) }

func tenantIDs(targets []string) []string {
	var out []string
	for _, t := range targets {
		if id, ok := invalidation.TenantID(t); ok {
			out = append(out, id)
		}
	}
	return out
}

// distributionsOnly returns the targets that are distributions.
func distributionsOnly(targets []string) []string {
	var out []string
	for _, t := range targets {
		if _, ok := invalidation.TenantID(t); !ok {
			out = append(out, t)
		}
	}
	return out
}

// tenantAdvice is the failure text for a tenant target that CloudFront does not know
// (EntityNotFound), or "" when target is a distribution.
func tenantAdvice(text, target, where string) string {
	id, ok := invalidation.TenantID(target)
	if !ok {
		return ""
	}
	return text + " Distribution tenant " + id + " does not exist in the account of " + where + ": check DistributionTenantIds in UserParameters (the CloudFront console lists the tenants of a multi-tenant distribution)."
}

// invalidateActions are the IAM actions a target's invalidations need.
func invalidateActions(target string) string {
	if _, ok := invalidation.TenantID(target); ok {
		return "cloudfront:CreateInvalidationForDistributionTenant, cloudfront:GetInvalidationForDistributionTenant and cloudfront:ListInvalidationsForDistributionTenant"
	}
	return "cloudfront:CreateInvalidation and cloudfront:GetInvalidation"
}

// validTarget accepts a distribution id or a tenant target in a continuation token.
func validTarget(target string) bool {
	if id, ok := invalidation.TenantID(target); ok {
		return invalidation.CheckTenantID(id) == nil
	}
	return distributionIDRE.MatchString(target)
}
