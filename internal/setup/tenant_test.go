package setup

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

func TestTenantsInPolicyAndUserParameters(t *testing.T) {
	o := Options{Pipeline: "site", Region: "us-east-1", TenantIDs: []string{" dt_abc", "dt_abc", "dt_def"}}
	if err := o.normalize(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.TenantIDs, []string{"dt_abc", "dt_def"}) {
		t.Fatalf("tenants %v", o.TenantIDs)
	}
	got := setupGrants(&o)
	for _, want := range []string{
		"cloudfront:CreateInvalidationForDistributionTenant on arn:aws:cloudfront::123456789012:distribution-tenant/dt_abc",
		"cloudfront:ListInvalidationsForDistributionTenant on arn:aws:cloudfront::123456789012:distribution-tenant/dt_def",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("policy lacks %q: %v", want, got)
		}
	}
	for _, g := range got {
		if strings.Contains(g, ":distribution/") {
			t.Errorf("a tenant-only setup grants a distribution: %s", g)
		}
	}
	params, err := userParameters(`{"DistributionId":"E1OLD","Paths":["/x"]}`, &o)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(params), &m); err != nil {
		t.Fatal(err)
	}
	if _, ok := m["DistributionId"]; ok || strings.Join(toStrings(m["DistributionTenantIds"]), ",") != "dt_abc,dt_def" {
		t.Fatalf("UserParameters %s", params)
	}

	bad := Options{Pipeline: "site", Region: "us-east-1", TenantIDs: []string{"a.example.com"}}
	if err := bad.normalize(); err == nil || !strings.Contains(err.Error(), "not a distribution tenant ID") {
		t.Fatalf("bad tenant: %v", err)
	}
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}
