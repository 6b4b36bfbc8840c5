package ledger

import (
	"slices"
	"time"
)

// Input describes a deploy to Select.
type Input struct {
	// RunID names this deploy's group (the first job id, or a CLI run id).
	RunID string
	// Missing are the keys under the prefix that the site no longer has (what a plain
	// sync would delete), sorted.
	Missing []string
	// Uploads are the keys this deploy writes.
	Uploads []string
	// KeepRemoved is the grace period of removed non-page objects.
	KeepRemoved time.Duration
	// IsPage tells pages (deleted once the invalidation completed, no grace) from other
	// objects; nil means no key is a page.
	IsPage func(key string) bool
	Now    time.Time
	// Targets are the distributions this deploy invalidates. Without any, nothing
	// caches what it changes: its removals wait for no invalidation.
	Targets []string
}

// Waiting is a removed object kept in the bucket by this deploy.
type Waiting struct {
	Key  string
	Page bool
	// Since is when it was first found missing.
	Since time.Time
	// Until is the end of its grace period (zero for a page: no grace).
	Until time.Time
	// ForInvalidation is set while an invalidation must complete first.
	ForInvalidation bool
	// AfterThisRun is set when that invalidation is this deploy's: with a wait, the
	// deploy itself deletes the object once it completed and the grace period is over.
	AfterThisRun bool
}

// Selection is what a deploy does about the ledger: the pending keys it covers again,
// what it deletes now and what it keeps.
type Selection struct {
	// Pending are keys of earlier deploys not yet covered by a completed invalidation;
	// Absorbed are their groups, replaced by this deploy's.
	Pending  []string
	Absorbed []string
	// DeleteNow are removed keys whose wait is over: deleted by this deploy, before its
	// invalidation, which covers them.
	DeleteNow []string
	// Waiting are removed keys kept for now, sorted.
	Waiting []Waiting

	removals []Removal
	forget   []string
}

// Select decides, from the ledger as read, what a deploy covers, deletes and keeps.
func (l *Ledger) Select(in Input) Selection {
	var s Selection
	s.Pending, s.Absorbed = l.Pending()
	hasGroup := len(in.Uploads) > 0 || len(s.Pending) > 0
	isPage := in.IsPage
	if isPage == nil {
		isPage = func(string) bool { return false }
	}
	settled := func(id string) bool {
		if id == in.RunID {
			// This deploy's invalidation is not even created yet (none without targets).
			return len(in.Targets) == 0
		}
		return l.settled(id)
	}
	for _, key := range in.Missing {
		r, known := l.removal(key)
		switch {
		case !known:
			r = Removal{Key: key, Page: isPage(key), Since: in.Now}
			if hasGroup {
				r.After = in.RunID
			}
		case slices.Contains(s.Absorbed, r.After):
			r.After = in.RunID
		}
		graceOver := !in.Now.Before(r.Since.Add(in.KeepRemoved))
		if settled(r.After) && (r.Page || graceOver) {
			s.DeleteNow = append(s.DeleteNow, key)
			s.forget = append(s.forget, key)
			continue
		}
		w := Waiting{Key: key, Page: r.Page, Since: r.Since, ForInvalidation: !settled(r.After), AfterThisRun: r.After == in.RunID}
		if !r.Page {
			w.Until = r.Since.Add(in.KeepRemoved)
		}
		s.Waiting = append(s.Waiting, w)
		s.removals = append(s.removals, r)
	}
	for _, r := range l.Removed {
		if _, found := slices.BinarySearch(in.Missing, r.Key); !found {
			s.forget = append(s.forget, r.Key) // back in the site, or gone from the bucket
		}
	}
	return s
}

// LaterDeletes counts the waiting objects this deploy itself deletes once its own
// invalidation completed (when it waits for it): pages, and the others whose grace
// period is over by now.
func (s Selection) LaterDeletes(now time.Time) int { return len(s.CoveredLater(now)) }

// Begin returns the ops that record a deploy before its first write: its group (keys
// changed, paths planned, targets) replacing the groups it absorbs, and the removals.
func (s Selection) Begin(g Group) []Op {
	ops := []Op{SetRemovals(s.removals, s.forget)}
	if len(g.Keys) > 0 || len(s.Absorbed) > 0 {
		ops = append(ops, AddGroup(g, s.Absorbed))
	}
	return ops
}

// DueAfter returns the removals waiting for group id that are due at now once it has
// settled (pages, and the others whose grace period is over) and that the group's
// invalidation covered (its keys): only those may go without another invalidation.
func (l *Ledger) DueAfter(id string, now time.Time, keep time.Duration) []string {
	g, ok := l.Group(id)
	if !ok {
		return nil
	}
	var keys []string
	for _, r := range l.Removed {
		if r.After != id || !(r.Page || !now.Before(r.Since.Add(keep))) {
			continue
		}
		if _, covered := slices.BinarySearch(g.Keys, r.Key); covered {
			keys = append(keys, r.Key)
		}
	}
	return keys
}

// CoveredLater returns the waiting keys this deploy deletes itself once its
// invalidation completed (LaterDeletes): a deploy that waits adds them to the keys it
// invalidates, so that the invalidation covering the pages that named them also drops
// them from the caches, and the delete right after it needs no second one.
func (s Selection) CoveredLater(now time.Time) []string {
	var keys []string
	for _, w := range s.Waiting {
		if w.AfterThisRun && (w.Page || !now.Before(w.Until)) {
			keys = append(keys, w.Key)
		}
	}
	return keys
}

// Union merges sorted or unsorted key lists into one sorted list without duplicates.
func Union(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	slices.Sort(out)
	return slices.Clip(slices.Compact(out))
}

// Forgets reports whether the ledger lists removals this deploy drops (deleted now, or
// back in the site), which Begin records.
func (s Selection) Forgets() bool { return len(s.forget) > 0 }
