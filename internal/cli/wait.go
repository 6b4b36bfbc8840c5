package cli

import (
	"context"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

func init() { register(newWaitCmd) }

type waitOptions struct {
	distributions []string
	tenants       []string
	id            string
	timeout       time.Duration
	pollInterval  time.Duration
	output        string
}

func newWaitCmd(a *app) *cobra.Command {
	o := &waitOptions{}
	cmd := &cobra.Command{
		Use:   "wait --distribution ID --id INVALIDATION_ID",
		Short: "Wait until a CloudFront invalidation is Completed",
		Long: `Poll GetInvalidation until the invalidation is Completed, then print it.
Exits 1 when --timeout passes first (the invalidation continues in CloudFront).`,
		Example: `  edgeflush wait --distribution E2EXAMPLE12345 --id I2J0I21PCUYOIK --timeout 15m`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runWait(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	// A list flag, like invalidate's, so that one config file (distribution: [E1])
	// serves both commands; wait takes exactly one.
	f.StringSliceVar(&o.distributions, "distribution", nil, "CloudFront distribution ID")
	addTenantFlag(f, &o.tenants, "distribution tenant ID, instead of --distribution, for a tenant's invalidation")
	f.StringVar(&o.id, "id", "", "invalidation ID (as printed by edgeflush invalidate)")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "give up after this long (0: no limit)")
	f.DurationVar(&o.pollInterval, "poll-interval", 0, "fixed time between status checks (0: invalidation.PollDelay's schedule)")
	_ = f.MarkHidden("poll-interval")
	f.StringVar(&o.output, "output", "text", "output format: text or json")
	return cmd
}

func (a *app) runWait(ctx context.Context, o *waitOptions) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	dists, err := targets(o.distributions, o.tenants)
	if err != nil {
		return err
	}
	switch {
	case len(dists) == 0:
		return usageErrorf("no distribution: give --distribution ID (or --tenant ID)")
	case len(dists) > 1:
		return usageErrorf("wait takes one --distribution or --tenant, got %d (%v)", len(dists), dists)
	case o.id == "":
		return usageErrorf("no invalidation: give --id INVALIDATION_ID")
	case o.timeout < 0:
		return usageErrorf("--timeout must be 0 (no limit) or more, not %s", o.timeout)
	}
	client, err := a.cloudFront(ctx)
	if err != nil {
		return err
	}
	reports := []invalidationReport{{Distribution: dists[0], ID: o.id, Status: invalidation.StatusInProgress, Paths: []string{}}}
	failures := a.waitAll(ctx, client, reports, o.timeout, o.pollInterval)
	// Print the state when there is one (completed, or still in progress at the
	// timeout); an invalidation never seen (no such id) only gets stderr's line.
	if reports[0].CreateTime != nil {
		if err := a.printInvalidations(o.output, invalidateOutput{Invalidations: reports}); err != nil {
			return err
		}
	}
	return joinFailures(failures)
}
