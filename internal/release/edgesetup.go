package release

// edgesetup.go installs what releases need in CloudFront, idempotently: the KeyValueStore,
// the function (deploy/edge/releases.js, runtime 2.0, associated with the store) published
// to LIVE, and the function associated with the distribution's default cache behavior for
// viewer-request and viewer-response. TeardownEdge removes what SetupEdge made.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"

	edgefn "github.com/edgeflush/edgeflush/deploy/edge"
)

// CloudFrontAPI is the subset of *cloudfront.Client the edge set-up uses.
type CloudFrontAPI interface {
	CreateKeyValueStore(context.Context, *cloudfront.CreateKeyValueStoreInput, ...func(*cloudfront.Options)) (*cloudfront.CreateKeyValueStoreOutput, error)
	DescribeKeyValueStore(context.Context, *cloudfront.DescribeKeyValueStoreInput, ...func(*cloudfront.Options)) (*cloudfront.DescribeKeyValueStoreOutput, error)
	DeleteKeyValueStore(context.Context, *cloudfront.DeleteKeyValueStoreInput, ...func(*cloudfront.Options)) (*cloudfront.DeleteKeyValueStoreOutput, error)
	CreateFunction(context.Context, *cloudfront.CreateFunctionInput, ...func(*cloudfront.Options)) (*cloudfront.CreateFunctionOutput, error)
	DescribeFunction(context.Context, *cloudfront.DescribeFunctionInput, ...func(*cloudfront.Options)) (*cloudfront.DescribeFunctionOutput, error)
	GetFunction(context.Context, *cloudfront.GetFunctionInput, ...func(*cloudfront.Options)) (*cloudfront.GetFunctionOutput, error)
	UpdateFunction(context.Context, *cloudfront.UpdateFunctionInput, ...func(*cloudfront.Options)) (*cloudfront.UpdateFunctionOutput, error)
	PublishFunction(context.Context, *cloudfront.PublishFunctionInput, ...func(*cloudfront.Options)) (*cloudfront.PublishFunctionOutput, error)
	DeleteFunction(context.Context, *cloudfront.DeleteFunctionInput, ...func(*cloudfront.Options)) (*cloudfront.DeleteFunctionOutput, error)
	GetDistributionConfig(context.Context, *cloudfront.GetDistributionConfigInput, ...func(*cloudfront.Options)) (*cloudfront.GetDistributionConfigOutput, error)
	UpdateDistribution(context.Context, *cloudfront.UpdateDistributionInput, ...func(*cloudfront.Options)) (*cloudfront.UpdateDistributionOutput, error)
}

// managedComment marks the function and the store SetupEdge made; TeardownEdge deletes
// nothing without it.
const managedComment = "edgeflush releases (managed by edgeflush setup --release)"

// EdgeOptions name what SetupEdge installs.
type EdgeOptions struct {
	DistributionID string
	// Name of the function and of the store; default "edgeflush-releases-<distribution>".
	Name string
	// DryRun lists the changes and makes none.
	DryRun bool
}

func (o *EdgeOptions) normalize() error {
	if o.DistributionID == "" {
		return errors.New("no distribution given: name the distribution whose default cache behavior serves the site")
	}
	if o.Name == "" {
		o.Name = "edgeflush-releases-" + o.DistributionID
	}
	for _, c := range o.Name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') || len(o.Name) > 64 {
			return fmt.Errorf("name %q: CloudFront allows 1 to 64 letters, digits, '-' and '_'", o.Name)
		}
	}
	return nil
}

// EdgeResult reports SetupEdge or TeardownEdge.
type EdgeResult struct {
	KvsARN, FunctionARN string
	Changes             []string // what was (or, for a dry run, would be) changed
}

// AssociationConflictError is returned when the default cache behavior already runs
// another function (or Lambda@Edge function) where the release function must go.
type AssociationConflictError struct {
	Distribution, EventType, ARN string
}

func (e *AssociationConflictError) Error() string {
	return fmt.Sprintf("distribution %s already runs %s for %s on its default cache behavior: releases need that slot; merge its logic into deploy/edge/releases.js or remove it, then rerun", e.Distribution, e.ARN, e.EventType)
}

func notFound(err error, codes ...string) bool {
	for _, c := range codes {
		if strings.Contains(err.Error(), c) {
			return true
		}
	}
	var nsf *cftypes.NoSuchFunctionExists
	var enf *cftypes.EntityNotFound
	return errors.As(err, &nsf) || errors.As(err, &enf)
}

// SetupEdge installs (or completes, or updates) the release machinery on a distribution.
func SetupEdge(ctx context.Context, cf CloudFrontAPI, o EdgeOptions) (EdgeResult, error) {
	if err := o.normalize(); err != nil {
		return EdgeResult{}, err
	}
	var res EdgeResult
	change := func(s string) { res.Changes = append(res.Changes, s) }
	code := edgefn.ReleasesJS

	dc, err := cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(o.DistributionID)})
	if err != nil {
		return res, fmt.Errorf("read distribution %s: %w", o.DistributionID, err)
	}
	fnARN := "" // known once the function exists
	if d, err := cf.DescribeFunction(ctx, &cloudfront.DescribeFunctionInput{Name: aws.String(o.Name)}); err == nil {
		fnARN = aws.ToString(d.FunctionSummary.FunctionMetadata.FunctionARN)
	} else if !notFound(err) {
		return res, fmt.Errorf("describe function %s: %w", o.Name, err)
	}
	// Refuse before changing anything when the slots are taken by someone else.
	dcb := dc.DistributionConfig.DefaultCacheBehavior
	if dcb.FunctionAssociations != nil {
		for _, a := range dcb.FunctionAssociations.Items {
			if (a.EventType == cftypes.EventTypeViewerRequest || a.EventType == cftypes.EventTypeViewerResponse) && aws.ToString(a.FunctionARN) != fnARN {
				return res, &AssociationConflictError{o.DistributionID, string(a.EventType), aws.ToString(a.FunctionARN)}
			}
		}
	}
	if dcb.LambdaFunctionAssociations != nil {
		for _, a := range dcb.LambdaFunctionAssociations.Items {
			if a.EventType == cftypes.EventTypeViewerRequest || a.EventType == cftypes.EventTypeViewerResponse {
				return res, &AssociationConflictError{o.DistributionID, string(a.EventType), aws.ToString(a.LambdaFunctionARN)}
			}
		}
	}

	// 1. The store.
	if d, err := cf.DescribeKeyValueStore(ctx, &cloudfront.DescribeKeyValueStoreInput{Name: aws.String(o.Name)}); err == nil {
		res.KvsARN = aws.ToString(d.KeyValueStore.ARN)
	} else if !notFound(err) {
		return res, fmt.Errorf("describe KeyValueStore %s: %w", o.Name, err)
	} else {
		change("create KeyValueStore " + o.Name)
		if !o.DryRun {
			out, err := cf.CreateKeyValueStore(ctx, &cloudfront.CreateKeyValueStoreInput{Name: aws.String(o.Name), Comment: aws.String(managedComment)})
			if err != nil {
				return res, fmt.Errorf("create KeyValueStore %s: %w", o.Name, err)
			}
			res.KvsARN = aws.ToString(out.KeyValueStore.ARN)
		}
	}
	cfg := &cftypes.FunctionConfig{Comment: aws.String(managedComment), Runtime: cftypes.FunctionRuntimeCloudfrontJs20,
		KeyValueStoreAssociations: &cftypes.KeyValueStoreAssociations{Quantity: aws.Int32(1), Items: []cftypes.KeyValueStoreAssociation{{KeyValueStoreARN: aws.String(res.KvsARN)}}}}

	// 2. The function, its code up to date, published.
	var etag *string
	if fnARN == "" {
		change(fmt.Sprintf("create function %s (%s, %d bytes of deploy/edge/releases.js)", o.Name, edgefn.Runtime, len(code)))
		if !o.DryRun {
			out, err := cf.CreateFunction(ctx, &cloudfront.CreateFunctionInput{Name: aws.String(o.Name), FunctionCode: code, FunctionConfig: cfg})
			if err != nil {
				return res, fmt.Errorf("create function %s: %w", o.Name, err)
			}
			fnARN, etag = aws.ToString(out.FunctionSummary.FunctionMetadata.FunctionARN), out.ETag
		}
	} else {
		dev, err := cf.GetFunction(ctx, &cloudfront.GetFunctionInput{Name: aws.String(o.Name), Stage: cftypes.FunctionStageDevelopment})
		if err != nil {
			return res, fmt.Errorf("read function %s: %w", o.Name, err)
		}
		etag = dev.ETag
		if !bytes.Equal(dev.FunctionCode, code) {
			change("update function " + o.Name + " to this version's releases.js")
			if !o.DryRun {
				out, err := cf.UpdateFunction(ctx, &cloudfront.UpdateFunctionInput{Name: aws.String(o.Name), IfMatch: etag, FunctionCode: code, FunctionConfig: cfg})
				if err != nil {
					return res, fmt.Errorf("update function %s: %w", o.Name, err)
				}
				etag = out.ETag
			}
		}
	}
	live, err := cf.GetFunction(ctx, &cloudfront.GetFunctionInput{Name: aws.String(o.Name), Stage: cftypes.FunctionStageLive})
	if err != nil || !bytes.Equal(live.FunctionCode, code) {
		change("publish function " + o.Name)
		if !o.DryRun {
			if _, err := cf.PublishFunction(ctx, &cloudfront.PublishFunctionInput{Name: aws.String(o.Name), IfMatch: etag}); err != nil {
				return res, fmt.Errorf("publish function %s: %w", o.Name, err)
			}
		}
	}
	res.FunctionARN = fnARN

	// 3. The associations, with the distribution's ETag.
	have := map[cftypes.EventType]bool{}
	if dcb.FunctionAssociations != nil {
		for _, a := range dcb.FunctionAssociations.Items {
			have[a.EventType] = aws.ToString(a.FunctionARN) == fnARN && fnARN != ""
		}
	}
	if !have[cftypes.EventTypeViewerRequest] || !have[cftypes.EventTypeViewerResponse] {
		change(fmt.Sprintf("associate function %s with distribution %s (default cache behavior: viewer-request, viewer-response)", o.Name, o.DistributionID))
		if !o.DryRun {
			var keep []cftypes.FunctionAssociation
			if dcb.FunctionAssociations != nil {
				for _, a := range dcb.FunctionAssociations.Items {
					if a.EventType != cftypes.EventTypeViewerRequest && a.EventType != cftypes.EventTypeViewerResponse {
						keep = append(keep, a)
					}
				}
			}
			keep = append(keep,
				cftypes.FunctionAssociation{EventType: cftypes.EventTypeViewerRequest, FunctionARN: aws.String(fnARN)},
				cftypes.FunctionAssociation{EventType: cftypes.EventTypeViewerResponse, FunctionARN: aws.String(fnARN)})
			dcb.FunctionAssociations = &cftypes.FunctionAssociations{Quantity: aws.Int32(int32(len(keep))), Items: keep}
			if _, err := cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: aws.String(o.DistributionID), IfMatch: dc.ETag, DistributionConfig: dc.DistributionConfig}); err != nil {
				return res, fmt.Errorf("associate function %s with distribution %s: %w", o.Name, o.DistributionID, err)
			}
		}
	}
	return res, nil
}

// TeardownEdge removes the associations, the function and the store SetupEdge made
// (the releases in the bucket stay). Resources without edgeflush's comment are left alone.
func TeardownEdge(ctx context.Context, cf CloudFrontAPI, o EdgeOptions) (EdgeResult, error) {
	if err := o.normalize(); err != nil {
		return EdgeResult{}, err
	}
	var res EdgeResult
	change := func(s string) { res.Changes = append(res.Changes, s) }
	d, err := cf.DescribeFunction(ctx, &cloudfront.DescribeFunctionInput{Name: aws.String(o.Name)})
	if err != nil && !notFound(err) {
		return res, fmt.Errorf("describe function %s: %w", o.Name, err)
	}
	if err == nil {
		if aws.ToString(d.FunctionSummary.FunctionConfig.Comment) != managedComment {
			return res, fmt.Errorf("function %s was not made by edgeflush setup --release: left alone", o.Name)
		}
		res.FunctionARN = aws.ToString(d.FunctionSummary.FunctionMetadata.FunctionARN)
		dc, err := cf.GetDistributionConfig(ctx, &cloudfront.GetDistributionConfigInput{Id: aws.String(o.DistributionID)})
		if err != nil {
			return res, fmt.Errorf("read distribution %s: %w", o.DistributionID, err)
		}
		dcb := dc.DistributionConfig.DefaultCacheBehavior
		if dcb.FunctionAssociations != nil {
			var keep []cftypes.FunctionAssociation
			for _, a := range dcb.FunctionAssociations.Items {
				if aws.ToString(a.FunctionARN) != res.FunctionARN {
					keep = append(keep, a)
				}
			}
			if len(keep) != len(dcb.FunctionAssociations.Items) {
				change(fmt.Sprintf("remove function %s from distribution %s", o.Name, o.DistributionID))
				if !o.DryRun {
					dcb.FunctionAssociations = &cftypes.FunctionAssociations{Quantity: aws.Int32(int32(len(keep))), Items: keep}
					if _, err := cf.UpdateDistribution(ctx, &cloudfront.UpdateDistributionInput{Id: aws.String(o.DistributionID), IfMatch: dc.ETag, DistributionConfig: dc.DistributionConfig}); err != nil {
						return res, fmt.Errorf("remove function %s from distribution %s: %w", o.Name, o.DistributionID, err)
					}
				}
			}
		}
		change("delete function " + o.Name)
		if !o.DryRun {
			d, err := cf.DescribeFunction(ctx, &cloudfront.DescribeFunctionInput{Name: aws.String(o.Name)})
			if err != nil {
				return res, fmt.Errorf("describe function %s: %w", o.Name, err)
			}
			if _, err := cf.DeleteFunction(ctx, &cloudfront.DeleteFunctionInput{Name: aws.String(o.Name), IfMatch: d.ETag}); err != nil {
				return res, fmt.Errorf("delete function %s: %w", o.Name, err)
			}
		}
	}
	s, err := cf.DescribeKeyValueStore(ctx, &cloudfront.DescribeKeyValueStoreInput{Name: aws.String(o.Name)})
	if err != nil && !notFound(err) {
		return res, fmt.Errorf("describe KeyValueStore %s: %w", o.Name, err)
	}
	if err == nil {
		if aws.ToString(s.KeyValueStore.Comment) != managedComment {
			return res, fmt.Errorf("KeyValueStore %s was not made by edgeflush setup --release: left alone", o.Name)
		}
		res.KvsARN = aws.ToString(s.KeyValueStore.ARN)
		change("delete KeyValueStore " + o.Name)
		if !o.DryRun {
			if _, err := cf.DeleteKeyValueStore(ctx, &cloudfront.DeleteKeyValueStoreInput{Name: aws.String(o.Name), IfMatch: s.ETag}); err != nil {
				return res, fmt.Errorf("delete KeyValueStore %s: %w", o.Name, err)
			}
		}
	}
	return res, nil
}
