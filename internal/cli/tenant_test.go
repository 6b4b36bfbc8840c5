package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// Two tenants of one multi-tenant distribution and a plain distribution, through the
// realism proxy: one invalidation each, waited for, the tenants' kept apart.
func TestInvalidateAndWaitTenants(t *testing.T) {
	cf := testkit.StartCloudFront(t, moto(t).URL, testkit.CloudFrontOptions{CompleteAfter: 300 * time.Millisecond})
	useMoto(t, cf.URL)
	dist := testkit.CreateDistribution(t, cf.URL)
	other := testkit.CreateDistribution(t, cf.URL)
	a := cf.CreateTenant(dist, "a", "a.example.com")
	b := cf.CreateTenant(dist, "b", "b.example.com")

	r := edgeflush(t, "", "invalidate", "--distribution", other, "--tenant", a, "--tenant", b+","+a,
		"--path", "/index.html", "--wait", "--poll-interval", "20ms", "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	out := decode(t, r.stdout)
	want := []string{other, invalidation.TenantTarget(a), invalidation.TenantTarget(b)}
	if len(out.Invalidations) != 3 {
		t.Fatalf("want 3 invalidations, got %+v", out.Invalidations)
	}
	for i, inv := range out.Invalidations {
		if inv.Distribution != want[i] || inv.ID == "" || inv.Status != "Completed" {
			t.Errorf("invalidation %d = %+v, want %s Completed", i, inv, want[i])
		}
	}
	for _, id := range []string{a, b} {
		if got := cf.TenantInvalidations(id); len(got) != 1 || strings.Join(got[0].Paths, " ") != "/index.html" {
			t.Errorf("tenant %s got %+v", id, got)
		}
	}
	if n := len(cf.Invalidations(dist)); n != 0 {
		t.Errorf("the multi-tenant distribution itself got %d invalidations", n)
	}

	// wait --tenant on a tenant's invalidation; an unknown tenant; a malformed id.
	id := cf.TenantInvalidations(a)[0].ID
	r = edgeflush(t, "", "wait", "--tenant", a, "--id", id, "--poll-interval", "20ms")
	if r.code != 0 || !strings.Contains(r.stdout, invalidation.TenantTarget(a)+" "+id+" Completed") {
		t.Fatalf("wait --tenant: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = edgeflush(t, "", "invalidate", "--tenant", "dt_nosuchtenant", "--path", "/x")
	wantFailure(t, r, 1, "EntityNotFound", "check the --tenant ID")
	r = edgeflush(t, "", "invalidate", "--tenant", "a.example.com", "--path", "/x")
	wantFailure(t, r, 2, "--tenant", "not a distribution tenant ID", "not its domain")
	r = edgeflush(t, "", "wait", "--tenant", a, "--distribution", other, "--id", id)
	wantFailure(t, r, 2, "wait takes one --distribution or --tenant")
}

// --changed plans within what is free on the tenant (its own in-progress room), and a
// timeout names the wait command for the tenant.
func TestInvalidateChangedTenantBudget(t *testing.T) {
	cf := busyProxy(t)
	dist := testkit.CreateDistribution(t, cf.URL)
	a := cf.CreateTenant(dist, "a", "a.example.com")
	all, changed := busySite(t)
	ta := invalidation.TenantTarget(a)
	// Occupy goes through CreateInvalidation, which the proxy routes by the target key.
	cf.Occupy(t, dist, 15, 0) // the parent's room is full; the tenant's is not
	r := edgeflush(t, "", "invalidate", "--tenant", a, "--changed", changed, "--all", all, "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	out := decode(t, r.stdout)
	if out.InProgress == nil || out.InProgress.FreeWildcards != 15 || len(out.Invalidations) != 1 || out.Invalidations[0].Distribution != ta {
		t.Fatalf("planned %+v / %+v", out.InProgress, out.Invalidations)
	}
	r = edgeflush(t, "", "wait", "--tenant", a, "--id", out.Invalidations[0].ID, "--timeout", "50ms", "--poll-interval", "10ms")
	wantFailure(t, r, 1, "edgeflush wait --tenant "+a+" --id "+out.Invalidations[0].ID)
}

// deploy --tenant maps the keys through the tenant's multi-tenant distribution with the
// tenant's parameter filled into the origin path, and invalidates on the tenant.
func TestDeployTenantMapsThroughItsDistribution(t *testing.T) {
	cf := testkit.StartCloudFront(t, moto(t).URL, testkit.CloudFrontOptions{CompleteAfter: 100 * time.Millisecond})
	m := useMoto(t, cf.URL)
	bucket := "tenant-sites"
	if _, err := awsconf.NewS3(m.Config(t)).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	multi := testkit.CreateDistributionWith(t, cf.URL, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{{ID: "sites", DomainName: bucket + ".s3.amazonaws.com", OriginPath: "/{{tenant}}"}},
	})
	a := cf.CreateTenant(multi, "alpha", "alpha.example.com")
	cf.SetTenantParameters(a, map[string]string{"tenant": "alpha"})
	dir := filepath.Join(t.TempDir(), "site")
	writeSite(t, dir, map[string]string{"x.html": "x1", "y.html": "y1"})
	deploy := func(extra ...string) result {
		return edgeflush(t, "", append([]string{"deploy", dir, "--bucket", bucket, "--tenant", a, "--wait", "--poll-interval", "20ms"}, extra...)...)
	}
	if r := deploy("--prefix", "alpha/"); r.code != 0 {
		t.Fatalf("first deploy: %+v", r)
	}
	writeSite(t, dir, map[string]string{"x.html": "x2"})
	if r := deploy("--prefix", "alpha/"); r.code != 0 {
		t.Fatalf("second deploy: %+v", r)
	}
	invs := cf.TenantInvalidations(a)
	if len(invs) != 2 || strings.Join(invs[1].Paths, " ") != "/x.html" {
		t.Fatalf("tenant invalidations %+v, want the second of /x.html (not /alpha/x.html)", invs)
	}
	// Deployed to another tenant's folder: the tenant does not serve it; nothing written.
	r := deploy("--prefix", "beta/")
	wantFailure(t, r, 1, "nothing written", "reads bucket "+bucket+" from another folder", "/alpha")
}
