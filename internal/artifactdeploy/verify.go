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

// CheckSite reads the distribution's configuration before the deploy: the bucket must be
// one of its origins, read at the origin path "/"+Prefix.
func (d *Deployer) CheckSite(ctx context.Context, p codepipeline.Params, distributionID string) error {
	dist, err := origin.NewReader(cloudfront.NewFromConfig(d.siteConfig(p, codepipeline.JobID(ctx)))).Distribution(ctx, distributionID)
	if err == nil {
		_, err = dist.Site(p.Bucket, p.Prefix)
	}
	return siteError(err)
}

// siteError makes the origin errors configuration errors naming the key to fix.
func siteError(err error) error {
	var nao *origin.NotAnOriginError
	var ope *origin.OriginPathError
	switch {
	case errors.As(err, &nao):
		return &codepipeline.ConfigError{Key: "Bucket", Message: nao.Error()}
	case errors.As(err, &ope):
		return &codepipeline.ConfigError{Key: "Prefix", Message: ope.Error()}
	}
	return err
}

// Verify implements "Verify": true: it asks the distribution (at Params.VerifyBaseURL,
// else https:// + its domain name) for the job's paths and compares each answer with
// the site bucket, with the function's identity or Params.RoleARN's.
func (d *Deployer) Verify(ctx context.Context, req codepipeline.VerifyRequest) (codepipeline.VerifyResult, error) {
	p := req.Params
	cfg := d.siteConfig(p, codepipeline.JobID(ctx))
	// In the bucket's own region, as the deploy writes it.
	s3c, err := awsconf.NewS3ForBucket(ctx, cfg, p.Bucket)
	if err != nil {
		return codepipeline.VerifyResult{}, &codepipeline.ConfigError{Key: "Bucket", Message: err.Error()}
	}
	rep, err := verify.Check(ctx, origin.NewReader(cloudfront.NewFromConfig(cfg)), s3c, verify.Options{
		DistributionID: req.DistributionID, Bucket: p.Bucket, Prefix: p.Prefix, BaseURL: p.VerifyBaseURL,
		Paths: req.Paths, Concurrency: d.Concurrency, MaxURLs: MaxVerifyURLs,
	})
	if err != nil {
		if serr := siteError(err); serr != err {
			return codepipeline.VerifyResult{}, serr
		}
		return codepipeline.VerifyResult{}, fmt.Errorf("check the edge: %w", err)
	}
	return codepipeline.VerifyResult{Checked: rep.Checked, Fresh: rep.Fresh, Unchecked: rep.Unchecked, Problems: rep.Problems()}, nil
}
