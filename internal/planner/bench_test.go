package planner

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// syntheticSite returns n keys shaped like a documentation site (sections, nested
// directories, index pages, assets) and a change set of c keys drawn from it.
func syntheticSite(n, c int, seed uint64) (all, changed []string) {
	r := rand.New(rand.NewPCG(seed, 7))
	all = make([]string, 0, n)
	seen := make(map[string]bool, n)
	for len(all) < n {
		var k string
		switch r.IntN(4) {
		case 0:
			k = fmt.Sprintf("section%d/topic%d/page-%d/index.html", r.IntN(40), r.IntN(60), r.IntN(200))
		case 1:
			k = fmt.Sprintf("section%d/topic%d/page-%d.html", r.IntN(40), r.IntN(60), r.IntN(200))
		case 2:
			k = fmt.Sprintf("images/section%d/img-%06d.png", r.IntN(40), r.IntN(1_000_000))
		default:
			k = fmt.Sprintf("%s/%d/%02d/post-%d/index.html", []string{"en", "de", "fr", "ja"}[r.IntN(4)], 2015+r.IntN(11), 1+r.IntN(12), r.IntN(500))
		}
		if !seen[k] {
			seen[k] = true
			all = append(all, k)
		}
	}
	pick := r.Perm(n)[:c]
	for _, i := range pick {
		changed = append(changed, all[i])
	}
	return all, changed
}

// BenchmarkPlan100k plans a 100,000-key site with 2,000 changed keys at the default
// budget (the target is < 2 s and < 150 MB for the whole CLI process; see
// bench/planner/run.sh for that measurement).
func BenchmarkPlan100k(b *testing.B) {
	all, changed := syntheticSite(100_000, 2_000, 1)
	for _, k := range []int{DefaultMaxPaths, 100} {
		b.Run(fmt.Sprintf("K=%d", k), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Plan(Input{All: all, Changed: changed, MaxPaths: k}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPlanHugeBudget is the worst case for the DP: a budget just below the
// number of changed URLs, so tables near the root are (W+1) x K.
func BenchmarkPlanHugeBudget(b *testing.B) {
	all, changed := syntheticSite(100_000, 2_000, 1)
	site, err := NewSite(all, "", false)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := site.Plan(changed, 1999, 15); err != nil {
			b.Fatal(err)
		}
	}
}
