package testkit

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

// TestProxyReturnsTheConfigurationAsCreated: GetDistribution and GetDistributionConfig
// through the proxy keep what moto drops (the function association, S3OriginConfig)
// and what moto keeps (origin path, behaviors, root object); an update falls back to
// moto's answer.
func TestProxyReturnsTheConfigurationAsCreated(t *testing.T) {
	cf := StartCloudFront(t, moto(t).URL, CloudFrontOptions{})
	id := CreateDistributionWith(t, cf.URL, DistributionSpec{
		Origins: []DistributionOrigin{
			{ID: "site", DomainName: "b.s3.amazonaws.com", OriginPath: "/site"},
			{ID: "api", DomainName: "api.example.com", Custom: true},
		},
		Behaviors:             []DistributionBehavior{{PathPattern: "/api/*", OriginID: "api"}},
		DefaultRootObject:     "index.html",
		ViewerRequestFunction: true,
	})
	c := cfClient(t, cf.URL, 1)
	ctx := context.Background()
	check := func(what string, dc *types.DistributionConfig) {
		t.Helper()
		if dc == nil || dc.DefaultCacheBehavior == nil || dc.DefaultCacheBehavior.FunctionAssociations == nil ||
			aws.ToInt32(dc.DefaultCacheBehavior.FunctionAssociations.Quantity) != 1 ||
			dc.DefaultCacheBehavior.FunctionAssociations.Items[0].EventType != types.EventTypeViewerRequest {
			t.Fatalf("%s: no viewer-request function: %+v", what, dc)
		}
		o := dc.Origins.Items[0]
		if o.S3OriginConfig == nil || aws.ToString(o.OriginPath) != "/site" || dc.Origins.Items[1].CustomOriginConfig == nil {
			t.Errorf("%s: origins %+v", what, dc.Origins.Items)
		}
		if dc.CacheBehaviors == nil || len(dc.CacheBehaviors.Items) != 1 || aws.ToString(dc.CacheBehaviors.Items[0].PathPattern) != "/api/*" ||
			aws.ToString(dc.DefaultRootObject) != "index.html" {
			t.Errorf("%s: behaviors %+v, root %q", what, dc.CacheBehaviors, aws.ToString(dc.DefaultRootObject))
		}
	}
	d, err := c.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(d.Distribution.Id) != id || aws.ToString(d.Distribution.DomainName) == "" || aws.ToString(d.ETag) == "" {
		t.Errorf("distribution %+v", d.Distribution)
	}
	check("GetDistribution", d.Distribution.DistributionConfig)
	gc, err := c.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(id)})
	if err != nil {
		t.Fatal(err)
	}
	check("GetDistributionConfig", gc.DistributionConfig)

	// After an update the proxy no longer knows better than moto.
	upd := *gc.DistributionConfig
	upd.Comment = aws.String("updated")
	if _, err := c.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: aws.String(id), IfMatch: gc.ETag, DistributionConfig: &upd}); err != nil {
		t.Fatal(err)
	}
	gc, err = c.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(id)})
	if err != nil || aws.ToString(gc.DistributionConfig.Comment) != "updated" {
		t.Fatalf("after the update: %v %+v", err, gc)
	}
}
