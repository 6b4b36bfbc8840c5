package cli

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/pflag"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/invalidation/budget"
	"github.com/edgeflush/edgeflush/internal/origin"
	"github.com/edgeflush/edgeflush/internal/planner"
	"github.com/edgeflush/edgeflush/internal/siteplan"
	"github.com/edgeflush/edgeflush/internal/sitesync"
)

// URLs from the distribution's configuration (deploy, invalidate --changed with
// --bucket): each target's origin path, behaviors and default root object turn the
// site's keys into the URLs to invalidate (package siteplan); --url-prefix overrides
// the mapping where a viewer function rewrites URIs.

// addURLPrefixFlag adds --url-prefix.
func addURLPrefixFlag(f *pflag.FlagSet, dst *string) {
	f.StringVar(dst, "url-prefix", "", `the URL path the site's root is served at, overriding the distribution's origin path and behaviors (e.g. "/en" when a viewer function maps /en/* to the site's keys)`)
}

// mapOptions validates --url-prefix and builds the mapping options.
func mapOptions(bucket, prefix, urlPrefix, indexDocument string) (origin.MapOptions, error) {
	up, err := origin.CheckURLPrefix(urlPrefix)
	if err != nil {
		return origin.MapOptions{}, usageErrorf("--url-prefix: %v", err)
	}
	return origin.MapOptions{Bucket: bucket, Prefix: prefix, URLPrefix: up, IndexDocument: indexDocument}, nil
}

// checkSite reads every target's configuration and fails, before anything is written,
// when one does not serve the bucket (naming its origins) or reads another folder.
func (a *app) checkSite(ctx context.Context, targets []string, o origin.MapOptions) (*origin.Reader, error) {
	cf, err := a.cloudFront(ctx)
	if err != nil {
		return nil, err
	}
	r := origin.NewReader(cf)
	for _, t := range targets {
		if err := siteplan.Check(ctx, r, []string{t}, o); err != nil {
			var nao *origin.NotAnOriginError
			var ope *origin.OriginPathError
			if errors.As(err, &nao) || errors.As(err, &ope) {
				return nil, fmt.Errorf("nothing written: %w", err)
			}
			return nil, explain("nothing written: read the configuration of "+invalidation.Label(t), err)
		}
	}
	return r, nil
}

// planSite plans per target (targets that map the site alike share a plan), each
// within what CloudFront has free on its targets.
func (a *app) planSite(ctx context.Context, r *origin.Reader, targets []string, o origin.MapOptions, in planner.Input, prepared ...string) (siteplan.Result, error) {
	cf, err := a.cloudFront(ctx)
	if err != nil {
		return siteplan.Result{}, err
	}
	return siteplan.Plan(ctx, r, targets, o, in, func(ctx context.Context, ts []string, in planner.Input, extra []string) (planner.Result, error) {
		res, _, err := budget.Plan(ctx, cf, ts, in, append(slices.Clone(extra), prepared...))
		var be *budget.BusyError
		switch {
		case errors.As(err, &be):
			return res, busyError("", be)
		case errors.As(err, new(*budget.LookupError)):
			return res, explain("look up the invalidations in progress", errors.Unwrap(err))
		}
		return res, err
	})
}

// notServedLines renders what the targets do not serve, for the output.
func notServedLines(res siteplan.Result) []string {
	out := make([]string, 0, len(res.NotServed))
	for _, n := range res.NotServed {
		out = append(out, n.String())
	}
	return out
}

// deployPlanSite fills the deploy's paths from the per-target plan.
func (a *app) deployPlanSite(ctx context.Context, r *origin.Reader, targets []string, o origin.MapOptions, in planner.Input, out *deployOutput) error {
	sp, err := a.planSite(ctx, r, targets, o, in)
	if err != nil {
		return err
	}
	out.Paths, out.Collateral = sp.Paths(), sp.Collateral()
	out.NotServed = notServedLines(sp)
	if out.Paths == nil {
		out.Paths = []string{}
	}
	n := 0
	for _, t := range targets {
		n += len(sp.PathsFor(t))
	}
	out.EstimatedCost = float64(n) * deployPricePerPath
	if !sp.Uniform() {
		out.PathsByDistribution = map[string][]string{}
		for _, t := range targets {
			out.PathsByDistribution[t] = append([]string{}, sp.PathsFor(t)...)
		}
	}
	return nil
}

// pathsFor returns the paths to invalidate on target.
func (out *deployOutput) pathsFor(target string) []string {
	if p, ok := out.PathsByDistribution[target]; ok {
		return p
	}
	return out.Paths
}

// invalidateMapped plans invalidate --changed from bucket keys (--bucket, --prefix,
// --url-prefix): one batch goes to every target, so it is the union of the targets'
// plans (a path one target does not serve only costs a path there).
func (a *app) invalidateMapped(ctx context.Context, o *invalidateOptions, dists []string, in planner.Input, prepared []string) ([]string, error) {
	mo, err := mapOptions(o.bucket, sitesync.NormalizePrefix(o.prefix), o.urlPrefix, o.indexDocument)
	if err != nil {
		return nil, err
	}
	if o.bucket == "" {
		return nil, usageErrorf("--prefix and --url-prefix map bucket keys to URLs and need --bucket (the site's bucket, which the distributions must read)")
	}
	r, err := a.checkSite(ctx, dists, mo)
	if err != nil {
		return nil, err
	}
	sp, err := a.planSite(ctx, r, dists, mo, in, prepared...)
	if err != nil {
		return nil, fmt.Errorf("plan paths: %w", err)
	}
	for _, l := range notServedLines(sp) {
		fmt.Fprintf(a.stderr, "edgeflush: not invalidated: %s\n", l)
	}
	return dedupe(append(sp.Paths(), prepared...)), nil
}
