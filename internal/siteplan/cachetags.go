package siteplan

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/edgeflush/edgeflush/internal/cachetag"
	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/origin"
	"github.com/edgeflush/edgeflush/internal/sitesync"
)

// CacheTags is one deploy's cache tag state, shared by the CLI's deploy and the
// action's deploy mode (docs/deploy.md, "Cache tags"): the metadata keys every upload
// carries edgeflush's tags in, for the targets whose distribution has a CacheTagConfig,
// and the ledger of since when each object is tagged.
type CacheTags struct {
	// Meta are the S3 metadata keys for sitesync.Options.CacheTagMetadata.
	Meta []string
	// Skipped names targets whose CacheTagConfig header S3 cannot send (not
	// x-amz-meta-NAME): they are planned with paths only.
	Skipped []string

	sites  *origin.Reader
	ledger *sitesync.TagLedger
	now    time.Time
	first  []string // keys first tagged by this run (TagLedger.Retag)
}

// NewCacheTags reads the targets' CacheTagConfig; nil when no target has one an S3
// origin can answer.
func NewCacheTags(ctx context.Context, r *origin.Reader, targets []string) (*CacheTags, error) {
	if r == nil {
		return nil, nil
	}
	c := &CacheTags{sites: r}
	for _, t := range targets {
		d, err := r.Target(ctx, t)
		if err != nil {
			return nil, err
		}
		if d.CacheTagHeader == "" {
			continue
		}
		mk := cachetag.MetadataKey(d.CacheTagHeader)
		if mk == "" {
			c.Skipped = append(c.Skipped, fmt.Sprintf("%s: CacheTagConfig names the header %q, which S3 cannot send (want x-amz-meta-NAME); planning paths only", invalidation.Label(t), d.CacheTagHeader))
			continue
		}
		if err := sitesync.CheckCacheTagMetadata(mk); err != nil {
			return nil, fmt.Errorf("%s: CacheTagConfig: %w", invalidation.Label(t), err)
		}
		if !slices.Contains(c.Meta, mk) {
			c.Meta = append(c.Meta, mk)
		}
	}
	if len(c.Meta) == 0 {
		return &CacheTags{Skipped: c.Skipped}, nil
	}
	return c, nil
}

// Enabled reports whether the deploy writes tags.
func (c *CacheTags) Enabled() bool { return c != nil && len(c.Meta) > 0 }

// Record reads the ledger and notes what the sync wrote. It runs before planning: an
// object uploaded now for the first time is tagged too recently to be invalidated by tag.
func (c *CacheTags) Record(ctx context.Context, client sitesync.S3API, bucket, prefix string, res sitesync.Result) error {
	if !c.Enabled() {
		return nil
	}
	l, err := sitesync.ReadTagLedger(ctx, client, bucket, prefix)
	if err != nil {
		return err
	}
	c.ledger, c.now = l, time.Now()
	c.first = l.Record(res, true, c.now)
	return nil
}

// Func gives the planner an object's tags on a target: a changed object's only when
// every cached copy must carry them (cachetag.Usable), an unchanged object's when it
// was ever tagged. Nil when the deploy writes no tags.
func (c *CacheTags) Func(ctx context.Context) TagsFunc {
	if !c.Enabled() || c.ledger == nil {
		return nil
	}
	return func(target, key string, changed bool) []string {
		d, err := c.sites.Target(ctx, target)
		if err != nil || cachetag.MetadataKey(d.CacheTagHeader) == "" {
			return nil
		}
		since := c.ledger.TaggedSince(key)
		if since.IsZero() {
			return nil
		}
		if changed && !cachetag.Usable(since, c.ledger.LastFull(target), d.MaxTTL, c.now) {
			return nil
		}
		return cachetag.For(key)
	}
}

// Finish notes the targets that got a full invalidation ("/*") now, and writes the
// ledger.
func (c *CacheTags) Finish(ctx context.Context, client sitesync.S3API, bucket, prefix string, fullTargets []string) error {
	if !c.Enabled() || c.ledger == nil {
		return nil
	}
	now := time.Now()
	c.ledger.Retag(c.first, now) // the uploads are done by now
	for _, t := range fullTargets {
		c.ledger.NoteFull(t, now)
	}
	return c.ledger.Write(ctx, client, bucket, prefix)
}
