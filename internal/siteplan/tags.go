package siteplan

import (
	"github.com/edgeflush/edgeflush/internal/origin"
)

// TagsFunc returns the cache tags of the object at bucketKey to plan with on target:
// for a changed key the tags EVERY cached copy carries (none when the object was
// tagged too recently), for an unchanged key the tags ANY cached copy may carry
// (planner.Site.PlanTags). The caller decides usability (cachetag.Usable).
type TagsFunc func(target, bucketKey string, changed bool) []string

// tagMap builds planner.Input.Tags (by URL key) for a group of targets sharing a plan:
// a changed object's tags only when usable on every target of the group, an unchanged
// object's when any target's copies may carry them.
func tagMap(km *origin.KeyMap, targets []string, tags TagsFunc) map[string][]string {
	out := map[string][]string{}
	changed := make(map[string]bool, len(km.Changed))
	for _, u := range km.Changed {
		changed[u] = true
	}
	add := func(u string) {
		b, ok := km.BucketKey[u]
		if !ok {
			return
		}
		var ts []string
		for i, t := range targets {
			got := tags(t, b, changed[u])
			switch {
			case changed[u] && len(got) == 0:
				return // not usable on this target: paths for this object
			case i == 0 || len(ts) == 0:
				ts = got
			}
		}
		if len(ts) > 0 {
			out[u] = ts
		}
	}
	for _, u := range km.All {
		add(u)
	}
	for _, u := range km.Changed {
		if _, done := out[u]; !done {
			add(u)
		}
	}
	return out
}
