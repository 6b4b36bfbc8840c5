package cli

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/edgeflush/edgeflush/internal/cachetag"
	"github.com/edgeflush/edgeflush/internal/origin"
	"github.com/edgeflush/edgeflush/internal/siteplan"
	"github.com/edgeflush/edgeflush/internal/sitesync"
)

// deployTags is one deploy's cache tag state, for targets whose distribution has a
// CacheTagConfig (docs/deploy.md, "Cache tags"): the metadata keys every upload
// carries the tags in, and the ledger of since when each object is tagged.
type deployTags struct {
	sites  *origin.Reader
	meta   []string
	ledger *sitesync.TagLedger
	now    time.Time
}

// deployCacheTags reads the targets' CacheTagConfig; nil when none has one that an S3
// origin can answer (a header x-amz-meta-NAME).
func (a *app) deployCacheTags(ctx context.Context, sites *origin.Reader, dists []string) (*deployTags, error) {
	if sites == nil {
		return nil, nil
	}
	dt := &deployTags{sites: sites}
	for _, t := range dists {
		d, err := sites.Target(ctx, t)
		if err != nil {
			return nil, err
		}
		if d.CacheTagHeader == "" {
			continue
		}
		mk := cachetag.MetadataKey(d.CacheTagHeader)
		if mk == "" {
			fmt.Fprintf(a.stderr, "edgeflush: %s: CacheTagConfig names the header %q, which S3 cannot send (want x-amz-meta-NAME); planning paths only\n", t, d.CacheTagHeader)
			continue
		}
		if err := sitesync.CheckCacheTagMetadata(mk); err != nil {
			return nil, fmt.Errorf("%s: CacheTagConfig: %w", t, err)
		}
		if !slices.Contains(dt.meta, mk) {
			dt.meta = append(dt.meta, mk)
		}
	}
	if len(dt.meta) == 0 {
		return nil, nil
	}
	return dt, nil
}

// record reads the ledger and notes what the sync wrote (before planning: an object
// uploaded now is tagged too recently to be invalidated by tag, unless it was tagged
// before).
func (dt *deployTags) record(ctx context.Context, client sitesync.S3API, bucket, prefix string, res sitesync.Result) error {
	l, err := sitesync.ReadTagLedger(ctx, client, bucket, prefix)
	if err != nil {
		return err
	}
	dt.ledger, dt.now = l, time.Now()
	l.Record(res, true, dt.now)
	return nil
}

// tagsFunc gives the planner an object's tags: a changed object's only when every
// cached copy on the target must carry them (cachetag.Usable), an unchanged object's
// when it was ever tagged.
func (dt *deployTags) tagsFunc(ctx context.Context) siteplan.TagsFunc {
	if dt == nil || dt.ledger == nil {
		return nil
	}
	return func(target, key string, changed bool) []string {
		d, err := dt.sites.Target(ctx, target)
		if err != nil || cachetag.MetadataKey(d.CacheTagHeader) == "" {
			return nil
		}
		since := dt.ledger.TaggedSince(key)
		if since.IsZero() {
			return nil
		}
		if changed && !cachetag.Usable(since, dt.ledger.LastFull(target), d.MaxTTL, dt.now) {
			return nil
		}
		return cachetag.For(key)
	}
}

// finish notes the full invalidations created and writes the ledger.
func (dt *deployTags) finish(ctx context.Context, client sitesync.S3API, bucket, prefix string, out *deployOutput) error {
	if dt == nil || dt.ledger == nil {
		return nil
	}
	for _, inv := range out.Invalidations {
		if inv.ID != "" && slices.Contains(out.pathsFor(inv.Distribution), "/*") {
			dt.ledger.NoteFull(inv.Distribution, time.Now())
		}
	}
	return dt.ledger.Write(ctx, client, bucket, prefix)
}
