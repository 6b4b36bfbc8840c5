// Command edgeflush-lambda is the CodePipeline Invoke/Lambda action (runtime
// provided.al2023, handler "bootstrap"). It only wires the AWS configuration into
// codepipeline.Handler; the behaviour lives in internal/codepipeline.
//
// Build: CGO_ENABLED=0 go build -tags lambda.norpc -o bootstrap ./cmd/edgeflush-lambda
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/edgeflush/edgeflush/internal/artifactdeploy"
	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/notify"
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
	h := codepipeline.New(cfg, log)
	if err := h.ConfigureFromEnv(os.Getenv); err != nil {
		log.Warn("ignoring a malformed setting", slog.String("error", err.Error()))
	}

	d := artifactdeploy.New(cfg, log)
	h.Deployer = d
	h.Verifier = d // "Verify": true checks the edge with the deployer's clients
	h.Notifiers = notify.FromConfig(cfg)

	lambda.Start(h.Handle)
}
