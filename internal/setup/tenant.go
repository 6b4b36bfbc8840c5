package setup

import (
	"fmt"
	"strings"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// normalizeTenants trims, deduplicates and checks distribution tenant ids.
func normalizeTenants(in []string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, id := range in {
		id = strings.TrimSpace(id)
		if id == "" || seen[id] {
			continue
		}
		if err := invalidation.CheckTenantID(id); err != nil {
			return nil, optionErrorf("--tenant: %v", err)
		}
		seen[id] = true
		out = append(out, id)
	}
	return out, nil
}

// tenantStatements let the role invalidate exactly the given tenants: a tenant's
// invalidations are their own IAM actions, on the tenant's ARN
// (arn:PARTITION:cloudfront::ACCOUNT:distribution-tenant/ID, no region). In deploy mode
// the function also maps keys to URLs through each tenant's multi-tenant distribution:
// it reads the tenant (GetDistributionTenant) and then the distribution the tenant
// names, whose id is only known at run time, hence GetDistribution on the account's
// distributions (read-only).
func tenantStatements(partition, account string, ids []string, deploy bool) []statement {
	var arns []string
	for _, id := range ids {
		arns = append(arns, fmt.Sprintf("arn:%s:cloudfront::%s:distribution-tenant/%s", partition, account, id))
	}
	actions := []string{"cloudfront:CreateInvalidationForDistributionTenant", "cloudfront:GetInvalidationForDistributionTenant",
		"cloudfront:ListInvalidationsForDistributionTenant"}
	if deploy {
		actions = append(actions, "cloudfront:GetDistributionTenant")
	}
	out := []statement{{Sid: "InvalidateTenants", Effect: "Allow", Action: actions, Resource: arns}}
	if deploy {
		out = append(out, statement{Sid: "TenantDistributions", Effect: "Allow", Action: []string{"cloudfront:GetDistribution"},
			Resource: []string{fmt.Sprintf("arn:%s:cloudfront::%s:distribution/*", partition, account)}})
	}
	return out
}
