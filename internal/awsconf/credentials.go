package awsconf

import (
	"context"
	"errors"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// CredentialSettings names, on one line, the settings that supply AWS credentials to
// the SDK's default chain.
const CredentialSettings = "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE " +
	"(a profile of ~/.aws/config or ~/.aws/credentials, e.g. after aws sso login), or AWS_ROLE_ARN " +
	"with AWS_WEB_IDENTITY_TOKEN_FILE (OIDC, as aws-actions/configure-aws-credentials sets them), " +
	"or run where an EC2 instance, ECS task, CodeBuild or Lambda role provides them"

// CredentialsError says the SDK could not get credentials. Missing is true when no
// setting supplied any: the default chain fell through to its last source, the EC2
// instance metadata service, and that had none either (or is not there).
type CredentialsError struct {
	Missing bool
	Err     error
}

func (e *CredentialsError) Error() string {
	if e.Missing {
		return "no AWS credentials found: " + CredentialSettings
	}
	return "the AWS credentials could not be loaded: " + e.Err.Error()
}

func (e *CredentialsError) Unwrap() error { return e.Err }

// CheckCredentials retrieves cfg's credentials once, before any call, so that their
// absence is reported as what it is instead of the SDK's chain of wrapped errors on the
// first request ("get identity: get credentials: failed to refresh cached credentials,
// no EC2 IMDS role found, ..."). The credentials cache keeps what it got for the calls.
func CheckCredentials(ctx context.Context, cfg aws.Config) error {
	if cfg.Credentials == nil {
		return &CredentialsError{Missing: true, Err: errors.New("no credentials provider")}
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		if ctx.Err() != nil {
			return err // interrupted, not a credentials problem
		}
		return &CredentialsError{Missing: onlyIMDS(cfg.Credentials), Err: err}
	}
	return nil
}

// onlyIMDS reports whether the provider is the default chain's fallback alone: the
// instance metadata service, used when no variable, profile or container endpoint
// named a source.
func onlyIMDS(p aws.CredentialsProvider) bool {
	src, ok := p.(aws.CredentialProviderSource)
	if !ok {
		return false
	}
	s := src.ProviderSources()
	return len(s) > 0 && !slices.ContainsFunc(s, func(c aws.CredentialSource) bool { return c != aws.CredentialSourceIMDS })
}
