package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// TestWaitReturnsPromptly: with the default schedule (no --poll-interval) `invalidate
// --wait` polls often while the invalidation is young, and returns on the first poll
// after completion, at most one scheduled pause after it. Judged from the realism
// proxy's record of the GetInvalidation calls, not from a wall-clock bound.
func TestWaitReturnsPromptly(t *testing.T) {
	const completeAfter = 5 * time.Second
	cf := testkit.StartCloudFront(t, moto(t).URL, testkit.CloudFrontOptions{CompleteAfter: completeAfter})
	useMoto(t, cf.URL)
	t.Setenv("EDGEFLUSH_POLL_INTERVAL", "") // the schedule, whatever the caller's environment
	d := testkit.CreateDistribution(t, cf.URL)
	r := edgeflush(t, "", "invalidate", "--distribution", d, "--path", "/index.html", "--wait")
	if r.code != 0 || !strings.Contains(r.stdout, "Completed") {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	invs := cf.Invalidations(d)
	if len(invs) != 1 {
		t.Fatalf("%d invalidations", len(invs))
	}
	inv := invs[0]
	var before, after []time.Time
	for _, p := range inv.Polls {
		if p.Before(inv.CompleteAt) {
			before = append(before, p)
		} else {
			after = append(after, p)
		}
	}
	// The old fixed 20 s interval polled once in those 5 s; the schedule every 2 s.
	if min := int(completeAfter / invalidation.PollDelay(0)); len(before) < min {
		t.Errorf("%d polls while InProgress, want at least %d (every %s)", len(before), min, invalidation.PollDelay(0))
	}
	// It returned on the first poll that could see Completed...
	if len(after) != 1 {
		t.Fatalf("%d polls after completion, want exactly 1 (polls %v, completed %v)", len(after), inv.Polls, inv.CompleteAt)
	}
	// ...which came one scheduled pause after the last InProgress answer (plus the
	// time of one GetInvalidation on this busy machine).
	gap := after[0].Sub(before[len(before)-1])
	t.Logf("%d polls while InProgress, then Completed seen %s after completion (%s after the previous poll)",
		len(before), after[0].Sub(inv.CompleteAt).Round(time.Millisecond), gap.Round(time.Millisecond))
	if limit := invalidation.PollDelay(completeAfter) + 2*time.Second; gap > limit {
		t.Errorf("the poll that saw Completed came %s after the previous one; the schedule pauses %s", gap, invalidation.PollDelay(completeAfter))
	}
}
