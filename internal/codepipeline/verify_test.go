package codepipeline

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
)

type verifierFunc func(ctx context.Context, req VerifyRequest) (VerifyResult, error)

func (f verifierFunc) Verify(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
	return f(ctx, req)
}

func (f verifierFunc) CheckSite(ctx context.Context, p Params, dist string) error { return nil }

// siteChecker fails CheckSite.
type siteChecker struct {
	verifierFunc
	err error
}

func (s siteChecker) CheckSite(ctx context.Context, p Params, dist string) error { return s.err }

const verifyParams = `{"PipelineName":"site","DistributionId":"E1","Bucket":"site","Verify":true}`

func deployedPaths(paths ...string) Deployer {
	return deployerFunc(func(ctx context.Context, req DeployRequest) (DeployResult, error) {
		return DeployResult{Paths: paths, Uploaded: len(paths)}, nil
	})
}

func TestVerifyRunsAfterCompletionAndNamesStaleURLs(t *testing.T) {
	hs := newHarness(t)
	hs.cf.completeAfterGets = 2
	hs.h.Deployer = deployedPaths("/a.css", "/blog/*")
	var mu sync.Mutex
	var calls []VerifyRequest
	hs.h.Verifier = verifierFunc(func(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
		mu.Lock()
		defer mu.Unlock()
		if inv := hs.cf.created(); len(inv) != 1 || inv[0].gets < 2 {
			t.Errorf("verify called before the invalidation completed")
		}
		calls = append(calls, req)
		return VerifyResult{Checked: 4, Fresh: 3, Problems: []string{"/a.css is stale: the edge serves ETag x, the bucket has y (Age 5, X-Cache Hit from cloudfront)"}}, nil
	})
	res := hs.invoke("job-1", verifyParams, "")
	if res.success || res.typ != types.FailureTypeJobFailed || !strings.Contains(res.message, "E1: /a.css is stale") || !strings.Contains(res.message, "1 of 4 URLs are not fresh") {
		t.Fatalf("result %+v", res)
	}
	if len(calls) != 1 || calls[0].DistributionID != "E1" || strings.Join(calls[0].Paths, " ") != "/a.css /blog/*" || !calls[0].Params.Verify {
		t.Fatalf("verify requests %+v", calls)
	}

	hs2 := newHarness(t)
	hs2.h.Deployer = deployedPaths("/a.css")
	hs2.h.Verifier = verifierFunc(func(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
		return VerifyResult{Checked: 1, Fresh: 1}, nil
	})
	res = hs2.invoke("job-1", verifyParams, "")
	if !res.success || !strings.Contains(res.summary, "Verified 1 URL(s) fresh at the edge") || res.outputs["Verified"] != "1" {
		t.Fatalf("fresh: %+v", res)
	}
}

func TestVerifyOutOfTimeContinues(t *testing.T) {
	hs := newHarness(t)
	hs.h.Deployer = deployedPaths("/a.css")
	n := 0
	hs.h.Verifier = verifierFunc(func(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
		n++
		if n == 1 {
			<-ctx.Done() // the check outlasts this invocation's budget
			return VerifyResult{}, ctx.Err()
		}
		return VerifyResult{Checked: 1, Fresh: 1}, nil
	})
	hs.h.PollBudget = 200 * time.Millisecond
	res, jobs := hs.chain(verifyParams, 5)
	if !res.success || jobs != 2 || n != 2 || len(hs.cf.created()) != 1 {
		t.Fatalf("result %+v after %d jobs, %d checks, %d invalidations", res, jobs, n, len(hs.cf.created()))
	}
}

func TestVerifyChecksTheSiteBeforeDeploying(t *testing.T) {
	hs := newHarness(t)
	deployed := false
	hs.h.Deployer = deployerFunc(func(ctx context.Context, req DeployRequest) (DeployResult, error) {
		deployed = true
		return DeployResult{Paths: []string{"/a.css"}}, nil
	})
	hs.h.Verifier = siteChecker{err: &ConfigError{Key: "Bucket", Message: "bucket site is not an origin of distribution E1; its origins are: web (www.example.com, custom origin)"}}
	res := hs.invoke("job-1", verifyParams, "")
	if res.success || res.typ != types.FailureTypeConfigurationError || !strings.Contains(res.message, "its origins are: web") || deployed || len(hs.cf.created()) != 0 {
		t.Fatalf("result %+v, deployed %v, %d invalidations", res, deployed, len(hs.cf.created()))
	}
}

func TestVerifyConfigurationErrors(t *testing.T) {
	hs := newHarness(t)
	hs.h.Deployer = deployedPaths("/a.css")
	res := hs.invoke("job-1", verifyParams, "")
	if res.success || res.typ != types.FailureTypeConfigurationError || !strings.Contains(res.message, "Verify") || len(hs.cf.created()) != 0 {
		t.Fatalf("no verifier in this build: %+v", res)
	}
	hs = newHarness(t)
	hs.h.Deployer = deployedPaths("/a.css")
	hs.h.Verifier = verifierFunc(func(ctx context.Context, req VerifyRequest) (VerifyResult, error) {
		return VerifyResult{}, &ConfigError{Key: "Prefix", Message: "distribution E1 reads bucket site from another folder"}
	})
	res = hs.invoke("job-1", verifyParams, "")
	if res.success || res.typ != types.FailureTypeConfigurationError || !strings.Contains(res.message, "another folder") {
		t.Fatalf("origin path: %+v", res)
	}
}
