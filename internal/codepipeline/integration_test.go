package codepipeline

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// signer records which access key signed each request passing through to target, so a
// test can tell the function's own identity from an assumed role's.
type signer struct {
	URL  string
	mu   sync.Mutex
	keys []string
}

var credentialRE = regexp.MustCompile(`Credential=([^/]+)/`)

func startSigner(t *testing.T, target string) *signer {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	s := &signer{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := credentialRE.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			s.mu.Lock()
			s.keys = append(s.keys, m[1])
			s.mu.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *signer) signedBy() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, k := range s.keys {
		out[k]++
	}
	return out
}

type integration struct {
	moto   *testkit.Moto
	cf     *testkit.CloudFront
	jobs   *testkit.JobAPI
	cfSign *signer
	cpSign *signer
	dist   string
}

// newHandler builds the handler exactly as cmd/edgeflush-lambda does (awsconf.Load from
// the standard environment variables, then New), with short polling knobs.
func (in *integration) newHandler(t *testing.T, logs *testkit.SyncBuffer) *Handler {
	t.Helper()
	env := append(in.moto.Env(),
		"AWS_ENDPOINT_URL_CLOUDFRONT="+in.cfSign.URL,
		"AWS_ENDPOINT_URL_CODEPIPELINE="+in.cpSign.URL,
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PROFILE=",
		EnvPollInterval+"=50ms", EnvPollBudget+"=400ms", EnvSafetyMargin+"=50ms")
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	cfg, err := awsconf.Load(context.Background(), awsconf.Options{MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := New(cfg, NewLogger(logs))
	if err := h.ConfigureFromEnv(func(k string) string { v, _ := lookupEnv(env, k); return v }); err != nil {
		t.Fatal(err)
	}
	return h
}

func lookupEnv(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

func (in *integration) driver(h *Handler, params string) *testkit.Driver {
	return &testkit.Driver{
		Jobs:           in.jobs,
		Invoke:         func(ctx context.Context, payload []byte) error { return h.Handle(ctx, payload) },
		UserParameters: params,
		Delay:          20 * time.Millisecond,
		MaxJobs:        60,
	}
}

func runChain(t *testing.T, d *testkit.Driver) (*testkit.Chain, testkit.JobResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	chain, err := d.Run(ctx)
	if err != nil {
		t.Fatalf("chain: %v", err)
	}
	final, ok := chain.Final()
	if !ok {
		t.Fatal("chain has no final result")
	}
	return chain, final
}

// TestIntegration runs the handler with the real SDK clients against moto, the
// CloudFront realism proxy and the CodePipeline job-API stand-in.
func TestIntegration(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto_server")
	}
	in := &integration{moto: testkit.StartMoto(t)}
	in.cf = testkit.StartCloudFront(t, in.moto.URL, testkit.CloudFrontOptions{CompleteAfter: 700 * time.Millisecond})
	in.jobs = testkit.StartJobAPI(t)
	in.cfSign = startSigner(t, in.cf.URL)
	in.cpSign = startSigner(t, in.jobs.URL)
	in.dist = testkit.CreateDistribution(t, in.moto.URL)
	seedParams := `{"PipelineName":"site-pipeline","DistributionId":"` + in.dist + `"}`

	t.Run("seed parameters succeed only after completion", func(t *testing.T) {
		logs := &testkit.SyncBuffer{}
		h := in.newHandler(t, logs)
		before := len(in.cf.Invalidations(in.dist))
		chain, final := runChain(t, in.driver(h, seedParams))
		if !final.Success || final.ContinuationToken != "" {
			t.Fatalf("final result %s", final)
		}
		invs := in.cf.Invalidations(in.dist)[before:]
		if len(invs) != 1 || strings.Join(invs[0].Paths, ",") != "/*" {
			t.Fatalf("want one invalidation of /*, got %+v", invs)
		}
		if final.At.Before(invs[0].CompleteAt) {
			t.Fatalf("success reported at %v, before completion at %v", final.At, invs[0].CompleteAt)
		}
		if len(chain.Jobs) < 2 {
			t.Fatalf("a 700 ms invalidation with a 400 ms budget needs a continuation; chain had %d jobs", len(chain.Jobs))
		}
		if final.OutputVariables["InvalidationIds"] != invs[0].ID || final.OutputVariables["DistributionIds"] != in.dist || final.OutputVariables["PathCount"] != "1" {
			t.Fatalf("outputs %v", final.OutputVariables)
		}
		if lag := final.At.Sub(invs[0].CompleteAt); lag > 2*time.Second {
			t.Errorf("completion reported %v after it happened", lag)
		}
		assertNoSecrets(t, logs.String())
	})

	t.Run("redelivered first event creates one invalidation", func(t *testing.T) {
		h := in.newHandler(t, &testkit.SyncBuffer{})
		before := in.cf.Creations(in.dist)
		d := in.driver(h, seedParams)
		d.Redeliver = 2
		chain, final := runChain(t, d)
		if !final.Success {
			t.Fatalf("final %s", final)
		}
		if n := in.cf.Creations(in.dist) - before; n != 1 {
			t.Fatalf("3 deliveries created %d invalidations", n)
		}
		if rej := in.jobs.Rejected(chain.Jobs[0].ID); len(rej) != 2 || rej[0] != "InvalidJobStateException" {
			t.Fatalf("late results: %v", rej)
		}
	})

	t.Run("in-progress limit, throttling and 503 still end in success", func(t *testing.T) {
		h := in.newHandler(t, &testkit.SyncBuffer{})
		before := in.cf.Creations(in.dist)
		in.cf.Inject(testkit.FaultTooManyInvalidations, 3)
		in.cf.InjectOp(testkit.OpGetInvalidation, testkit.FaultThrottling, 2)
		in.cf.Inject(testkit.FaultServiceUnavailable, 1)
		_, final := runChain(t, in.driver(h, seedParams))
		if !final.Success || final.ContinuationToken != "" {
			t.Fatalf("final %s", final)
		}
		if n := in.cf.Creations(in.dist) - before; n != 1 {
			t.Fatalf("created %d invalidations", n)
		}
		if in.cf.FaultsServed(testkit.FaultTooManyInvalidations) < 3 {
			t.Fatalf("faults not served")
		}
	})

	t.Run("several distributions", func(t *testing.T) {
		h := in.newHandler(t, &testkit.SyncBuffer{})
		second := testkit.CreateDistribution(t, in.moto.URL)
		_, final := runChain(t, in.driver(h, `{"DistributionIds":["`+in.dist+`","`+second+`"],"Paths":["/index.html","/docs/*"]}`))
		if !final.Success || final.OutputVariables["DistributionIds"] != in.dist+","+second || final.OutputVariables["PathCount"] != "2" {
			t.Fatalf("final %s %v", final, final.OutputVariables)
		}
		ids := strings.Split(final.OutputVariables["InvalidationIds"], ",")
		if len(ids) != 2 || in.cf.Creations(second) != 1 {
			t.Fatalf("ids %v", ids)
		}
	})

	t.Run("bad input gets the right failure and creates nothing", func(t *testing.T) {
		h := in.newHandler(t, &testkit.SyncBuffer{})
		for params, want := range map[string]string{
			`{"DistributionId":"` + in.dist + `","Paths":["no-slash"]}`: "ConfigurationError",
			`{"DistributionIds":[]}`:                                    "ConfigurationError",
			`{"DistributionId":"` + in.dist + `","X":1}`:                "ConfigurationError",
			`{"DistributionId":"E0NOSUCHDIST00"}`:                       "ConfigurationError",
		} {
			before := in.cf.Creations("")
			_, final := runChain(t, in.driver(h, params))
			t.Logf("%s -> %s", params, final)
			if final.Success || final.FailureType != want {
				t.Fatalf("%s: got %s", params, final)
			}
			if n := in.cf.Creations("") - before; n != 0 {
				t.Fatalf("%s created %d invalidations", params, n)
			}
		}
	})

	t.Run("cross-account role signs CloudFront calls only", func(t *testing.T) {
		h := in.newHandler(t, &testkit.SyncBuffer{})
		cfBefore, cpBefore := in.cfSign.signedBy(), in.cpSign.signedBy()
		_, final := runChain(t, in.driver(h, `{"DistributionId":"`+in.dist+`","RoleArn":"arn:aws:iam::123456789012:role/edgeflush-invalidator","ExternalId":"ext-123"}`))
		if !final.Success {
			t.Fatalf("final %s", final)
		}
		assumed := 0
		for k, n := range in.cfSign.signedBy() {
			if k == testkit.AccessKeyID && n > cfBefore[k] {
				t.Errorf("%d CloudFront calls used the function's own key", n-cfBefore[k])
			}
			if k != testkit.AccessKeyID {
				assumed += n - cfBefore[k]
			}
		}
		t.Logf("cloudfront keys %v, job keys %v", in.cfSign.signedBy(), in.cpSign.signedBy())
		if assumed == 0 {
			t.Error("no CloudFront call was signed with the assumed role's key")
		}
		for k, n := range in.cpSign.signedBy() {
			if k != testkit.AccessKeyID && n > cpBefore[k] {
				t.Errorf("job results signed with %s, not the function's own key", k)
			}
		}
	})
}

func assertNoSecrets(t *testing.T, logs string) {
	t.Helper()
	if !strings.Contains(logs, `"job_id"`) {
		t.Fatalf("no job log lines captured")
	}
	for _, s := range append(testkit.Secrets(), testSecretKey, testSessionToken) {
		if strings.Contains(logs, s) {
			t.Errorf("secret %q found in the logs", s)
		}
	}
}
