package testkit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// CreateDistribution creates a minimal S3-origin distribution through the CloudFront
// endpoint (moto or the proxy) and returns its id.
func CreateDistribution(t testing.TB, endpoint string) string {
	t.Helper()
	id, err := NewDistribution(context.Background(), endpoint)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return id
}

// NewDistribution is CreateDistribution without a test.
func NewDistribution(ctx context.Context, endpoint string) (string, error) {
	cfg, err := SDKConfig(ctx, endpoint)
	if err != nil {
		return "", err
	}
	c := cloudfront.NewFromConfig(cfg)
	ref := fmt.Sprintf("testkit-%d", time.Now().UnixNano())
	out, err := c.CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: &types.DistributionConfig{
		CallerReference: aws.String(ref),
		Comment:         aws.String("edgeflush testkit"),
		Enabled:         aws.Bool(true),
		Origins: &types.Origins{Quantity: aws.Int32(1), Items: []types.Origin{{
			Id:             aws.String("site"),
			DomainName:     aws.String("site-bucket.s3.amazonaws.com"),
			S3OriginConfig: &types.S3OriginConfig{OriginAccessIdentity: aws.String("")},
		}}},
		DefaultCacheBehavior: &types.DefaultCacheBehavior{
			TargetOriginId:       aws.String("site"),
			ViewerProtocolPolicy: types.ViewerProtocolPolicyRedirectToHttps,
			MinTTL:               aws.Int64(0),
			ForwardedValues: &types.ForwardedValues{
				QueryString: aws.Bool(false),
				Cookies:     &types.CookiePreference{Forward: types.ItemSelectionNone},
			},
			TrustedSigners: &types.TrustedSigners{Enabled: aws.Bool(false), Quantity: aws.Int32(0)},
		},
	}})
	if err != nil {
		return "", fmt.Errorf("create test distribution at %s: %w", endpoint, err)
	}
	return aws.ToString(out.Distribution.Id), nil
}
