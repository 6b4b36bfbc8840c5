package invalidation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

func TestTenantTargetsThroughProxy(t *testing.T) {
	ctx := context.Background()
	cf := testkit.StartCloudFront(t, startMoto(t), testkit.CloudFrontOptions{CompleteAfter: 300 * time.Millisecond})
	c := &Client{Distributions: newClient(cf.URL), Tenants: newClient(cf.URL)}
	dist := createDistribution(t, cf.URL)
	a := cf.CreateTenant(dist, "a", "a.example.com")
	b := cf.CreateTenant(dist, "b", "b.example.com")

	for _, target := range []string{dist, TenantTarget(a), TenantTarget(b)} {
		ref := CallerReference("job-1", target)
		inv, err := Create(ctx, c, target, []string{"/index.html", "/assets/*"}, ref)
		if err != nil {
			t.Fatalf("%s: %v", Label(target), err)
		}
		again, err := Create(ctx, c, target, []string{"/index.html", "/assets/*"}, ref)
		if err != nil || again.ID != inv.ID {
			t.Fatalf("%s: retry created %v, %v; want %s", Label(target), again.ID, err, inv.ID)
		}
		u, err := InProgress(ctx, c, target)
		if err != nil || u.Exact != 1 || u.Wildcards != 1 {
			t.Fatalf("%s: in progress %+v, %v", Label(target), u, err)
		}
		done, err := Wait(ctx, c, target, inv.ID, 50*time.Millisecond)
		if err != nil || !done.Completed() {
			t.Fatalf("%s: wait %+v, %v", Label(target), done, err)
		}
	}
	if n := len(cf.TenantInvalidations(a)); n != 1 {
		t.Fatalf("tenant a has %d invalidations, want 1", n)
	}
	if n := len(cf.Invalidations(dist)); n != 1 {
		t.Fatalf("distribution has %d invalidations, want 1 (tenants' are apart)", n)
	}

	_, err := Create(ctx, c, TenantTarget("dt_nosuch"), []string{"/x"}, "r")
	if err == nil || Classify(err) != KindConfiguration || !strings.Contains(err.Error(), "EntityNotFound") {
		t.Fatalf("unknown tenant: %v (kind %v)", err, Classify(err))
	}
}

func TestTenantHelpers(t *testing.T) {
	if got := ARN("123456789012", TenantTarget("dt_abc")); got != "arn:aws:cloudfront::123456789012:distribution-tenant/dt_abc" {
		t.Errorf("tenant ARN = %s", got)
	}
	if got := ARN("123456789012", "E2EXAMPLE"); got != "arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE" {
		t.Errorf("distribution ARN = %s", got)
	}
	if Label(TenantTarget("dt_abc")) != "tenant dt_abc" || Label("E1") != "distribution E1" {
		t.Error("Label")
	}
	for id, want := range map[string]string{
		"dt_2wjDZi3hD1ivOXf6rpZJ0HVZhB1":                   "",
		"arn:aws:cloudfront::1:distribution-tenant/dt_abc": `write the ID only: "dt_abc"`,
		"a.example.com": "not its domain",
		" dt_abc":       "remove the spaces",
		"E2EXAMPLE":     "looks like dt_",
	} {
		err := CheckTenantID(id)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckTenantID(%q) = %v, want %q", id, err, want)
		}
	}
}
