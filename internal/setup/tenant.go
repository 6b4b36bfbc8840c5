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

// tenantStatement lets the role invalidate exactly the given tenants: a tenant's
// invalidations are their own IAM actions, on the tenant's ARN
// (arn:PARTITION:cloudfront::ACCOUNT:distribution-tenant/ID, no region).
func tenantStatement(partition, account string, ids []string) statement {
	var arns []string
	for _, id := range ids {
		arns = append(arns, fmt.Sprintf("arn:%s:cloudfront::%s:distribution-tenant/%s", partition, account, id))
	}
	return statement{
		Sid:    "InvalidateTenants",
		Effect: "Allow",
		Action: []string{"cloudfront:CreateInvalidationForDistributionTenant", "cloudfront:GetInvalidationForDistributionTenant",
			"cloudfront:ListInvalidationsForDistributionTenant"},
		Resource: arns,
	}
}
