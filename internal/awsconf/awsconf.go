// Package awsconf is the one place where edgeflush builds its AWS SDK configuration:
// the SDK's default chain (so AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, profiles and
// the Lambda execution role all work unchanged), a retryer tuned for CloudFront's
// throttling, and optional cross-account role assumption.
package awsconf

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/cloudfrontkeyvaluestore"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// DefaultRegion is used when neither the environment nor a profile names one.
// CloudFront is a global service signed for us-east-1, so it is the natural default.
const DefaultRegion = "us-east-1"

// Options adjusts the default configuration.
type Options struct {
	// Region overrides the region from the environment.
	Region string
	// MaxAttempts bounds the SDK retryer; zero means 8 attempts. CloudFront answers
	// "Rate exceeded" after a handful of quick calls, so more than the SDK's default 3
	// attempts are worth their backoff.
	MaxAttempts int
	// MaxBackoff caps one retry delay; zero means 20 seconds.
	MaxBackoff time.Duration
}

// Load returns the SDK configuration from the default chain with edgeflush's retryer.
func Load(ctx context.Context, o Options) (aws.Config, error) {
	attempts := o.MaxAttempts
	if attempts == 0 {
		attempts = 8
	}
	backoff := o.MaxBackoff
	if backoff == 0 {
		backoff = 20 * time.Second
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = attempts
				so.MaxBackoff = backoff
			})
		}),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	return cfg, nil
}

// AssumeRole returns a copy of cfg whose credentials come from assuming roleARN
// (with externalID when it is not empty). The credentials are cached and refreshed
// before they expire. Calls made with the original cfg keep the caller's own identity,
// which is what CodePipeline's job-result calls need in a cross-account setup.
func AssumeRole(cfg aws.Config, roleARN, externalID, sessionName string) aws.Config {
	if sessionName == "" {
		sessionName = "edgeflush"
	}
	provider := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), roleARN, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = sessionName
		if externalID != "" {
			o.ExternalID = aws.String(externalID)
		}
	})
	out := cfg.Copy()
	out.Credentials = aws.NewCredentialsCache(provider)
	return out
}

// NewS3 returns an S3 client. When a custom endpoint is configured through the
// standard variables (an emulator, MinIO, a proxy), it uses path-style addressing,
// since virtual-host buckets do not resolve on such endpoints.
func NewS3(cfg aws.Config, optFns ...func(*s3.Options)) *s3.Client {
	custom := os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != "" || cfg.BaseEndpoint != nil
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		if custom {
			o.UsePathStyle = true
		}
	}}, optFns...)...)
}

// NewKeyValueStore returns a CloudFront KeyValueStore client (SigV4A-signed, as the
// service requires). The SDK's endpoint rule puts the store's account id in front of the
// host ({account}.cloudfront-kvs.global.api.aws); a custom endpoint (the
// AWS_ENDPOINT_URL_CLOUDFRONT_KEYVALUESTORE variable, a VPC endpoint, a local stand-in)
// is used as given instead, since a host such as 123456789012.127.0.0.1 resolves nowhere.
func NewKeyValueStore(cfg aws.Config, optFns ...func(*cloudfrontkeyvaluestore.Options)) *cloudfrontkeyvaluestore.Client {
	return cloudfrontkeyvaluestore.NewFromConfig(cfg, append([]func(*cloudfrontkeyvaluestore.Options){func(o *cloudfrontkeyvaluestore.Options) {
		if o.BaseEndpoint != nil {
			o.EndpointResolverV2 = asGivenEndpoint{base: *o.BaseEndpoint, next: cloudfrontkeyvaluestore.NewDefaultEndpointResolverV2()}
		}
	}}, optFns...)...)
}

type asGivenEndpoint struct {
	base string
	next cloudfrontkeyvaluestore.EndpointResolverV2
}

// ResolveEndpoint keeps the default rule's signing properties (SigV4A, service name) and
// replaces its URI with the configured endpoint.
func (a asGivenEndpoint) ResolveEndpoint(ctx context.Context, p cloudfrontkeyvaluestore.EndpointParameters) (smithyendpoints.Endpoint, error) {
	ep, err := a.next.ResolveEndpoint(ctx, p)
	if err != nil {
		return ep, err
	}
	u, err := url.Parse(a.base)
	if err != nil {
		return ep, fmt.Errorf("KeyValueStore endpoint %q: %w", a.base, err)
	}
	ep.URI = *u
	return ep, nil
}

// NewS3ForBucket returns an S3 client for bucket in the bucket's own region: a bucket
// in another region than the configuration's would otherwise answer every request
// with 301 PermanentRedirect. The region is asked with one HeadBucket
// (manager.GetBucketRegion, which reads x-amz-bucket-region from any answer, a
// redirect or a 403 included). When the lookup fails for another reason than a missing
// bucket, the configuration's region is used and the real error shows at the first
// request.
func NewS3ForBucket(ctx context.Context, cfg aws.Config, bucket string, optFns ...func(*s3.Options)) (*s3.Client, error) {
	client := NewS3(cfg, optFns...)
	region, err := manager.GetBucketRegion(ctx, client, bucket)
	var nf manager.BucketNotFound
	switch {
	case errors.As(err, &nf):
		return nil, fmt.Errorf("bucket %s does not exist (or is not visible to these credentials): check the bucket name", bucket)
	case err != nil, region == "", region == cfg.Region:
		return client, nil
	}
	return NewS3(cfg, append(optFns, func(o *s3.Options) { o.Region = region })...), nil
}
