package artifactdeploy

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/origin"
	"github.com/edgeflush/edgeflush/internal/verify"
)

// MaxVerifyURLs bounds the URLs one job checks at the edge: a wildcard path stands for
// every object under it, and a function invocation has minutes, not hours.
const MaxVerifyURLs = 2000

var _ codepipeline.Verifier = (*Deployer)(nil)

// Verify implements "Verify": true: it asks the distribution (at Params.VerifyBaseURL,
// else https:// + its domain name) for the job's paths and compares each answer with
// the site bucket, with the function's identity or Params.RoleARN's.
func (d *Deployer) Verify(ctx context.Context, req codepipeline.VerifyRequest) (codepipeline.VerifyResult, error) {
	p := req.Params
	cfg := d.Config
	if p.RoleARN != "" {
		cfg = awsconf.AssumeRole(d.Config, p.RoleARN, p.ExternalID, codepipeline.SessionName(codepipeline.JobID(ctx)))
	}
	rep, err := verify.Check(ctx, origin.NewReader(cloudfront.NewFromConfig(cfg)), awsconf.NewS3(cfg), verify.Options{
		DistributionID: req.DistributionID, Bucket: p.Bucket, Prefix: p.Prefix, BaseURL: p.VerifyBaseURL,
		Paths: req.Paths, Concurrency: d.Concurrency, MaxURLs: MaxVerifyURLs,
	})
	if err != nil {
		var nao *origin.NotAnOriginError
		var ope *origin.OriginPathError
		switch {
		case errors.As(err, &nao):
			return codepipeline.VerifyResult{}, &codepipeline.ConfigError{Key: "Bucket", Message: nao.Error()}
		case errors.As(err, &ope):
			return codepipeline.VerifyResult{}, &codepipeline.ConfigError{Key: "Prefix", Message: ope.Error()}
		}
		return codepipeline.VerifyResult{}, fmt.Errorf("check the edge: %w", err)
	}
	return codepipeline.VerifyResult{Checked: rep.Checked, Fresh: rep.Fresh, Unchecked: rep.Unchecked, Problems: rep.Problems()}, nil
}
