package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/siteconfig"
	"github.com/edgeflush/edgeflush/internal/sitesync"
)

// StatusAPI is the CloudFront call Check makes.
type StatusAPI interface {
	GetInvalidation(ctx context.Context, in *cloudfront.GetInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error)
	CreateInvalidation(ctx context.Context, in *cloudfront.CreateInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error)
}

// Check asks CloudFront about every invalidation the ledger records and does not know
// completed yet. It returns the completed ones as "distribution/id" keys (MarkCompleted).
// An invalidation CloudFront no longer knows (its distribution was deleted) counts as
// completed: nothing is cached there any more. Other errors leave the invalidation
// unconfirmed, which only makes this deploy cover its keys again; they are returned
// joined for the log.
func Check(ctx context.Context, api StatusAPI, l *Ledger) (map[string]bool, error) {
	done := map[string]bool{}
	var errs []error
	for _, g := range l.Groups {
		for _, t := range g.Targets {
			k := t.Distribution + "/" + t.Invalidation
			if t.Invalidation == "" || t.Completed || done[k] {
				continue
			}
			inv, err := invalidation.Get(ctx, api, t.Distribution, t.Invalidation)
			switch {
			case err == nil:
				done[k] = inv.Completed()
			case isCode(err, "NoSuchInvalidation", "NoSuchDistribution"),
				isTenant(t.Distribution) && isCode(err, "EntityNotFound"):
				// A tenant's operations answer EntityNotFound for a deleted tenant.
				done[k] = true
			default:
				errs = append(errs, err)
			}
		}
	}
	return done, errors.Join(errs...)
}

// isTenant reports whether target is a distribution tenant (invalidation.TenantTarget).
func isTenant(target string) bool {
	_, ok := invalidation.TenantID(target)
	return ok
}

// Deploy is one deploy's use of the ledger: Prepare before the writes, Begin before the
// first write, Invalidated after each invalidation is created, and Complete once every
// invalidation completed (when the deploy waits for them).
type Deploy struct {
	Store Store
	// CloudFront confirms the invalidations recorded by earlier deploys; nil when this
	// deploy has no distribution (nothing is checked then).
	CloudFront StatusAPI
	// RunID names this deploy's group: the first job id in the action, a fresh id in
	// the CLI.
	RunID string
	// Targets are the distributions invalidated, or tenant targets
	// (invalidation.TenantTarget): CloudFront must then route their GetInvalidation to
	// the tenant operation (invalidation.Client).
	Targets []string
	// KeepRemoved is the grace period of removed non-page objects.
	KeepRemoved time.Duration
	// Wait is set when this deploy waits for its invalidations: it then invalidates the
	// removed pages with the rest and deletes them itself once the invalidation
	// completed (else the next deploy deletes and invalidates them).
	Wait bool
	Now  func() time.Time
	Log  *slog.Logger

	ledger *Ledger
	done   map[string]bool
	sel    Selection
	own    *Group
	now    time.Time
}

func (d *Deploy) clock() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

func (d *Deploy) log() *slog.Logger {
	if d.Log != nil {
		return d.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Prepare reads the ledger, confirms the invalidations it records, and applies it to
// plan: the pending keys join the plan's changed keys, and the removed objects that
// must wait are moved from its deletes to its waiting keys. The delete guard then counts
// what this deploy deletes, kept objects apart.
func (d *Deploy) Prepare(ctx context.Context, plan *sitesync.Plan, prefix string) error {
	l, _, err := d.Store.Load(ctx)
	if err != nil {
		return err
	}
	d.now = d.clock()
	if d.CloudFront != nil {
		done, err := Check(ctx, d.CloudFront, l)
		if err != nil {
			d.log().Warn("some earlier invalidations could not be confirmed; their keys are covered again", "err", err)
		}
		d.done = done
		MarkCompleted(done)(l)
	}
	DropDone(d.now)(l)
	d.ledger = l
	if g, ok := l.Group(d.RunID); ok && len(g.Paths) > 0 {
		d.own = &g
	}
	d.sel = l.Select(Input{
		RunID:       d.RunID,
		Missing:     plan.Deletes,
		Uploads:     uploadKeys(plan),
		KeepRemoved: d.KeepRemoved,
		IsPage:      func(key string) bool { return siteconfig.IsPage(key[len(prefix):]) },
		Now:         d.now,
		Targets:     d.Targets,
	})
	if d.own != nil {
		// A redelivered event: the first delivery's group stays as it is; only what it
		// covers may be deleted now.
		d.sel.Pending, d.sel.Absorbed = nil, nil
		var now []string
		for _, k := range d.sel.DeleteNow {
			if _, found := slices.BinarySearch(d.own.Keys, k); found {
				now = append(now, k)
			} else {
				d.sel.Waiting = append(d.sel.Waiting, Waiting{Key: k})
			}
		}
		d.sel.DeleteNow = now
	}
	waiting := make([]string, len(d.sel.Waiting))
	for i, w := range d.sel.Waiting {
		waiting[i] = w.Key
	}
	plan.Keep(waiting)
	plan.Pending = d.sel.Pending
	if d.own == nil {
		// The guard counts the removals that go once this deploy's invalidation
		// completed (pages, objects past their grace period), whether this deploy or
		// the next one deletes them: a wrong artifact must fail before any write.
		later := d.sel.CoveredLater(d.now)
		plan.LaterDeletes = len(later)
		if d.Wait {
			plan.Pending = Union(plan.Pending, later)
		}
	}
	return nil
}

func uploadKeys(plan *sitesync.Plan) []string {
	keys := make([]string, len(plan.Uploads))
	for i, u := range plan.Uploads {
		keys[i] = u.Key
	}
	slices.Sort(keys)
	return keys
}

// Selection returns what Prepare decided.
func (d *Deploy) Selection() Selection { return d.sel }

// Redelivered returns the group an earlier delivery of the same run recorded with its
// planned paths: a redelivered event must send the very same batch.
func (d *Deploy) Redelivered() (Group, bool) {
	if d.own == nil {
		return Group{}, false
	}
	return *d.own, true
}

// Begin records, before the first write, the keys this deploy changes (the plan's
// Changed: uploads, deletes and pending keys) with the paths planned for them, and the
// removed objects it keeps. For a redelivered event it records only keys the first
// delivery did not (as a group of their own, left for the next deploy).
//
// pathsFor, when not nil, gives each target its own paths (targets that map the site
// differently, package siteplan); nil means every target is sent paths. A target with
// no path to invalidate gets no invalidation, so it is recorded as settled: nothing it
// serves changed.
func (d *Deploy) Begin(ctx context.Context, changed, paths []string, pathsFor func(target string) []string) error {
	ops := []Op{MarkCompleted(d.done), DropDone(d.now)}
	if d.own != nil {
		var extra []string
		for _, k := range changed {
			if _, found := slices.BinarySearch(d.own.Keys, k); !found {
				extra = append(extra, k)
			}
		}
		if len(extra) > 0 {
			ops = append(ops, AddGroup(Group{ID: d.RunID + "-extra", Created: d.now, Keys: extra}, nil))
		}
		ops = append(ops, SetRemovals(d.sel.removals, d.sel.forget))
	} else {
		g := Group{ID: d.RunID, Created: d.now, Keys: changed, Paths: paths}
		for _, t := range d.Targets {
			tp := paths
			if pathsFor != nil {
				tp = pathsFor(t)
			}
			g.Targets = append(g.Targets, Target{Distribution: t, Completed: len(tp) == 0})
		}
		ops = append(ops, d.sel.Begin(g)...)
	}
	l, err := d.Store.Update(ctx, ops...)
	if err != nil {
		return fmt.Errorf("record the deploy in the ledger before writing: %w", err)
	}
	d.ledger = l
	return nil
}

// Invalidated records the invalidation created on dist for this deploy.
func (d *Deploy) Invalidated(ctx context.Context, dist, id string, completed bool) error {
	return Invalidated(ctx, d.Store, d.RunID, dist, id, completed)
}

// Invalidated records the invalidation created on dist for the deploy runID.
func Invalidated(ctx context.Context, s Store, runID, dist, id string, completed bool) error {
	if _, err := s.Update(ctx, SetInvalidation(runID, dist, id, completed)); err != nil {
		return fmt.Errorf("record invalidation %s on %s in the ledger: %w", id, dist, err)
	}
	return nil
}

// Complete records that the invalidations of deploy runID completed on every target
// (ids: distribution to invalidation id), deletes the removed objects that waited for
// them, are due and were covered by them (pages; others once their grace period keep
// is over), and removes the settled groups. It returns the keys deleted.
//
// A request reaching the origin between the invalidation's completion and the delete
// can cache the old object again for its TTL: pages are revalidated at every request
// by default (max-age=0), and the delete follows within seconds.
func Complete(ctx context.Context, s Store, client sitesync.S3API, runID string, ids map[string]string, keep time.Duration, now time.Time) ([]string, error) {
	var ops []Op
	for dist, id := range ids {
		ops = append(ops, SetInvalidation(runID, dist, id, true))
	}
	l, err := s.Update(ctx, ops...)
	if err != nil {
		return nil, fmt.Errorf("record the completed invalidations in the ledger: %w", err)
	}
	var due []string
	if l.settled(runID) {
		due = l.DueAfter(runID, now, keep)
	}
	if len(due) > 0 {
		if err := sitesync.Delete(ctx, client, s.Bucket, due); err != nil {
			return nil, fmt.Errorf("delete %d removed objects after the invalidation completed: %w", len(due), err)
		}
	}
	if _, err := s.Update(ctx, SetRemovals(nil, due), DropDone(now)); err != nil {
		return due, fmt.Errorf("record %d deleted objects in the ledger: %w", len(due), err)
	}
	return due, nil
}

// Complete is the package function Complete for this deploy.
func (d *Deploy) Complete(ctx context.Context, client sitesync.S3API, ids map[string]string) ([]string, error) {
	return Complete(ctx, d.Store, client, d.RunID, ids, d.KeepRemoved, d.clock())
}
