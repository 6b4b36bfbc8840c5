package testkit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

func TestCacheTagItems(t *testing.T) {
	ctx := context.Background()
	cf := StartCloudFront(t, moto(t).URL, CloudFrontOptions{CompleteAfter: time.Hour, MaxInProgressWildcards: 2})
	c := cfClient(t, cf.URL, 1)
	dist := CreateDistributionWith(t, cf.URL, DistributionSpec{CacheTagHeader: "x-amz-meta-cache-tag"})
	got, err := c.GetDistribution(ctx, &cloudfront.GetDistributionInput{Id: aws.String(dist)})
	if err != nil {
		t.Fatal(err)
	}
	if tc := got.Distribution.DistributionConfig.CacheTagConfig; tc == nil || aws.ToString(tc.HeaderName) != "x-amz-meta-cache-tag" {
		t.Fatalf("CacheTagConfig not returned as created: %+v", tc)
	}
	out, err := createInv(ctx, c, dist, "r1", "#product:tv", "/a.html")
	if err != nil {
		t.Fatal(err)
	}
	g, err := c.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{DistributionId: aws.String(dist), Id: out.Invalidation.Id})
	if err != nil || g.Invalidation.InvalidationBatch.Paths.Items[0] != "#product:tv" {
		t.Fatalf("tag item not kept: %+v %v", g, err)
	}
	for _, bad := range []string{"#a b", "#a,b", "#a*", "#"} {
		if _, err := createInv(ctx, c, dist, "bad-"+bad, bad); !isCode(err, "InvalidArgument") {
			t.Errorf("%q: %v, want InvalidArgument", bad, err)
		}
	}
	// A tag item holds wildcard room (2 here): one tag in progress, one wildcard fits, a third item does not.
	if _, err := createInv(ctx, c, dist, "r2", "/x/*"); err != nil {
		t.Fatal(err)
	}
	var tm *types.TooManyInvalidationsInProgress
	if _, err := createInv(ctx, c, dist, "r3", "#another"); !errors.As(err, &tm) {
		t.Fatalf("third wildcard-like item: %v", err)
	}
}
