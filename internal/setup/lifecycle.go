package setup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3API is what setup needs of S3 for the site bucket's lifecycle rule
// (Options.RemovedVersionsDays).
type S3API interface {
	GetBucketVersioning(context.Context, *s3.GetBucketVersioningInput, ...func(*s3.Options)) (*s3.GetBucketVersioningOutput, error)
	PutBucketVersioning(context.Context, *s3.PutBucketVersioningInput, ...func(*s3.Options)) (*s3.PutBucketVersioningOutput, error)
	GetBucketLifecycleConfiguration(context.Context, *s3.GetBucketLifecycleConfigurationInput, ...func(*s3.Options)) (*s3.GetBucketLifecycleConfigurationOutput, error)
	PutBucketLifecycleConfiguration(context.Context, *s3.PutBucketLifecycleConfigurationInput, ...func(*s3.Options)) (*s3.PutBucketLifecycleConfigurationOutput, error)
}

// LifecycleRuleID names the rule setup manages in the site bucket's lifecycle
// configuration; the bucket's other rules are kept as they are.
const LifecycleRuleID = "edgeflush-removed"

// planLifecycle plans the site bucket's sweeper: versioning on (a delete then keeps the
// old bytes as a noncurrent version) and the lifecycle rule LifecycleRuleID expiring
// noncurrent versions under the site's prefix after Options.RemovedVersionsDays days
// and removing expired delete markers. A deploy's deletes stay as they are (visitors
// lose an object at its delete: --keep-removed is the grace period); the rule lets S3
// sweep the bytes, and keeps them restorable until then.
func planLifecycle(ctx context.Context, c S3API, o Options) ([]Change, error) {
	if o.RemovedVersionsDays <= 0 {
		return nil, nil
	}
	if c == nil {
		return nil, errors.New("setup: the lifecycle rule needs an S3 client")
	}
	prefix := strings.Trim(o.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	o.Prefix = prefix
	var changes []Change
	ver, err := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String(o.Bucket)})
	if err != nil {
		return nil, fmt.Errorf("read the versioning of bucket %s: %w", o.Bucket, err)
	}
	if ver.Status != s3types.BucketVersioningStatusEnabled {
		changes = append(changes, Change{Action: Update, Resource: "bucket versioning", Name: o.Bucket,
			Detail: "Enabled, so that a delete keeps the old bytes as a noncurrent version for the lifecycle rule",
			apply: func(ctx context.Context) error {
				_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(o.Bucket),
					VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
				return err
			}})
	}
	var rules []s3types.LifecycleRule
	out, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String(o.Bucket)})
	var ae smithy.APIError
	switch {
	case err == nil:
		rules = out.Rules
	case errors.As(err, &ae) && ae.ErrorCode() == "NoSuchLifecycleConfiguration":
	default:
		return nil, fmt.Errorf("read the lifecycle rules of bucket %s: %w", o.Bucket, err)
	}
	want := s3types.LifecycleRule{
		ID:                          aws.String(LifecycleRuleID),
		Status:                      s3types.ExpirationStatusEnabled,
		Filter:                      &s3types.LifecycleRuleFilter{Prefix: aws.String(o.Prefix)},
		NoncurrentVersionExpiration: &s3types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(int32(o.RemovedVersionsDays))},
		Expiration:                  &s3types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)},
	}
	i := slices.IndexFunc(rules, func(r s3types.LifecycleRule) bool { return aws.ToString(r.ID) == LifecycleRuleID })
	action := Create
	if i >= 0 {
		r := rules[i]
		if r.Status == want.Status && r.Filter != nil && aws.ToString(r.Filter.Prefix) == o.Prefix &&
			r.NoncurrentVersionExpiration != nil && aws.ToInt32(r.NoncurrentVersionExpiration.NoncurrentDays) == int32(o.RemovedVersionsDays) {
			return changes, nil
		}
		action = Update
		rules[i] = want
	} else {
		rules = append(rules, want)
	}
	if prefix == "" {
		prefix = "the whole bucket"
	}
	changes = append(changes, Change{Action: action, Resource: "bucket lifecycle rule", Name: o.Bucket + "/" + LifecycleRuleID,
		Detail: fmt.Sprintf("noncurrent versions under %s expire after %d days; the bucket's other rules are kept", prefix, o.RemovedVersionsDays),
		apply: func(ctx context.Context) error {
			_, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String(o.Bucket),
				LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: rules}})
			return err
		}})
	return changes, nil
}
