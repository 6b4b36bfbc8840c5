// Package budget plans an invalidation within what CloudFront has free now: the
// planner's budget (at most K paths, W wildcards among them) is capped by the
// invalidations already in progress on every target distribution, since CloudFront
// refuses a batch that would take more than 15 wildcard paths (or 3,000 exact paths) in
// progress on one distribution. It joins package invalidation (the lookup) and package
// planner (the plan), which must not import each other's callers.
package budget

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/planner"
)

// API is what Plan calls: invalidation.ListAPI (*cloudfront.Client implements it).
type API = invalidation.ListAPI

// Report says what the lookup found and which budget the plan used.
type Report struct {
	// Room is what was free on every distribution, after the extra paths.
	Room invalidation.Room
	// RequestedPaths and RequestedWildcards are the budget asked for, defaults
	// resolved (NoWildcards as 0); MaxPaths and MaxWildcards the budget planned with.
	RequestedPaths, RequestedWildcards int
	MaxPaths, MaxWildcards             int
}

// Capped reports whether the invalidations in progress lowered the budget.
func (r Report) Capped() bool {
	return r.MaxPaths < r.RequestedPaths || r.MaxWildcards < r.RequestedWildcards
}

// BusyError is returned when no plan fits the budget left by the invalidations in
// progress although the requested budget might have had room: the caller can wait for
// them to complete (Room.Busy names them). It wraps planner.ErrInfeasible when the
// planner found no plan.
type BusyError struct {
	Report Report
	Err    error
}

func (e *BusyError) Error() string {
	r := e.Report
	busy := r.Room.Describe()
	return fmt.Sprintf("no plan of at most %d paths with %d wildcard paths fits what CloudFront has free now (%d of the %d wildcard paths allowed and %d exact paths are free on every distribution; in progress: %s)",
		r.MaxPaths, r.MaxWildcards, r.Room.Wildcards, invalidation.MaxInProgressWildcards, r.Room.Exact, busy)
}

func (e *BusyError) Unwrap() error { return e.Err }

// Oldest returns the oldest invalidation in progress that holds wildcard paths (else
// the oldest of all): the one whose completion most likely frees room first.
func (e *BusyError) Oldest() (invalidation.Invalidation, bool) {
	var best invalidation.Invalidation
	found, bestWild := false, false
	for _, inv := range e.Report.Room.Busy() {
		wild := false
		for _, p := range inv.Paths {
			wild = wild || invalidation.IsWildcard(p)
		}
		better := !found || (wild && !bestWild) || (wild == bestWild && inv.CreateTime.Before(best.CreateTime))
		if better {
			best, bestWild, found = inv, wild, true
		}
	}
	return best, found
}

// LookupError is returned when the invalidations in progress could not be listed
// (no plan was made): callers may plan without the cap, or stop.
type LookupError struct{ Err error }

func (e *LookupError) Error() string {
	return "look up the invalidations in progress: " + e.Err.Error()
}
func (e *LookupError) Unwrap() error { return e.Err }

// Plan plans in with its budget capped by the room CloudFront has on every
// distribution in dists, less the extra (already prepared) paths that will go in the
// same invalidation. With no distribution it is planner.Plan(in). Budget errors of in
// itself (negative values) are the planner's *InputError, as without the lookup.
// When the capped budget admits no plan, the error is a *BusyError wrapping the
// planner's ErrInfeasible; when the lookup fails, a *LookupError.
func Plan(ctx context.Context, api invalidation.ListAPI, dists []string, in planner.Input, extra []string) (planner.Result, Report, error) {
	var rep Report
	if len(dists) == 0 || in.MaxPaths < 0 || in.MaxWildcards < planner.NoWildcards {
		res, err := planner.Plan(in)
		return res, rep, err
	}
	room, err := invalidation.RoomOn(ctx, api, dists)
	if err != nil {
		return planner.Result{}, rep, &LookupError{Err: err}
	}
	exact, wild := invalidation.CountPaths(extra)
	room.Exact = max(0, room.Exact-exact)
	room.Wildcards = max(0, room.Wildcards-wild)
	rep.Room = room
	rep.RequestedPaths, rep.RequestedWildcards = resolve(in)
	rep.MaxPaths, rep.MaxWildcards = room.Fit(rep.RequestedPaths, rep.RequestedWildcards)
	if rep.MaxPaths == 0 {
		// No exact path is free: the planner cannot be told "wildcards only", and
		// 0 would mean its default.
		return planner.Result{}, rep, &BusyError{Report: rep, Err: planner.ErrInfeasible}
	}
	capped := in
	capped.MaxPaths = rep.MaxPaths
	capped.MaxWildcards = rep.MaxWildcards
	if capped.MaxWildcards == 0 {
		capped.MaxWildcards = planner.NoWildcards // 0 would mean the default
	}
	res, err := planner.Plan(capped)
	if errors.Is(err, planner.ErrInfeasible) && rep.Capped() {
		return res, rep, &BusyError{Report: rep, Err: err}
	}
	return res, rep, err
}

// resolve turns the planner's budget conventions (0: default, NoWildcards: none)
// into counts.
func resolve(in planner.Input) (paths, wildcards int) {
	paths = in.MaxPaths
	if paths == 0 {
		paths = planner.DefaultMaxPaths
	}
	switch wildcards = in.MaxWildcards; wildcards {
	case 0:
		wildcards = planner.DefaultMaxWildcards
	case planner.NoWildcards:
		wildcards = 0
	}
	return paths, min(wildcards, paths)
}
