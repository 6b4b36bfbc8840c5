package codepipeline

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cpsdk "github.com/aws/aws-sdk-go-v2/service/codepipeline"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// New returns a Handler wired to AWS through cfg (from awsconf.Load): job results are
// reported with cfg's own identity; CloudFront is called with cfg, or, when a job's
// UserParameters carry RoleArn, with that role assumed (session "edgeflush-<job id>").
// Deployer and Notifiers are left for the caller to set.
func New(cfg aws.Config, log *slog.Logger) *Handler {
	// One client for the function's own identity, reused across warm invocations.
	// invalidation.Client also reaches distribution tenants (DistributionTenantIds).
	own := invalidation.NewClient(cloudfront.NewFromConfig(cfg))
	return &Handler{
		Jobs: cpsdk.NewFromConfig(cfg),
		CloudFront: func(ctx context.Context, p Params) (invalidation.API, error) {
			if p.RoleARN == "" {
				return own, nil
			}
			return invalidation.NewClient(cloudfront.NewFromConfig(awsconf.AssumeRole(cfg, p.RoleARN, p.ExternalID, SessionName(JobID(ctx))))), nil
		},
		Logger: log,
	}
}
