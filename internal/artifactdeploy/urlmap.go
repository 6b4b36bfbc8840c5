package artifactdeploy

import (
	"context"
	"errors"
	"log/slog"

	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/invalidation/budget"
	"github.com/edgeflush/edgeflush/internal/origin"
	"github.com/edgeflush/edgeflush/internal/planner"
	"github.com/edgeflush/edgeflush/internal/siteplan"
	"github.com/edgeflush/edgeflush/internal/sitesync"
)

// URLs from the distributions' configuration: the changed keys are mapped per target
// (origin path stripped, keys routed to another origin left out; package siteplan).
// The job carries one list of paths for every target, so when the targets map the site
// differently the job invalidates the union of their plans: a path a target does not
// serve only costs a path there.

// checkSite reads every target's configuration before anything is written. A bucket no
// origin reads, or reads at another folder, is a ConfigError naming the origins.
func checkSite(ctx context.Context, api origin.API, p codepipeline.Params) (*origin.Reader, origin.MapOptions, error) {
	o := origin.MapOptions{Bucket: p.Bucket, Prefix: sitesync.NormalizePrefix(p.Prefix), URLPrefix: p.URLPrefix, IndexDocument: "index.html"}
	r := origin.NewReader(api)
	for _, t := range p.DistributionIDs {
		if err := siteplan.Check(ctx, r, []string{t}, o); err != nil {
			var nao *origin.NotAnOriginError
			var ope *origin.OriginPathError
			if errors.As(err, &nao) || errors.As(err, &ope) {
				key := "Bucket"
				if ope != nil {
					key = "Prefix"
				}
				return nil, o, &codepipeline.ConfigError{Key: key, Message: "nothing was written: " + err.Error()}
			}
			return nil, o, err
		}
	}
	return r, o, nil
}

// planSite plans per group of targets that map the site alike (each within what
// CloudFront has free, as plan does) and returns the union for the job.
func (d *Deployer) planSite(ctx context.Context, log *slog.Logger, r *origin.Reader, o origin.MapOptions, api budget.API, targets []string, in planner.Input) (planner.Result, budget.Report, error) {
	var rep budget.Report
	if len(targets) == 0 {
		return d.plan(ctx, log, api, nil, in)
	}
	sp, err := siteplan.Plan(ctx, r, targets, o, in, func(ctx context.Context, ts []string, gin planner.Input, _ []string) (planner.Result, error) {
		// The extra "/" of a changed default root object is added by siteplan: one
		// exact path, far within CloudFront's 3,000.
		res, grep, err := d.plan(ctx, log, api, ts, gin)
		rep = grep
		return res, err
	})
	var ope *origin.OriginPathError
	if errors.As(err, &ope) {
		return planner.Result{}, rep, &codepipeline.ConfigError{Key: "Prefix", Message: err.Error()}
	}
	if err != nil {
		return planner.Result{}, rep, err
	}
	for _, n := range sp.NotServed {
		log.Warn("changed key not invalidated: the distribution does not serve it from the bucket", slog.String("target", n.Target), slog.String("reason", n.Err.Error()))
	}
	out := planner.Result{Paths: sp.Paths(), Collateral: sp.Collateral()}
	_, out.Wildcards = invalidation.CountPaths(out.Paths)
	if !sp.Uniform() {
		log.Info("the distributions serve the site at different URLs; invalidating the union of their plans", slog.Int("groups", len(sp.Groups)))
	}
	return out, rep, nil
}
