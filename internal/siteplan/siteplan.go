// Package siteplan plans a deploy's invalidation per target from each target's own
// configuration: the keys a deploy changed are mapped to the URLs each distribution (or
// distribution tenant) serves them at (origin.Distribution.Map: origin path stripped,
// keys routed to another origin left out), targets that map the site alike share one
// plan, and the planner stays pure (URL keys in, paths out). Check runs before any
// write, so that a bucket the distribution does not read fails the deploy untouched.
package siteplan

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/origin"
	"github.com/edgeflush/edgeflush/internal/planner"
)

// Check reads every target's configuration (once per reader) and fails with the
// typed errors of origin.Distribution.Map (*origin.NotAnOriginError,
// *origin.OriginPathError) when a target does not serve the site at all.
func Check(ctx context.Context, r *origin.Reader, targets []string, o origin.MapOptions) error {
	for _, t := range targets {
		d, err := r.Target(ctx, t)
		if err != nil {
			return err
		}
		if _, err := d.Map(o, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// PlanFunc plans in for targets that share a mapping, within what CloudFront has free
// on them, with extra (prepared) paths going in the same invalidation; the CLI and the
// action differ in what they do when the in-progress invalidations leave no room.
type PlanFunc func(ctx context.Context, targets []string, in planner.Input, extra []string) (planner.Result, error)

// Group is the plan of the targets that map the site alike.
type Group struct {
	Targets []string
	// Result.Paths include the extra paths (a changed default root object's "/").
	Result planner.Result
}

// Result is the plan of every target.
type Result struct {
	Groups []Group
	// NotServed are the changed keys some target does not serve from the bucket, with
	// the reason (one per key and target): nothing is invalidated for them there.
	NotServed []NotServed
}

// NotServed is one changed key a target does not serve.
type NotServed struct {
	Target string
	Err    *origin.NotServedError
}

func (n NotServed) String() string {
	return fmt.Sprintf("%s: %v", invalidation.Label(n.Target), n.Err)
}

// Paths is the union of every group's paths, in order of first appearance.
func (r Result) Paths() []string {
	var out []string
	seen := map[string]bool{}
	for _, g := range r.Groups {
		for _, p := range g.Result.Paths {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// PathsFor returns the paths planned for target (nil when it has none).
func (r Result) PathsFor(target string) []string {
	for _, g := range r.Groups {
		if slices.Contains(g.Targets, target) {
			return g.Result.Paths
		}
	}
	return nil
}

// Uniform reports whether every target got the same paths.
func (r Result) Uniform() bool { return len(r.Groups) <= 1 }

// Collateral is the largest collateral of any group (each target's own count).
func (r Result) Collateral() int {
	c := 0
	for _, g := range r.Groups {
		c = max(c, g.Result.Collateral)
	}
	return c
}

// Plan maps in.All and in.Changed (bucket keys) for every target and plans each group
// of targets with the same URL keys through plan.
func Plan(ctx context.Context, r *origin.Reader, targets []string, o origin.MapOptions, in planner.Input, plan PlanFunc) (Result, error) {
	var res Result
	type group struct {
		targets []string
		km      *origin.KeyMap
	}
	var groups []*group
	bySig := map[string]*group{}
	for _, t := range targets {
		d, err := r.Target(ctx, t)
		if err != nil {
			return res, err
		}
		km, err := d.Map(o, in.All, in.Changed)
		if err != nil {
			return res, err
		}
		for _, ns := range km.NotServed {
			res.NotServed = append(res.NotServed, NotServed{Target: t, Err: ns})
		}
		sig := km.Signature()
		if g, ok := bySig[sig]; ok {
			g.targets = append(g.targets, t)
			continue
		}
		g := &group{targets: []string{t}, km: km}
		bySig[sig] = g
		groups = append(groups, g)
	}
	for _, g := range groups {
		if len(g.km.Changed) == 0 {
			// Nothing this target serves changed.
			res.Groups = append(res.Groups, Group{Targets: g.targets})
			continue
		}
		extra, err := invalidation.PreparePaths(g.km.Extra)
		if err != nil {
			return res, fmt.Errorf("plan for %s: %w", strings.Join(g.targets, ", "), err)
		}
		gin := in
		gin.All, gin.Changed = g.km.All, g.km.Changed
		pr, err := plan(ctx, g.targets, gin, extra)
		if err != nil {
			return res, err
		}
		for _, p := range extra {
			if !slices.Contains(pr.Paths, p) {
				pr.Paths = append(pr.Paths, p)
			}
		}
		res.Groups = append(res.Groups, Group{Targets: g.targets, Result: pr})
	}
	return res, nil
}
