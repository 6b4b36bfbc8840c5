package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/edgeflush/edgeflush/internal/cachetag"
	"github.com/edgeflush/edgeflush/internal/planner"
)

// tagTotals sums one strategy over a site's change sets.
type tagTotals struct {
	items, maxItems, wildcards, tags, collateral, setsWithTags int
}

// tagSection plans every change set at the default budget with and without cache tag
// items, every object carrying the tags deploy writes (cachetag.For) and every tag
// usable, in both URL models (the data's "/key" only, and index mapping), re-scores
// each plan independently and returns the markdown section for RESULTS.md.
func tagSection(data string) (string, error) {
	sites, err := loadSites(data)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Cache tags\n\n")
	fmt.Fprintf(&b, "`go run ./bench/planner -tags` (data: `%s`). Every change set at the default budget (K = %d, W = %d) planned with paths only and with cache tag items as candidates, every object carrying the tags `edgeflush deploy` writes (an object tag and one per directory, `internal/cachetag`) and every tag usable (tagged long enough ago). A tag item counts as a path and a wildcard slot. Collateral: unchanged objects evicted (a wildcard's match or a tag's carriers), re-scored independently of the planner. Items: paths plus tag items sent.\n\n",
		data, planner.DefaultMaxPaths, planner.DefaultMaxWildcards)
	fmt.Fprintf(&b, "| site | URLs | sets | items/deploy no tags | with tags | max items no tags / tags | collateral no tags | with tags | sets using a tag | tag items |\n")
	fmt.Fprintf(&b, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, s := range sites {
		for _, mode := range []struct{ name, index string }{{"/key", "-"}, {"index", ""}} {
			start := time.Now()
			ps, err := planner.NewSite(s.all, mode.index, false)
			if err != nil {
				return "", err
			}
			tags := make(map[string][]string, len(s.all))
			carriers := map[string][]string{} // tag -> keys
			for _, k := range s.all {
				tags[k] = cachetag.For(k)
				for _, t := range tags[k] {
					carriers[t] = append(carriers[t], k)
				}
			}
			var plain, tagged tagTotals
			for _, cs := range s.sets {
				changed := make(map[string]bool, len(cs.keys))
				var deleted []string
				for _, k := range cs.keys {
					changed[k] = true
					if _, ok := tags[k]; !ok { // a deleted key: its copies carry tags too
						tags[k] = cachetag.For(k)
						deleted = append(deleted, k)
					}
				}
				for i, withTags := range []bool{false, true} {
					var tm map[string][]string
					if withTags {
						tm = tags
					}
					res, err := ps.PlanTags(cs.keys, tm, planner.DefaultMaxPaths, planner.DefaultMaxWildcards)
					if err != nil {
						return "", fmt.Errorf("%s %s tags=%v: %w", s.name, cs.file, withTags, err)
					}
					var raw []string
					hit := map[string]bool{}
					for _, p := range res.Paths {
						if t, ok := strings.CutPrefix(p, "#"); ok {
							for _, k := range carriers[t] {
								if !changed[k] {
									hit[k] = true
								}
							}
							continue
						}
						r, err := url.PathUnescape(p)
						if err != nil {
							return "", err
						}
						raw = append(raw, r)
					}
					coll, _ := s.score(raw, changed)
					// Objects evicted by both a wildcard and a tag count once.
					for k := range hit {
						if !s.matchedByWildcard(raw, k) {
							coll++
						}
					}
					if coll != res.Collateral {
						return "", fmt.Errorf("%s %s tags=%v: planner reports collateral %d, scorer %d: %q", s.name, cs.file, withTags, res.Collateral, coll, res.Paths)
					}
					t := []*tagTotals{&plain, &tagged}[i]
					t.items += len(res.Paths)
					t.maxItems = max(t.maxItems, len(res.Paths))
					t.wildcards += res.Wildcards
					t.tags += res.Tags
					t.collateral += coll
					if res.Tags > 0 {
						t.setsWithTags++
					}
				}
				for _, k := range deleted {
					delete(tags, k)
				}
			}
			n := float64(len(s.sets))
			fmt.Fprintf(&b, "| %s | %s | %d | %.2f | %.2f | %d / %d | %s | %s | %d | %d |\n", s.name, mode.name, len(s.sets),
				float64(plain.items)/n, float64(tagged.items)/n, plain.maxItems, tagged.maxItems,
				num(plain.collateral), num(tagged.collateral), tagged.setsWithTags, tagged.tags)
			fmt.Fprintf(os.Stderr, "planner-bench: tags %s %s: %s\n", s.name, mode.name, time.Since(start).Round(time.Millisecond))
		}
	}
	b.WriteString("\n(`/key`: each object cached under `/key` only, the data's model; `index`: edgeflush's default, `dir/index.html` also cached as `/dir/`.)\n")
	return b.String(), nil
}

// matchedByWildcard reports whether a wildcard of raw matches key's URL "/"+key.
func (s *site) matchedByWildcard(raw []string, key string) bool {
	for _, p := range raw {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix("/"+key, prefix) {
			return true
		}
	}
	return false
}

// writeTagSection replaces the "## Cache tags" section of RESULTS.md (the last one)
// with a fresh one.
func writeTagSection(data, out string) error {
	sec, err := tagSection(data)
	if err != nil {
		return err
	}
	p := filepath.Join(out, "RESULTS.md")
	old, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	text := string(old)
	if i := strings.Index(text, "\n## Cache tags\n"); i >= 0 {
		text = text[:i+1]
	}
	return os.WriteFile(p, []byte(strings.TrimRight(text, "\n")+"\n\n"+sec), 0o644)
}
