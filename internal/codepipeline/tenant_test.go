package codepipeline

import (
	"strings"
	"testing"
	"time"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// Two tenants of a multi-tenant distribution and a plain distribution, through the
// real handler, SDK, realism proxy and job API: one invalidation each, held in progress
// past one invocation (continuation token), a reference that deduplicates a redelivered
// first event, and the output variables.
func TestIntegrationTenants(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto_server")
	}
	in := &integration{moto: testkit.StartMoto(t)}
	in.cf = testkit.StartCloudFront(t, in.moto.URL, testkit.CloudFrontOptions{CompleteAfter: 700 * time.Millisecond})
	in.jobs = testkit.StartJobAPI(t)
	in.cfSign = startSigner(t, in.cf.URL)
	in.cpSign = startSigner(t, in.jobs.URL)
	in.dist = testkit.CreateDistribution(t, in.moto.URL)
	multi := testkit.CreateDistribution(t, in.moto.URL)
	a := in.cf.CreateTenant(multi, "a", "a.example.com")
	b := in.cf.CreateTenant(multi, "b", "b.example.com")

	t.Run("tenants and a distribution", func(t *testing.T) {
		h := in.newHandler(t, &testkit.SyncBuffer{})
		d := in.driver(h, `{"DistributionId":"`+in.dist+`","DistributionTenantIds":["`+a+`","`+b+`"],"Paths":["/index.html","/docs/*"]}`)
		d.Redeliver = 1
		chain, final := runChain(t, d)
		if !final.Success || final.ContinuationToken != "" {
			t.Fatalf("final %s", final)
		}
		if len(chain.Jobs) < 2 {
			t.Fatalf("a 700 ms invalidation needs a continuation; chain had %d jobs", len(chain.Jobs))
		}
		var ids []string
		for _, tn := range []string{a, b} {
			invs := in.cf.TenantInvalidations(tn)
			if len(invs) != 1 || strings.Join(invs[0].Paths, " ") != "/index.html /docs/*" || invs[0].Requests < 2 {
				t.Fatalf("tenant %s: %+v (want one invalidation, asked twice by the redelivery)", tn, invs)
			}
			if final.At.Before(invs[0].CompleteAt) {
				t.Fatalf("success reported before tenant %s completed", tn)
			}
			ids = append(ids, invs[0].ID)
		}
		if n := len(in.cf.Invalidations(multi)); n != 0 {
			t.Fatalf("the multi-tenant distribution itself got %d invalidations", n)
		}
		dinv := in.cf.Invalidations(in.dist)
		if len(dinv) != 1 {
			t.Fatalf("distribution: %+v", dinv)
		}
		out := final.OutputVariables
		if out["DistributionIds"] != in.dist || out["DistributionTenantIds"] != a+","+b ||
			out["InvalidationIds"] != strings.Join(append([]string{dinv[0].ID}, ids...), ",") || out["PathCount"] != "2" {
			t.Fatalf("outputs %v", out)
		}
		if !strings.Contains(final.Summary, invalidation.TenantTarget(a)+" "+ids[0]) {
			t.Errorf("summary does not name tenant a's invalidation: %q", final.Summary)
		}
	})

	t.Run("unknown tenant is a configuration error naming it", func(t *testing.T) {
		h := in.newHandler(t, &testkit.SyncBuffer{})
		_, final := runChain(t, in.driver(h, `{"DistributionTenantIds":["dt_nosuchtenant0"]}`))
		if final.Success || final.FailureType != "ConfigurationError" ||
			!strings.Contains(final.FailureMessage, "Distribution tenant dt_nosuchtenant0 does not exist") || !strings.Contains(final.FailureMessage, "DistributionTenantIds") {
			t.Fatalf("final %s", final)
		}
	})

	t.Run("denied tenant names the tenant actions and ARN", func(t *testing.T) {
		h := in.newHandler(t, &testkit.SyncBuffer{})
		in.cf.Inject(testkit.FaultAccessDenied, 1)
		_, final := runChain(t, in.driver(h, `{"DistributionTenantIds":["`+a+`"],"Paths":["/x"]}`))
		if final.Success || final.FailureType != "PermissionError" ||
			!strings.Contains(final.FailureMessage, "cloudfront:CreateInvalidationForDistributionTenant") ||
			!strings.Contains(final.FailureMessage, "arn:aws:cloudfront::<account>:distribution-tenant/"+a) {
			t.Fatalf("final %s", final)
		}
	})
}

func TestParamsTenants(t *testing.T) {
	p, err := ParseParams(`{"DistributionTenantIds":["dt_abc","dt_abc","dt_def"],"DistributionId":"E1AAA"}`)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(p.DistributionIDs, ",") != "E1AAA,distribution-tenant/dt_abc,distribution-tenant/dt_def" || strings.Join(p.TenantIDs(), ",") != "dt_abc,dt_def" {
		t.Fatalf("targets %v, tenants %v", p.DistributionIDs, p.TenantIDs())
	}
	for params, want := range map[string]string{
		`{"DistributionTenantIds":["a.example.com"]}`:                                    `"DistributionTenantIds": "a.example.com" is not a distribution tenant ID`,
		`{"DistributionTenantIds":[]}`:                                                   "is an empty list",
		`{"DistributionTenantIds":"dt_abc"}`:                                             "must be a list of strings",
		`{"DistributionTenantIds":["dt_abc"],"Bucket":"b","Verify":true}`:                "cannot check a tenant's domain",
		`{"DistributionTenantIds":["arn:aws:cloudfront::1:distribution-tenant/dt_abc"]}`: `write the ID only: "dt_abc"`,
	} {
		_, err := ParseParams(params)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", params, err, want)
		}
	}
	// A tenant-only job needs no DistributionId.
	if _, err := ParseParams(`{"DistributionTenantIds":["dt_abc"]}`); err != nil {
		t.Error(err)
	}
}

// The continuation state keeps a job with many tenants within CodePipeline's limit.
func TestTokenWithTenants(t *testing.T) {
	st := State{FirstJobID: strings.Repeat("j", 36), Start: time.Now(), PathCount: 40}
	for i := range 12 {
		st.Distributions = append(st.Distributions, invalidation.TenantTarget("dt_"+strings.Repeat(string(rune('a'+i)), 27)))
		st.IDs = append(st.IDs, "I"+strings.Repeat(string(rune('A'+i)), 13))
		st.Completed = append(st.Completed, i%2 == 0)
	}
	tok, err := EncodeToken(st)
	if err != nil || len(tok) > MaxTokenLen {
		t.Fatalf("token of %d chars, %v", len(tok), err)
	}
	back, err := DecodeToken(tok)
	if err != nil || strings.Join(back.Distributions, ",") != strings.Join(st.Distributions, ",") {
		t.Fatalf("round trip: %v %v", back.Distributions, err)
	}
	t.Logf("12 tenants: token of %d characters", len(tok))
}

func TestParamsCacheTags(t *testing.T) {
	p, err := ParseParams(`{"DistributionId":"E1AAA","Paths":["#page-a","/index.html"]}`)
	if err != nil || strings.Join(p.Paths, " ") != "#page-a /index.html" {
		t.Fatalf("%v %v", p.Paths, err)
	}
	_, err = ParseParams(`{"DistributionId":"E1AAA","Paths":["#` + strings.Repeat("t", 257) + `"]}`)
	if err == nil || !strings.Contains(err.Error(), `UserParameters "Paths"`) || !strings.Contains(err.Error(), "at most 256") {
		t.Fatalf("a tag over 256 characters: %v", err)
	}
}
