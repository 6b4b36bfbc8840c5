// Command edgeflush-lambda is the CodePipeline Invoke/Lambda action (runtime
// provided.al2023, handler "bootstrap"). It only wires SDK clients into
// codepipeline.Handler; the behaviour lives in internal/codepipeline.
//
// Build: CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap ./cmd/edgeflush-lambda
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cpsdk "github.com/aws/aws-sdk-go-v2/service/codepipeline"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/invalidation"
)

func main() {
	log := codepipeline.NewLogger(os.Stdout)
	// Endpoints, region and credentials come from the SDK's default chain, so
	// AWS_ENDPOINT_URL_CLOUDFRONT, AWS_ENDPOINT_URL_CODEPIPELINE ... work unchanged.
	cfg, err := awsconf.Load(context.Background(), awsconf.Options{})
	if err != nil {
		log.Error("cannot load the AWS configuration", slog.String("error", err.Error()))
		os.Exit(1)
	}
	// One CloudFront client for the function's own identity, reused across warm
	// invocations; a role to assume gets its own client per job.
	ownCloudFront := cloudfront.NewFromConfig(cfg)

	h := &codepipeline.Handler{
		// Job results always use the function's own identity, even cross-account.
		Jobs: cpsdk.NewFromConfig(cfg),
		CloudFront: func(ctx context.Context, p codepipeline.Params) (invalidation.API, error) {
			if p.RoleARN == "" {
				return ownCloudFront, nil
			}
			return cloudfront.NewFromConfig(awsconf.AssumeRole(cfg, p.RoleARN, p.ExternalID, codepipeline.SessionName(codepipeline.JobID(ctx)))), nil
		},
		Logger: log,
	}
	if err := h.ConfigureFromEnv(os.Getenv); err != nil {
		log.Warn("ignoring a malformed setting", slog.String("error", err.Error()))
	}

	// WIRING SPOT (issue 4, deploy mode): set h.Deployer to the internal/sitesync
	// adapter here, built from cfg (one line).
	// WIRING SPOT (issue 5, notifications): set h.Notifiers to the internal/notify
	// factory here, built from cfg (one line).

	lambda.Start(h.Handle)
}
