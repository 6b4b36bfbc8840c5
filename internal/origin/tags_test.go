package origin

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
)

func TestFromConfigCacheTags(t *testing.T) {
	cfg := &types.DistributionConfig{
		Origins:              &types.Origins{Items: []types.Origin{{Id: aws.String("s3"), DomainName: aws.String("site.s3.us-east-1.amazonaws.com")}}},
		DefaultCacheBehavior: &types.DefaultCacheBehavior{TargetOriginId: aws.String("s3"), MaxTTL: aws.Int64(86400)},
		CacheTagConfig:       &types.CacheTagConfig{HeaderName: aws.String("x-amz-meta-cache-tag")},
	}
	d, err := FromConfig("E1", "d.cloudfront.net", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.CacheTagHeader != "x-amz-meta-cache-tag" || d.MaxTTL != 24*time.Hour {
		t.Fatalf("CacheTagHeader %q, MaxTTL %v", d.CacheTagHeader, d.MaxTTL)
	}
	m, err := d.Map(MapOptions{Bucket: "site", BucketKeys: true}, []string{"a.html", "docs/index.html"}, []string{"a.html"})
	if err != nil {
		t.Fatal(err)
	}
	if m.BucketKey["docs/index.html"] != "docs/index.html" || m.BucketKey["a.html"] != "a.html" {
		t.Fatalf("BucketKey %v", m.BucketKey)
	}
	cfg.CacheTagConfig = nil
	cfg.DefaultCacheBehavior.CachePolicyId = aws.String("658327ea-f89d-4fab-a63d-7e88639e58f6")
	if d, _ = FromConfig("E1", "d.cloudfront.net", cfg); d.CacheTagHeader != "" || d.MaxTTL != 0 || d.CachePolicyID == "" {
		t.Fatalf("without CacheTagConfig, with a cache policy: %+v", d)
	}
}
