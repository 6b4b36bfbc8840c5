package awsconf

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

// A site bucket in another region than the configuration's: S3 (here the region
// stand-in in front of moto) answers 301 PermanentRedirect; NewS3ForBucket looks the
// region up and signs for it.
func TestNewS3ForBucketFollowsTheBucketsRegion(t *testing.T) {
	ctx := context.Background()
	m := testkit.StartMoto(t)
	direct := NewS3(m.Config(t))
	if _, err := direct.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("eu-site"),
		CreateBucketConfiguration: &types.CreateBucketConfiguration{LocationConstraint: types.BucketLocationConstraintEuWest1}}); err != nil {
		t.Fatal(err)
	}
	regions := testkit.StartS3Regions(t, m.URL)
	cfg, err := testkit.SDKConfig(ctx, regions.URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RetryMaxAttempts = 1
	put := func(c *s3.Client) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("eu-site"), Key: aws.String("index.html"), Body: strings.NewReader("x")})
		return err
	}
	if err := put(NewS3(cfg)); err == nil || !strings.Contains(err.Error(), "301") {
		t.Fatalf("signed for %s: %v, want a 301 PermanentRedirect (else the stand-in proves nothing)", cfg.Region, err)
	}
	c, err := NewS3ForBucket(ctx, cfg, "eu-site")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Options().Region; got != "eu-west-1" {
		t.Errorf("client region %s, want eu-west-1", got)
	}
	if err := put(c); err != nil {
		t.Errorf("put in the bucket's region: %v", err)
	}
	if _, err := NewS3ForBucket(ctx, cfg, "no-such-site"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing bucket: %v", err)
	}
}
