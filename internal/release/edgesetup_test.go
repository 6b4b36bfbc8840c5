package release_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	edgefn "github.com/edgeflush/edgeflush/deploy/edge"
	"github.com/edgeflush/edgeflush/internal/release"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/kvs"
)

// TestSetupEdge installs the store, the function and the associations through the
// CloudFront stand-in with the SDK's client, twice (the second run changes nothing),
// refuses a distribution whose viewer-request slot is taken, and tears it all down.
func TestSetupEdge(t *testing.T) {
	ctx := context.Background()
	moto := testkit.StartMoto(t)
	store := kvs.Start(t, kvs.Options{})
	cf := testkit.StartCloudFront(t, moto.URL, testkit.CloudFrontOptions{KeyValueStores: store})
	dist := testkit.CreateDistribution(t, cf.URL)
	cfg, err := testkit.SDKConfig(ctx, cf.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := cloudfront.NewFromConfig(cfg)
	o := release.EdgeOptions{DistributionID: dist}

	dry := o
	dry.DryRun = true
	res, err := release.SetupEdge(ctx, c, dry)
	if err != nil || len(res.Changes) != 4 {
		t.Fatalf("dry run: %v %q", err, res.Changes)
	}
	if as := cf.FunctionAssociations(dist); len(as) != 0 {
		t.Fatalf("the dry run associated %v", as)
	}
	res, err = release.SetupEdge(ctx, c, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changes) != 4 || res.KvsARN == "" || res.FunctionARN == "" {
		t.Fatalf("setup: %+v", res)
	}
	if arn, ok := store.StoreARN("edgeflush-releases-" + dist); !ok || arn != res.KvsARN {
		t.Fatalf("the store %q is not in the data plane (%q)", res.KvsARN, arn)
	}
	live, ok := cf.FunctionCode("edgeflush-releases-"+dist, "LIVE")
	if !ok || !bytes.Equal(live, edgefn.ReleasesJS) {
		t.Fatal("the LIVE function is not deploy/edge/releases.js")
	}
	as := cf.FunctionAssociations(dist)
	if len(as) != 2 || as[0].FunctionARN != res.FunctionARN || as[1].FunctionARN != res.FunctionARN {
		t.Fatalf("associations %+v", as)
	}
	again, err := release.SetupEdge(ctx, c, o)
	if err != nil || len(again.Changes) != 0 || again.KvsARN != res.KvsARN {
		t.Fatalf("second setup: %v %+v", err, again)
	}

	// Another distribution whose viewer-request runs someone else's function.
	other := testkit.CreateDistribution(t, cf.URL)
	if _, err := c.CreateFunction(ctx, &cloudfront.CreateFunctionInput{Name: aws.String("theirs"), FunctionCode: []byte("function handler(e){return e.request}"),
		FunctionConfig: &cftypes.FunctionConfig{Comment: aws.String("x"), Runtime: cftypes.FunctionRuntimeCloudfrontJs20}}); err != nil {
		t.Fatal(err)
	}
	d, err := c.DescribeFunction(ctx, &cloudfront.DescribeFunctionInput{Name: aws.String("theirs")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PublishFunction(ctx, &cloudfront.PublishFunctionInput{Name: aws.String("theirs"), IfMatch: d.ETag}); err != nil {
		t.Fatal(err)
	}
	g, err := c.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(other)})
	if err != nil {
		t.Fatal(err)
	}
	g.DistributionConfig.DefaultCacheBehavior.FunctionAssociations = &cftypes.FunctionAssociations{Quantity: aws.Int32(1), Items: []cftypes.FunctionAssociation{
		{EventType: cftypes.EventTypeViewerRequest, FunctionARN: d.FunctionSummary.FunctionMetadata.FunctionARN}}}
	if _, err := c.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: aws.String(other), IfMatch: aws.String("stale"), DistributionConfig: g.DistributionConfig}); err == nil {
		t.Fatal("UpdateDistribution with a stale ETag succeeded")
	}
	if _, err := c.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: aws.String(other), IfMatch: g.ETag, DistributionConfig: g.DistributionConfig}); err != nil {
		t.Fatal(err)
	}
	var conflict *release.AssociationConflictError
	if _, err := release.SetupEdge(ctx, c, release.EdgeOptions{DistributionID: other}); !errors.As(err, &conflict) || conflict.ARN != aws.ToString(d.FunctionSummary.FunctionMetadata.FunctionARN) {
		t.Fatalf("setup on a taken viewer-request slot: %v, want a conflict naming %s", err, aws.ToString(d.FunctionSummary.FunctionMetadata.FunctionARN))
	}

	down, err := release.TeardownEdge(ctx, c, o)
	if err != nil || len(down.Changes) != 3 {
		t.Fatalf("teardown: %v %q", err, down.Changes)
	}
	if as := cf.FunctionAssociations(dist); len(as) != 0 {
		t.Fatalf("associations after teardown: %v", as)
	}
	if _, ok := store.StoreARN("edgeflush-releases-" + dist); ok {
		t.Fatal("the store survived the teardown")
	}
	if again, err := release.TeardownEdge(ctx, c, o); err != nil || len(again.Changes) != 0 {
		t.Fatalf("second teardown: %v %q", err, again.Changes)
	}
}
