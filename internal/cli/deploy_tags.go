package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/edgeflush/edgeflush/internal/origin"
	"github.com/edgeflush/edgeflush/internal/siteplan"
	"github.com/edgeflush/edgeflush/internal/sitesync"
)

// deployCacheTags reads the targets' CacheTagConfig (siteplan.CacheTags; docs/deploy.md,
// "Cache tags") and says which targets get paths only.
func (a *app) deployCacheTags(ctx context.Context, sites *origin.Reader, dists []string) (*siteplan.CacheTags, error) {
	c, err := siteplan.NewCacheTags(ctx, sites, dists)
	if err != nil || c == nil {
		return c, err
	}
	for _, s := range c.Skipped {
		fmt.Fprintf(a.stderr, "edgeflush: %s\n", s)
	}
	return c, nil
}

// finishCacheTags records the targets whose invalidation "/*" was created and writes the
// tag ledger.
func finishCacheTags(ctx context.Context, c *siteplan.CacheTags, client sitesync.S3API, bucket, prefix string, out *deployOutput) error {
	var full []string
	for _, inv := range out.Invalidations {
		if inv.ID != "" && slices.Contains(out.pathsFor(inv.Distribution), "/*") {
			full = append(full, inv.Distribution)
		}
	}
	return c.Finish(ctx, client, bucket, prefix, full)
}
