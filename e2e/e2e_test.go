package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

// The seed UserParameters end in success only after CloudFront reports Completed, through
// several continuation jobs, with the summary and output variables later actions read.
func TestSeedParamsSucceedOnlyAfterCompletion(t *testing.T) {
	const delay = 3 * time.Second
	s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: delay})
	dist := s.dist()
	chain := s.run(s.driver(fmt.Sprintf(`{"PipelineName": "site-pipeline", "DistributionId": %q}`, dist)))

	res := final(t, chain)
	if !chain.Succeeded() {
		t.Fatalf("final result %s, want success", res)
	}
	invs := s.cf.Invalidations(dist)
	if len(invs) != 1 || s.cf.Creations("") != 1 {
		t.Fatalf("%d invalidations created, want 1", s.cf.Creations(""))
	}
	inv := invs[0]
	if strings.Join(inv.Paths, ",") != "/*" {
		t.Fatalf("paths %v, want the seed's /*", inv.Paths)
	}
	if res.At.Before(inv.CompleteAt) {
		t.Fatalf("success reported at %s, before the invalidation completed at %s", res.At, inv.CompleteAt)
	}
	// 3 s of InProgress with a 0.5 s budget per invocation: several continuation jobs,
	// each a new job id whose event carried the previous token.
	if len(chain.Jobs) < 2 {
		t.Fatalf("%d jobs, want continuation jobs while InProgress", len(chain.Jobs))
	}
	for i, job := range chain.Jobs[:len(chain.Jobs)-1] {
		if !job.Result.Continues() || job.Result.OutputVariables != nil {
			t.Fatalf("job %d result %s, want a continuation without output variables", i, job.Result)
		}
		if chain.Jobs[i+1].ContinuationToken != job.Result.ContinuationToken {
			t.Fatalf("job %d was not started with job %d's token", i+1, i)
		}
	}
	ov := res.OutputVariables
	if ov["InvalidationIds"] != inv.ID || ov["DistributionIds"] != dist || ov["PathCount"] != "1" {
		t.Fatalf("output variables %v, want InvalidationIds=%s DistributionIds=%s PathCount=1", ov, inv.ID, dist)
	}
	if !strings.Contains(res.Summary, inv.ID) || !strings.Contains(res.Summary, dist) {
		t.Fatalf("summary %q does not name the distribution and invalidation", res.Summary)
	}
	// The JSON log lines carry job id, pipeline, distribution, invalidation id and status.
	var sawCreated, sawCompleted bool
	for _, l := range s.logLines() {
		if l["job_id"] == nil {
			continue
		}
		if l["invalidation_id"] == inv.ID && l["distribution"] == dist && l["pipeline"] == "site-pipeline" {
			sawCreated = sawCreated || l["msg"] == "invalidation created"
			sawCompleted = sawCompleted || strings.EqualFold(fmt.Sprint(l["status"]), "Completed")
		}
	}
	if !sawCreated || !sawCompleted {
		t.Fatalf("logs lack the created/completed lines with job, pipeline, distribution and invalidation (created=%v completed=%v)", sawCreated, sawCompleted)
	}
}

// A first event delivered three times (Lambda's at-least-once delivery) creates one
// invalidation; the late duplicates' results are refused and only logged.
func TestRedeliveredFirstEventCreatesOneInvalidation(t *testing.T) {
	s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: 300 * time.Millisecond})
	dist := s.dist()
	d := s.driver(fmt.Sprintf(`{"DistributionId": %q}`, dist))
	d.Redeliver = 2
	chain := s.run(d)
	if !chain.Succeeded() {
		t.Fatalf("final result %s, want success", final(t, chain))
	}
	if n := s.cf.Creations(""); n != 1 {
		t.Fatalf("%d invalidations created for one execution, want 1", n)
	}
	first := chain.Jobs[0]
	if len(first.Invocations) != 3 {
		t.Fatalf("first job delivered %d times, want 3", len(first.Invocations))
	}
	for _, inv := range first.Invocations {
		if inv.Err != nil {
			t.Fatalf("a delivery ended in a function error (Lambda would retry): %v", inv.Err)
		}
	}
	if got := s.cf.Invalidations(dist)[0].Requests; got < 2 {
		t.Fatalf("the duplicates did not reach CloudFront with the same caller reference (requests=%d)", got)
	}
	if rej := s.jobs.Rejected(first.ID); len(rej) == 0 || rej[0] != "InvalidJobStateException" {
		t.Fatalf("second results for the first job: %v, want InvalidJobStateException", rej)
	}
}

// The function dies (SIGKILL) after CloudFront created the invalidation but before the job
// result was reported; Lambda redelivers the event to a new execution environment, which
// finds the same invalidation by its caller reference and finishes the job.
func TestKilledAfterCreateThenRedelivered(t *testing.T) {
	var s *stack
	killed := false
	s = newStack(t, testkit.CloudFrontOptions{CompleteAfter: 300 * time.Millisecond, OnCreate: func(testkit.ProxyInvalidation) {
		if !killed {
			killed = true
			s.kill()
		}
	}})
	dist := s.dist()
	d := s.driver(fmt.Sprintf(`{"DistributionId": %q}`, dist))
	d.LambdaRetries = 2
	d.RetryDelay = 100 * time.Millisecond // Lambda waits about a minute
	chain := s.run(d)
	if !killed || s.starts != 2 {
		t.Fatalf("killed=%v, execution environments started=%d; want a kill and a fresh environment for the retry", killed, s.starts)
	}
	if !chain.Succeeded() {
		t.Fatalf("final result %s, want success", final(t, chain))
	}
	if n := s.cf.Creations(""); n != 1 {
		t.Fatalf("%d invalidations, want 1", n)
	}
	if first := chain.Jobs[0]; len(first.Invocations) < 2 || first.Invocations[0].Err == nil {
		t.Fatalf("first job invocations %+v, want a failed one then a retry", first.Invocations)
	}
	for _, j := range chain.Jobs {
		if len(s.jobs.Rejected(j.ID)) != 0 {
			t.Fatalf("job %s got a second result: %v", j.ID, s.jobs.Rejected(j.ID))
		}
	}
}

// Every bad input gets the right failure type, a message naming what to fix, and creates
// nothing.
func TestBadInputsFailWithoutCreating(t *testing.T) {
	s := newStack(t, testkit.CloudFrontOptions{})
	dist := s.dist()
	cases := []struct {
		name, params, typ, mention string
	}{
		{"unknown key", fmt.Sprintf(`{"DistributionId": %q, "Distribution": "x"}`, dist), "ConfigurationError", "Distribution"},
		{"wrong type", fmt.Sprintf(`{"DistributionId": %q, "Paths": "/index.html"}`, dist), "ConfigurationError", "Paths"},
		{"empty distribution list", `{"DistributionIds": []}`, "ConfigurationError", "DistributionId"},
		{"invalid path", fmt.Sprintf(`{"DistributionId": %q, "Paths": ["index.html"]}`, dist), "ConfigurationError", "Paths"},
		{"wildcard in the middle", fmt.Sprintf(`{"DistributionId": %q, "Paths": ["/a*/b"]}`, dist), "ConfigurationError", "Paths"},
		{"not JSON", `DistributionId=E2EXAMPLE12345`, "ConfigurationError", "JSON"},
		{"too long", fmt.Sprintf(`{"DistributionId": %q, "Paths": ["/%s"]}`, dist, strings.Repeat("a", 1000)), "ConfigurationError", "1000"},
		{"no such distribution", `{"DistributionId": "E2EXAMPLE12345"}`, "ConfigurationError", "E2EXAMPLE12345"},
		{"second distribution missing", fmt.Sprintf(`{"DistributionIds": [%q, "E2EXAMPLE12345"]}`, dist), "ConfigurationError", "E2EXAMPLE12345"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := s.cf.Creations(dist)
			chain := s.run(s.driver(tc.params))
			res := final(t, chain)
			if res.Success || res.FailureType != tc.typ {
				t.Fatalf("result %s, want failure %s", res, tc.typ)
			}
			if !strings.Contains(res.FailureMessage, tc.mention) {
				t.Fatalf("message %q does not mention %q", res.FailureMessage, tc.mention)
			}
			if len(chain.Jobs) != 1 || chain.Jobs[0].Invocations[0].Err != nil {
				t.Fatalf("want one job answered without a function error: %+v", chain.Jobs)
			}
			created := s.cf.Creations(dist) - before
			if tc.name == "second distribution missing" {
				// Parameters are fine; the first distribution may have been invalidated
				// before CloudFront rejected the second.
				if created > 1 {
					t.Fatalf("%d invalidations created", created)
				}
				return
			}
			if created != 0 {
				t.Fatalf("%d invalidations created for a bad input", created)
			}
		})
	}

	t.Run("access denied", func(t *testing.T) {
		s.cf.Inject(testkit.FaultAccessDenied, 1)
		res := final(t, s.run(s.driver(fmt.Sprintf(`{"DistributionId": %q}`, dist))))
		if res.Success || res.FailureType != "PermissionError" || !strings.Contains(res.FailureMessage, "cloudfront:CreateInvalidation") {
			t.Fatalf("result %s, want PermissionError naming cloudfront:CreateInvalidation", res)
		}
	})

	t.Run("continuation token from an older format", func(t *testing.T) {
		d := s.driver(fmt.Sprintf(`{"DistributionId": %q}`, dist))
		for _, tok := range []string{"v0.eyJvbGQiOnRydWV9", "garbage"} {
			job := d.NewJob(tok)
			if err := d.Invoke(context.Background(), testkit.Event(job)); err != nil {
				t.Fatalf("function error for token %q: %v", tok, err)
			}
			res, ok := s.jobs.Result(job.ID)
			if !ok || res.Success || res.FailureType != "JobFailed" || !strings.Contains(res.FailureMessage, "retry") {
				t.Fatalf("token %q: result %s, want JobFailed telling to retry the stage", tok, res)
			}
		}
	})

	t.Run("event without a job id", func(t *testing.T) {
		before := s.jobs.Calls("PutJobFailureResult") + s.jobs.Calls("PutJobSuccessResult")
		err := s.invoker()(context.Background(), []byte(`{"hello": "world"}`))
		if err == nil {
			t.Fatal("an event without a job id must end in a function error: there is no job to report to")
		}
		if after := s.jobs.Calls("PutJobFailureResult") + s.jobs.Calls("PutJobSuccessResult"); after != before {
			t.Fatal("a result was reported for an event without a job")
		}
	})

	t.Run("event with a job id but unreadable data", func(t *testing.T) {
		job := testkit.Job{ID: testkit.NewJobID(), AccountID: "123456789012", Data: []byte(`{"actionConfiguration": "nope"}`)}
		s.jobs.AddJob(job)
		if err := s.invoker()(context.Background(), testkit.Event(job)); err != nil {
			t.Fatalf("function error: %v", err)
		}
		res, ok := s.jobs.Result(job.ID)
		if !ok || res.Success {
			t.Fatalf("result %s, want a failure", res)
		}
	})
	if s.cf.Creations(dist) > 1 {
		t.Fatalf("%d invalidations created by bad inputs", s.cf.Creations(dist))
	}
}

// Throttling, 503s and dropped connections go through the SDK retryer; the in-progress
// limit keeps the creation pending until earlier invalidations complete. Both end in
// success with one invalidation.
func TestThrottlingAndInProgressLimitStillSucceed(t *testing.T) {
	t.Run("transient faults", func(t *testing.T) {
		s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: 500 * time.Millisecond})
		dist := s.dist()
		s.cf.Inject(testkit.FaultThrottling, 1)
		s.cf.Inject(testkit.FaultServiceUnavailable, 1)
		s.cf.Inject(testkit.FaultDropConnection, 1)
		s.cf.InjectOp(testkit.OpGetInvalidation, testkit.FaultThrottling, 2)
		s.cf.InjectOp(testkit.OpGetInvalidation, testkit.FaultServiceUnavailable, 1)
		chain := s.run(s.driver(fmt.Sprintf(`{"DistributionId": %q}`, dist)))
		if !chain.Succeeded() {
			t.Fatalf("final result %s, want success", final(t, chain))
		}
		if s.cf.FaultsServed(0) != 6 || s.cf.Creations("") != 1 {
			t.Fatalf("faults served %d (want 6), creations %d (want 1)", s.cf.FaultsServed(0), s.cf.Creations(""))
		}
	})

	t.Run("lost CreateInvalidation answer", func(t *testing.T) {
		s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: 300 * time.Millisecond})
		dist := s.dist()
		s.cf.Inject(testkit.FaultDropResponse, 1)
		chain := s.run(s.driver(fmt.Sprintf(`{"DistributionId": %q}`, dist)))
		if !chain.Succeeded() {
			t.Fatalf("final result %s, want success", final(t, chain))
		}
		if n := s.cf.Creations(""); n != 1 {
			t.Fatalf("%d invalidations after a lost answer, want 1 (the retry must reuse the caller reference)", n)
		}
	})

	t.Run("injected TooManyInvalidationsInProgress burst", func(t *testing.T) {
		s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: 300 * time.Millisecond})
		dist := s.dist()
		s.cf.Inject(testkit.FaultTooManyInvalidations, 8)
		chain := s.run(s.driver(fmt.Sprintf(`{"DistributionId": %q}`, dist)))
		if !chain.Succeeded() {
			t.Fatalf("final result %s, want success", final(t, chain))
		}
		if s.cf.FaultsServed(testkit.FaultTooManyInvalidations) != 8 || s.cf.Creations("") != 1 {
			t.Fatalf("faults %d, creations %d", s.cf.FaultsServed(0), s.cf.Creations(""))
		}
	})

	t.Run("real in-progress wildcard limit", func(t *testing.T) {
		s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: 3 * time.Second})
		dist := s.dist()
		// Fill the distribution's 15 in-progress wildcard slots with another chain's
		// invalidations (Wait false: it succeeds as soon as they are created).
		var paths []string
		for i := 0; i < testkit.DefaultMaxInProgressWildcards; i++ {
			paths = append(paths, fmt.Sprintf(`"/section%d/*"`, i))
		}
		filler := s.run(s.driver(fmt.Sprintf(`{"DistributionId": %q, "Paths": [%s], "Wait": false}`, dist, strings.Join(paths, ","))))
		if !filler.Succeeded() {
			t.Fatalf("filler: %s", final(t, filler))
		}
		fillerDone := s.cf.Invalidations(dist)[0].CompleteAt
		chain := s.run(s.driver(fmt.Sprintf(`{"DistributionId": %q}`, dist)))
		if !chain.Succeeded() {
			t.Fatalf("final result %s, want success", final(t, chain))
		}
		invs := s.cf.Invalidations(dist)
		if len(invs) != 2 {
			t.Fatalf("%d invalidations, want 2", len(invs))
		}
		if invs[1].Created.Before(fillerDone) {
			t.Fatalf("the /* invalidation was created at %s, while 15 wildcards were in progress until %s", invs[1].Created, fillerDone)
		}
		if s.cf.Requests(testkit.OpCreateInvalidation) < 3 {
			t.Fatalf("only %d create requests: the limit was never hit", s.cf.Requests(testkit.OpCreateInvalidation))
		}
	})
}

// Several distributions (DistributionId plus DistributionIds, with a duplicate) get one
// invalidation each, and the outputs list all of them.
func TestSeveralDistributions(t *testing.T) {
	s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: 700 * time.Millisecond})
	d1, d2, d3 := s.dist(), s.dist(), s.dist()
	// The second distribution is slow to start: its first creation hits the limit.
	s.cf.Inject(testkit.FaultTooManyInvalidations, 1)
	params := fmt.Sprintf(`{"PipelineName": "multi", "DistributionId": %q, "DistributionIds": [%q, %q, %q], "Paths": ["/index.html", "/assets/*", "/café/menu.html"]}`, d2, d1, d2, d3)
	chain := s.run(s.driver(params))
	res := final(t, chain)
	if !chain.Succeeded() {
		t.Fatalf("final result %s, want success", res)
	}
	var ids []string
	for _, d := range []string{d2, d1, d3} {
		invs := s.cf.Invalidations(d)
		if len(invs) != 1 {
			t.Fatalf("distribution %s has %d invalidations, want 1", d, len(invs))
		}
		if got := strings.Join(invs[0].Paths, " "); got != "/index.html /assets/* /caf%C3%A9/menu.html" {
			t.Fatalf("paths sent to CloudFront: %s", got)
		}
		if res.At.Before(invs[0].CompleteAt) {
			t.Fatalf("success before %s completed", d)
		}
		ids = append(ids, invs[0].ID)
	}
	if got, want := res.OutputVariables["DistributionIds"], strings.Join([]string{d2, d1, d3}, ","); got != want {
		t.Fatalf("DistributionIds = %q, want %q", got, want)
	}
	if got := res.OutputVariables["InvalidationIds"]; got != strings.Join(ids, ",") {
		t.Fatalf("InvalidationIds = %q, want %q", got, strings.Join(ids, ","))
	}
	if res.OutputVariables["PathCount"] != "3" {
		t.Fatalf("PathCount = %q", res.OutputVariables["PathCount"])
	}
}

// Wait false succeeds as soon as the invalidation exists, without waiting for it.
func TestNoWait(t *testing.T) {
	s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: time.Hour})
	dist := s.dist()
	chain := s.run(s.driver(fmt.Sprintf(`{"DistributionId": %q, "Wait": false}`, dist)))
	if !chain.Succeeded() || len(chain.Jobs) != 1 {
		t.Fatalf("%d jobs, final %s; want one successful job", len(chain.Jobs), final(t, chain))
	}
	if inv := s.cf.Invalidations(dist); len(inv) != 1 || inv[0].Completed(time.Now()) {
		t.Fatal("want one invalidation, still in progress")
	}
}
