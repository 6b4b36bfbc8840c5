package invalidation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// API is the subset of *cloudfront.Client used here.
type API interface {
	CreateInvalidation(ctx context.Context, in *cloudfront.CreateInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.CreateInvalidationOutput, error)
	GetInvalidation(ctx context.Context, in *cloudfront.GetInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error)
}

// DefaultPollInterval is the interval of `aws cloudfront wait invalidation-completed`,
// the longest pause PollDelay ever makes (after half an hour of waiting).
const DefaultPollInterval = 20 * time.Second

// PollDelay is the pause Wait makes before the next GetInvalidation when no fixed
// interval is given, by how long it has waited so far. Invalidations usually complete
// within 1-5 minutes and sometimes take more than 10: the wait returns within about
// 2 s of completion in the first minute and 4 s up to 10 minutes, then backs off to 10 s
// and, past 30 minutes, 20 s. That is at most one call every 2 s per invalidation, far
// below the rate at which CloudFront answers Throttling (a burst of 6-7 quick calls).
func PollDelay(waited time.Duration) time.Duration {
	switch {
	case waited < time.Minute:
		return 2 * time.Second
	case waited < 10*time.Minute:
		return 4 * time.Second
	case waited < 30*time.Minute:
		return 10 * time.Second
	}
	return DefaultPollInterval
}

// Status values. CloudFront answers "InProgress" then "Completed"; compare with
// strings.EqualFold, since emulators answer "COMPLETED".
const (
	StatusInProgress = "InProgress"
	StatusCompleted  = "Completed"
)

// Invalidation is one CloudFront invalidation as edgeflush sees it.
type Invalidation struct {
	DistributionID string
	ID             string
	Status         string
	Paths          []string // encoded, as CloudFront holds them
	CreateTime     time.Time
}

// Completed reports whether CloudFront has finished the invalidation. The comparison
// ignores case because moto answers "COMPLETED".
func (i Invalidation) Completed() bool { return strings.EqualFold(i.Status, StatusCompleted) }

// Create creates one invalidation of the given paths on distributionID. paths must
// already be prepared (PreparePaths); callerRef should come from CallerReference so
// that a retry returns the existing invalidation instead of creating another.
func Create(ctx context.Context, api API, distributionID string, paths []string, callerRef string) (Invalidation, error) {
	if distributionID == "" {
		return Invalidation{}, errors.New("create invalidation: no distribution id")
	}
	if len(paths) == 0 {
		return Invalidation{}, fmt.Errorf("create invalidation for %s: no paths", distributionID)
	}
	if callerRef == "" {
		return Invalidation{}, fmt.Errorf("create invalidation for %s: empty caller reference", distributionID)
	}
	out, err := api.CreateInvalidation(ctx, &cloudfront.CreateInvalidationInput{
		DistributionId: aws.String(distributionID),
		InvalidationBatch: &types.InvalidationBatch{
			CallerReference: aws.String(callerRef),
			Paths:           &types.Paths{Quantity: aws.Int32(int32(len(paths))), Items: paths},
		},
	})
	if err != nil {
		return Invalidation{}, fmt.Errorf("create invalidation for %s: %w", distributionID, err)
	}
	if out.Invalidation == nil {
		return Invalidation{}, fmt.Errorf("create invalidation for %s: response has no invalidation", distributionID)
	}
	inv := fromSDK(distributionID, out.Invalidation)
	if len(inv.Paths) == 0 {
		inv.Paths = append([]string(nil), paths...)
	}
	return inv, nil
}

// Get returns the current state of invalidation id on distributionID.
func Get(ctx context.Context, api API, distributionID, id string) (Invalidation, error) {
	return get(ctx, api, distributionID, id)
}

// getter is the one call Get makes; InProgress has no CreateInvalidation to offer.
type getter interface {
	GetInvalidation(ctx context.Context, in *cloudfront.GetInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error)
}

func get(ctx context.Context, api getter, distributionID, id string) (Invalidation, error) {
	out, err := api.GetInvalidation(ctx, &cloudfront.GetInvalidationInput{
		DistributionId: aws.String(distributionID),
		Id:             aws.String(id),
	})
	if err != nil {
		return Invalidation{}, fmt.Errorf("get invalidation %s for %s: %w", id, distributionID, err)
	}
	if out.Invalidation == nil {
		return Invalidation{}, fmt.Errorf("get invalidation %s for %s: response has no invalidation", id, distributionID)
	}
	return fromSDK(distributionID, out.Invalidation), nil
}

// Wait polls GetInvalidation until the invalidation is Completed or ctx is done: every
// interval, or, when interval <= 0, after PollDelay of the time waited so far (often at
// first, backing off for long waits). Transient errors (throttling, 5xx, network
// timeouts that outlast the SDK's own retries) are retried at the next poll; other
// errors end the wait. When ctx ends first, the error wraps ctx.Err() and the last
// known state is returned with it.
func Wait(ctx context.Context, api API, distributionID, id string, interval time.Duration) (Invalidation, error) {
	start := time.Now()
	delay := func() time.Duration {
		if interval > 0 {
			return interval
		}
		return PollDelay(time.Since(start))
	}
	last := Invalidation{DistributionID: distributionID, ID: id, Status: StatusInProgress}
	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastErr error
	for {
		select {
		case <-ctx.Done():
			err := fmt.Errorf("invalidation %s for %s still %s: %w", id, distributionID, last.Status, ctx.Err())
			if lastErr != nil {
				err = fmt.Errorf("%w (last error: %v)", err, lastErr)
			}
			return last, err
		case <-timer.C:
		}
		inv, err := Get(ctx, api, distributionID, id)
		switch {
		case err == nil:
			last, lastErr = inv, nil
			if inv.Completed() {
				return inv, nil
			}
		case ctx.Err() != nil:
			// The context ended during the call; report it at the top of the loop.
		case Classify(err) == KindTransient:
			lastErr = err
		default:
			return last, err
		}
		timer.Reset(delay())
	}
}

func fromSDK(distributionID string, in *types.Invalidation) Invalidation {
	inv := Invalidation{
		DistributionID: distributionID,
		ID:             aws.ToString(in.Id),
		Status:         aws.ToString(in.Status),
		CreateTime:     aws.ToTime(in.CreateTime),
	}
	if b := in.InvalidationBatch; b != nil && b.Paths != nil {
		inv.Paths = append([]string(nil), b.Paths.Items...)
	}
	return inv
}

// Kind groups errors by what the caller must do about them.
type Kind int

const (
	// KindOther is anything not classified below.
	KindOther Kind = iota
	// KindConfiguration: the request itself is wrong (no such distribution, bad path,
	// reused caller reference, batch too large); retrying will not help.
	KindConfiguration
	// KindPermission: the credentials may not do this (AccessDenied).
	KindPermission
	// KindInProgressLimit: TooManyInvalidationsInProgress; retry once some complete.
	KindInProgressLimit
	// KindTransient: throttling, 5xx, timeouts, network errors; retry later.
	KindTransient
)

func (k Kind) String() string {
	switch k {
	case KindConfiguration:
		return "configuration"
	case KindPermission:
		return "permission"
	case KindInProgressLimit:
		return "in-progress-limit"
	case KindTransient:
		return "transient"
	default:
		return "other"
	}
}

// Classify tells which Kind an error from Create, Get or Wait (or any CloudFront
// call) is. It looks at the smithy API error code first, then at the HTTP status, then
// at timeouts and network errors.
func Classify(err error) Kind {
	if err == nil {
		return KindOther
	}
	var pe *PathError
	var be *BatchError
	if errors.As(err, &pe) || errors.As(err, &be) {
		return KindConfiguration
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchDistribution", "NoSuchInvalidation", "EntityNotFound", "InvalidArgument", "InconsistentQuantities",
			"BatchTooLarge", "InvalidationBatchAlreadyExists", "MissingBody", "IllegalUpdate":
			return KindConfiguration
		case "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "SignatureDoesNotMatch",
			"UnrecognizedClientException", "ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId":
			return KindPermission
		case "TooManyInvalidationsInProgress":
			return KindInProgressLimit
		case "Throttling", "ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded",
			"ServiceUnavailable", "ServiceUnavailableException", "InternalError", "InternalFailure",
			"RequestTimeout", "RequestTimeoutException":
			return KindTransient
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		switch code := re.HTTPStatusCode(); {
		case code >= 500, code == 429:
			return KindTransient
		case code == 403:
			return KindPermission
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return KindTransient
	}
	var ne net.Error // includes *net.OpError (connection refused, reset)
	if errors.As(err, &ne) {
		return KindTransient
	}
	return KindOther
}

// Hint returns a short advice for an error of kind k, for messages shown to people.
func Hint(k Kind) string {
	switch k {
	case KindConfiguration:
		return "check the distribution id and the paths"
	case KindPermission:
		return "the credentials need cloudfront:CreateInvalidation, cloudfront:GetInvalidation and cloudfront:ListInvalidations on the distribution"
	case KindInProgressLimit:
		return "CloudFront allows 3,000 file paths and 15 wildcard paths in progress per distribution; wait for some to complete"
	case KindTransient:
		return "CloudFront is throttling or unavailable; try again later"
	}
	return ""
}
