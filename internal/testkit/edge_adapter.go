package testkit

import (
	"slices"

	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

// EdgeInvalidations lists the invalidations created through the proxy for
// distributionID in the shape the edge emulator reads (edge.Options.Invalidations):
// pass c.EdgeInvalidations as that option and the emulated edge locations drop what
// the invalidations name while they are InProgress, each by its CompleteAt.
// Invalidations created behind the proxy's back (straight at moto) are not seen.
func (c *CloudFront) EdgeInvalidations(distributionID string) []edge.Invalidation {
	invs := c.Invalidations(distributionID)
	out := make([]edge.Invalidation, 0, len(invs))
	for _, p := range invs {
		out = append(out, edge.Invalidation{ID: p.ID, Paths: slices.Clone(p.Paths), Created: p.Created, CompleteAt: p.CompleteAt})
	}
	return out
}
