// Package ledger keeps a site's pending ledger: one small JSON object in the site's
// reserved folder (<prefix>.edgeflush/ledger.json) shared by every deploy of the site,
// from the CLI or from the Lambda action, whatever machine or job id runs it.
//
// It lists
//   - groups: the keys each deploy changed (uploaded or deleted) with the invalidation
//     created for them on each target distribution; a group leaves the ledger only once
//     its invalidation is Completed on every target, so a deploy that failed after its
//     uploads, was killed, or did not wait leaves its keys for the next deploy, which
//     covers them in its own plan;
//   - removals: objects missing from the site but still in the bucket, waiting until the
//     invalidation that covers the pages naming them has completed (and, for non-page
//     objects, a grace period) before a deploy deletes them, so that pages still open in
//     browsers or cached at the edge never load a missing file.
//
// The ledger is written with S3 conditional writes (If-Match on the ETag read, or
// If-None-Match: * when creating it) and every change is an operation re-applied to the
// fresh ledger after a 412, so two deploys of the same site never lose each other's
// entries.
package ledger

import (
	"slices"
	"time"
)

// Version is the ledger format written by this build.
const Version = 1

// Ledger is the content of the ledger object.
type Ledger struct {
	Version int       `json:"version"`
	Groups  []Group   `json:"groups,omitempty"`
	Removed []Removal `json:"removed,omitempty"`
}

// Group is what one deploy changed and the invalidations created for it.
type Group struct {
	// ID names the deploy: the first job id of a pipeline execution, or a CLI run id.
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Keys are the full S3 keys changed (uploaded or deleted), sorted.
	Keys []string `json:"keys,omitempty"`
	// Paths are the invalidation paths planned for Keys (the union over the targets
	// when they serve the site at different URLs). The action's first delivery stores
	// them so that a redelivered event sends the very same batch under the same caller
	// reference.
	Paths []string `json:"paths,omitempty"`
	// Targets are the distributions the deploy invalidates, one each.
	Targets []Target `json:"targets,omitempty"`
}

// Target is one distribution's invalidation of a group.
type Target struct {
	// Distribution is the distribution ID, or a tenant target
	// ("distribution-tenant/ID", invalidation.TenantTarget).
	Distribution string `json:"distribution"`
	// Invalidation is the id once created.
	Invalidation string `json:"invalidation,omitempty"`
	// Completed is set once the invalidation completed, or at once for a target that
	// serves none of the group's keys (it gets no invalidation).
	Completed bool `json:"completed,omitempty"`
}

// Settled reports whether the group's invalidation has completed on every target (true
// for a group without targets: nothing caches what it changed).
func (g Group) Settled() bool {
	for _, t := range g.Targets {
		if !t.Completed {
			return false
		}
	}
	return true
}

// Done reports whether the group can leave the ledger: settled on at least one target.
// A group without targets (a deploy that invalidated nothing) stays, so that the next
// deploy that invalidates covers its keys.
func (g Group) Done() bool { return len(g.Targets) > 0 && g.Settled() }

// Removal is an object missing from the site that is still in the bucket.
type Removal struct {
	Key string `json:"key"`
	// Page is set for pages (HTML and the fixed-name files): deleted as soon as the
	// invalidation After completed, whatever the grace period.
	Page bool `json:"page,omitempty"`
	// Since is when a deploy first found it missing.
	Since time.Time `json:"since"`
	// After is the group whose invalidation must complete first ("" for none).
	After string `json:"after,omitempty"`
}

// Group returns the group with id, if any.
func (l *Ledger) Group(id string) (Group, bool) {
	for _, g := range l.Groups {
		if g.ID == id {
			return g, true
		}
	}
	return Group{}, false
}

// Pending returns the keys of every group not done, sorted, and the ids of those groups.
func (l *Ledger) Pending() (keys []string, groups []string) {
	for _, g := range l.Groups {
		if g.Done() {
			continue
		}
		keys = append(keys, g.Keys...)
		groups = append(groups, g.ID)
	}
	slices.Sort(keys)
	return slices.Compact(keys), groups
}

// settled reports whether group id no longer holds anything back: absent (it left the
// ledger once done) or settled.
func (l *Ledger) settled(id string) bool {
	if id == "" {
		return true
	}
	g, ok := l.Group(id)
	return !ok || g.Settled()
}

// due reports whether removal r may be deleted at now with the grace period keep.
func (l *Ledger) due(r Removal, now time.Time, keep time.Duration) bool {
	if !l.settled(r.After) {
		return false
	}
	return r.Page || !now.Before(r.Since.Add(keep))
}

// Until returns when a waiting removal becomes due: the zero time when it waits for an
// invalidation (pages; others whose grace ends before it completes, unknown), else the
// end of its grace period.
func (l *Ledger) Until(r Removal, keep time.Duration) time.Time {
	if r.Page {
		return time.Time{}
	}
	return r.Since.Add(keep)
}

// An Op is one change to the ledger. Ops are applied to the ledger as last read and
// re-applied to a fresh read after a conflicting write, so each must merge by key and
// id rather than overwrite.
type Op func(*Ledger)

// AddGroup adds g (replacing a group with the same id) and drops the groups absorbed
// (their keys are in g). Removals that waited for an absorbed group wait for g.
func AddGroup(g Group, absorbed []string) Op {
	return func(l *Ledger) {
		l.Groups = slices.DeleteFunc(l.Groups, func(x Group) bool { return x.ID == g.ID || slices.Contains(absorbed, x.ID) })
		l.Groups = append(l.Groups, g)
		for i := range l.Removed {
			if slices.Contains(absorbed, l.Removed[i].After) {
				l.Removed[i].After = g.ID
			}
		}
	}
}

// SetInvalidation records the invalidation id created for group on dist.
func SetInvalidation(group, dist, id string, completed bool) Op {
	return func(l *Ledger) {
		for gi := range l.Groups {
			g := &l.Groups[gi]
			if g.ID != group {
				continue
			}
			for ti := range g.Targets {
				if t := &g.Targets[ti]; t.Distribution == dist {
					t.Invalidation, t.Completed = id, t.Completed || completed
				}
			}
		}
	}
}

// MarkCompleted records invalidations found Completed ("dist/id" keys, see Check).
func MarkCompleted(done map[string]bool) Op {
	return func(l *Ledger) {
		for gi := range l.Groups {
			for ti := range l.Groups[gi].Targets {
				t := &l.Groups[gi].Targets[ti]
				if t.Invalidation != "" && done[t.Distribution+"/"+t.Invalidation] {
					t.Completed = true
				}
			}
		}
	}
}

// BatchRetention is how long a done group keeps its planned paths (its keys are
// dropped at once): Lambda redelivers an event within minutes, and a redelivered first
// event must find the batch it sent.
const BatchRetention = 24 * time.Hour

// DropDone forgets the keys of the groups done, and the groups themselves once older
// than BatchRetention. Removals that waited for them keep their After (a done or
// absent group counts as settled).
func DropDone(now time.Time) Op {
	return func(l *Ledger) {
		l.Groups = slices.DeleteFunc(l.Groups, func(g Group) bool { return g.Done() && now.Sub(g.Created) > BatchRetention })
		for i := range l.Groups {
			if l.Groups[i].Done() {
				l.Groups[i].Keys = nil
			}
		}
	}
}

// SetRemovals records the removals in rs (by key: an entry for the same key is
// replaced) and forgets the keys in forget (deleted, or back in the site).
func SetRemovals(rs []Removal, forget []string) Op {
	return func(l *Ledger) {
		drop := make(map[string]bool, len(rs)+len(forget))
		for _, r := range rs {
			drop[r.Key] = true
		}
		for _, k := range forget {
			drop[k] = true
		}
		l.Removed = slices.DeleteFunc(l.Removed, func(r Removal) bool { return drop[r.Key] })
		l.Removed = append(l.Removed, rs...)
		slices.SortFunc(l.Removed, func(a, b Removal) int {
			switch {
			case a.Key < b.Key:
				return -1
			case a.Key > b.Key:
				return 1
			}
			return 0
		})
	}
}

// removal returns the removal recorded for key.
func (l *Ledger) removal(key string) (Removal, bool) {
	i, ok := slices.BinarySearchFunc(l.Removed, key, func(r Removal, k string) int {
		switch {
		case r.Key < k:
			return -1
		case r.Key > k:
			return 1
		}
		return 0
	})
	if ok {
		return l.Removed[i], true
	}
	// Not sorted (written by hand or by an older build): search.
	for _, r := range l.Removed {
		if r.Key == key {
			return r, true
		}
	}
	return Removal{}, false
}
