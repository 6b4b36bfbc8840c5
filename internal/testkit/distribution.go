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

// DistributionSpec describes a test distribution. The zero value is the minimal one
// CreateDistribution makes: one S3 origin "site" (site-bucket.s3.amazonaws.com) behind
// the default behavior.
type DistributionSpec struct {
	// Origins; none means one S3 origin {ID: "site", DomainName: "site-bucket.s3.amazonaws.com"}.
	Origins []DistributionOrigin
	// DefaultOrigin is the default behavior's target; "" means the first origin.
	DefaultOrigin string
	// Behaviors are the other cache behaviors, in order of precedence.
	Behaviors []DistributionBehavior
	// DefaultRootObject, e.g. "index.html"; "" for none.
	DefaultRootObject string
	// ViewerRequestFunction associates a viewer-request CloudFront function with the
	// default behavior (the usual "/dir/ -> /dir/index.html" rewrite).
	ViewerRequestFunction bool
	// CacheTagHeader sets CacheTagConfig.HeaderName (e.g. "x-amz-meta-cache-tag"); ""
	// for none. Create through the realism proxy to read it back (moto drops it).
	CacheTagHeader string
}

// DistributionOrigin is one origin of a DistributionSpec.
type DistributionOrigin struct {
	ID, DomainName string
	// OriginPath, e.g. "/site"; "" for none.
	OriginPath string
	// Custom makes it a custom origin (an S3 website endpoint or any HTTP server);
	// otherwise it has an S3OriginConfig.
	Custom bool
}

// DistributionBehavior is a cache behavior routing PathPattern to origin OriginID.
type DistributionBehavior struct {
	PathPattern, OriginID string
}

// CreateDistribution creates a minimal S3-origin distribution through the CloudFront
// endpoint (moto or the proxy) and returns its id.
func CreateDistribution(t testing.TB, endpoint string) string {
	t.Helper()
	return CreateDistributionWith(t, endpoint, DistributionSpec{})
}

// CreateDistributionWith creates a distribution as spec describes and returns its id.
// Create it through the realism proxy to read back what AWS would return (moto drops
// function associations and S3OriginConfig).
func CreateDistributionWith(t testing.TB, endpoint string, spec DistributionSpec) string {
	t.Helper()
	id, err := NewDistributionWith(context.Background(), endpoint, spec)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return id
}

// NewDistribution is CreateDistribution without a test.
func NewDistribution(ctx context.Context, endpoint string) (string, error) {
	return NewDistributionWith(ctx, endpoint, DistributionSpec{})
}

// NewDistributionWith is CreateDistributionWith without a test.
func NewDistributionWith(ctx context.Context, endpoint string, spec DistributionSpec) (string, error) {
	cfg, err := SDKConfig(ctx, endpoint)
	if err != nil {
		return "", err
	}
	if len(spec.Origins) == 0 {
		spec.Origins = []DistributionOrigin{{ID: "site", DomainName: "site-bucket.s3.amazonaws.com"}}
	}
	if spec.DefaultOrigin == "" {
		spec.DefaultOrigin = spec.Origins[0].ID
	}
	var origins []types.Origin
	for _, o := range spec.Origins {
		to := types.Origin{Id: aws.String(o.ID), DomainName: aws.String(o.DomainName), OriginPath: aws.String(o.OriginPath)}
		if o.Custom {
			to.CustomOriginConfig = &types.CustomOriginConfig{HTTPPort: aws.Int32(80), HTTPSPort: aws.Int32(443), OriginProtocolPolicy: types.OriginProtocolPolicyHttpOnly}
		} else {
			to.S3OriginConfig = &types.S3OriginConfig{OriginAccessIdentity: aws.String("")}
		}
		origins = append(origins, to)
	}
	forwarded := &types.ForwardedValues{
		QueryString: aws.Bool(false),
		Cookies:     &types.CookiePreference{Forward: types.ItemSelectionNone},
	}
	signers := &types.TrustedSigners{Enabled: aws.Bool(false), Quantity: aws.Int32(0)}
	def := &types.DefaultCacheBehavior{
		TargetOriginId:       aws.String(spec.DefaultOrigin),
		ViewerProtocolPolicy: types.ViewerProtocolPolicyRedirectToHttps,
		MinTTL:               aws.Int64(0),
		ForwardedValues:      forwarded,
		TrustedSigners:       signers,
	}
	if spec.ViewerRequestFunction {
		def.FunctionAssociations = &types.FunctionAssociations{Quantity: aws.Int32(1), Items: []types.FunctionAssociation{{
			EventType: types.EventTypeViewerRequest, FunctionARN: aws.String("arn:aws:cloudfront::123456789012:function/directory-index"),
		}}}
	}
	dc := &types.DistributionConfig{
		CallerReference:      aws.String(fmt.Sprintf("testkit-%d", time.Now().UnixNano())),
		Comment:              aws.String("edgeflush testkit"),
		Enabled:              aws.Bool(true),
		Origins:              &types.Origins{Quantity: aws.Int32(int32(len(origins))), Items: origins},
		DefaultCacheBehavior: def,
	}
	if spec.DefaultRootObject != "" {
		dc.DefaultRootObject = aws.String(spec.DefaultRootObject)
	}
	if spec.CacheTagHeader != "" {
		dc.CacheTagConfig = &types.CacheTagConfig{HeaderName: aws.String(spec.CacheTagHeader)}
	}
	if len(spec.Behaviors) > 0 {
		var items []types.CacheBehavior
		for _, b := range spec.Behaviors {
			items = append(items, types.CacheBehavior{
				PathPattern: aws.String(b.PathPattern), TargetOriginId: aws.String(b.OriginID),
				ViewerProtocolPolicy: types.ViewerProtocolPolicyRedirectToHttps, MinTTL: aws.Int64(0),
				ForwardedValues: forwarded, TrustedSigners: signers,
			})
		}
		dc.CacheBehaviors = &types.CacheBehaviors{Quantity: aws.Int32(int32(len(items))), Items: items}
	}
	out, err := cloudfront.NewFromConfig(cfg).CreateDistribution(ctx, &cloudfront.CreateDistributionInput{DistributionConfig: dc})
	if err != nil {
		return "", fmt.Errorf("create test distribution at %s: %w", endpoint, err)
	}
	return aws.ToString(out.Distribution.Id), nil
}
