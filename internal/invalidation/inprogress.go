package invalidation

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
)

// ListAPI is what InProgress needs: ListInvalidations (through the SDK paginator) and,
// because list items carry only Id, Status and CreateTime, GetInvalidation for each
// invalidation in progress to count its paths. *cloudfront.Client implements it.
type ListAPI interface {
	cloudfront.ListInvalidationsAPIClient
	GetInvalidation(ctx context.Context, in *cloudfront.GetInvalidationInput, optFns ...func(*cloudfront.Options)) (*cloudfront.GetInvalidationOutput, error)
}

// Usage is what the invalidations in progress on one distribution hold against
// CloudFront's per-distribution limits (MaxInProgressPaths exact paths and
// MaxInProgressWildcards wildcard paths, counted apart).
type Usage struct {
	DistributionID   string
	Exact, Wildcards int
	// Invalidations are the invalidations in progress, in the list's order (newest
	// first on CloudFront).
	Invalidations []Invalidation
}

// FreeExact is how many more exact paths CloudFront would accept now.
func (u Usage) FreeExact() int { return max(0, MaxInProgressPaths-u.Exact) }

// FreeWildcards is how many more wildcard paths CloudFront would accept now.
func (u Usage) FreeWildcards() int { return max(0, MaxInProgressWildcards-u.Wildcards) }

// InProgressHorizon bounds the listing: CloudFront lists invalidations newest first, and
// invalidations take minutes (rarely more than a quarter of an hour), so once a page ends
// with one created longer ago than this, the later pages (older still) are not read. A
// distribution with years of history then costs one or two list calls, not hundreds.
// An invalidation older than this that is somehow still in progress on an unread page
// is not counted: the plan may then exceed the room, and CloudFront's
// TooManyInvalidationsInProgress is retried with backoff.
const InProgressHorizon = 2 * time.Hour

// InProgress lists the invalidations of distributionID and counts the exact and
// wildcard paths of those still in progress. The status is compared ignoring case
// (moto answers "COMPLETED"); an invalidation listed as in progress that Get finds
// completed (it finished in between) is not counted.
func InProgress(ctx context.Context, api ListAPI, distributionID string) (Usage, error) {
	u := Usage{DistributionID: distributionID}
	if distributionID == "" {
		return u, errors.New("list invalidations: no distribution id")
	}
	p := cloudfront.NewListInvalidationsPaginator(api, &cloudfront.ListInvalidationsInput{DistributionId: aws.String(distributionID)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return u, fmt.Errorf("list invalidations for %s: %w", distributionID, err)
		}
		if page.InvalidationList == nil {
			break
		}
		items := page.InvalidationList.Items
		for _, item := range items {
			if !strings.EqualFold(aws.ToString(item.Status), StatusInProgress) {
				continue
			}
			inv, err := get(ctx, api, distributionID, aws.ToString(item.Id))
			if err != nil {
				return u, fmt.Errorf("count the paths in progress: %w", err)
			}
			if inv.Completed() {
				continue
			}
			exact, wild := CountPaths(inv.Paths)
			u.Exact += exact
			u.Wildcards += wild
			u.Invalidations = append(u.Invalidations, inv)
		}
		if n := len(items); n > 0 {
			if last := aws.ToTime(items[n-1].CreateTime); !last.IsZero() && time.Since(last) > InProgressHorizon {
				break // the next pages are older still
			}
		}
	}
	return u, nil
}

// Room is what can be sent in one invalidation to every distribution of a set: the
// smallest free exact and wildcard counts among them.
type Room struct {
	Exact, Wildcards int
	// Usages holds each distribution's usage, in the order asked.
	Usages []Usage
}

// RoomOn looks up the invalidations in progress on every distribution in dists
// (InProgress, one after the other) and returns the room left on all of them. With no
// distribution the room is CloudFront's whole limits.
func RoomOn(ctx context.Context, api ListAPI, dists []string) (Room, error) {
	r := Room{Exact: MaxInProgressPaths, Wildcards: MaxInProgressWildcards}
	for _, d := range dists {
		u, err := InProgress(ctx, api, d)
		if err != nil {
			return r, err
		}
		r.Usages = append(r.Usages, u)
		r.Exact = min(r.Exact, u.FreeExact())
		r.Wildcards = min(r.Wildcards, u.FreeWildcards())
	}
	return r, nil
}

// Busy returns the invalidations in progress on any of the distributions.
func (r Room) Busy() []Invalidation {
	var out []Invalidation
	for _, u := range r.Usages {
		out = append(out, u.Invalidations...)
	}
	return out
}

// Fit caps a budget of maxPaths paths in all with maxWildcards wildcards among them
// (both explicit counts, no defaults) to the room: wildcards to min(maxWildcards,
// r.Wildcards), paths to min(maxPaths, r.Exact). Any plan within the result fits
// whatever its mix of exact paths and wildcards; capping the paths by the free exact
// ones alone is stricter than needed, but only matters near CloudFront's 3,000. The
// wildcards never exceed the paths; negative inputs count as 0.
func (r Room) Fit(maxPaths, maxWildcards int) (paths, wildcards int) {
	paths = max(0, min(maxPaths, r.Exact))
	wildcards = max(0, min(maxWildcards, r.Wildcards, paths))
	return paths, wildcards
}

// Describe names the invalidations in progress and what they hold, for messages:
// "E1: I2 (12 wildcard, 3 exact paths), I1 (...)". Empty when none is in progress.
func (r Room) Describe() string {
	var parts []string
	for _, u := range r.Usages {
		if len(u.Invalidations) == 0 {
			continue
		}
		var ids []string
		for _, inv := range u.Invalidations {
			exact, wild := CountPaths(inv.Paths)
			ids = append(ids, fmt.Sprintf("%s (%d wildcard, %d exact paths)", inv.ID, wild, exact))
		}
		parts = append(parts, u.DistributionID+": "+strings.Join(ids, ", "))
	}
	return strings.Join(parts, "; ")
}
