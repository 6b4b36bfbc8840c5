package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/edgeflush/edgeflush/internal/planner"
)

// compareKs are the budgets of the comparison (W = K).
var compareKs = []int{8, 15}

// sweepKs and sweepWs are the budgets of the default-budget sweep; W is capped at K.
var (
	sweepKs = []int{1, 2, 4, 8, 10, 15, 20, 25, 30, 40, 50, 75, 100}
	sweepWs = []int{5, 10, 15, 100}
)

// outcome is one strategy on one change set.
type outcome struct {
	list                         []string // the paths (kept for the comparison budgets only)
	paths, wildcards, collateral int
	star                         bool // the plan is "/*"
	prefixWildcard               bool // a wildcard not ending in '/' (a string prefix)
}

// setResult holds every strategy's outcome on one change set.
type setResult struct {
	cs        changeSet
	star      outcome
	rule, opt map[int]outcome // by K
	def, idx  outcome         // default budget; default budget with index mapping
	sweep     map[[2]int]outcome
}

type siteResult struct {
	s       *site
	sets    []setResult
	elapsed time.Duration
	plans   int
}

func outcomeOf(paths []string, collateral int) outcome {
	o := outcome{paths: len(paths), collateral: collateral}
	for _, p := range paths {
		if strings.HasSuffix(p, "*") {
			o.wildcards++
			if p == "/*" {
				o.star = true
			}
			if !strings.HasSuffix(p, "/*") {
				o.prefixWildcard = true
			}
		}
	}
	return o
}

func withList(o outcome, paths []string) outcome {
	o.list = paths
	return o
}

// runSite plans every change set of s with every strategy and checks each planner
// result against the independent scorer.
func runSite(s *site) (*siteResult, error) {
	keyMode, err := planner.NewSite(s.all, "-", false)
	if err != nil {
		return nil, err
	}
	indexMode, err := planner.NewSite(s.all, "", false)
	if err != nil {
		return nil, err
	}
	r := &siteResult{s: s}
	start := time.Now()
	for _, cs := range s.sets {
		changed := make(map[string]bool, len(cs.keys))
		for _, k := range cs.keys {
			changed[k] = true
		}
		sr := setResult{cs: cs, rule: map[int]outcome{}, opt: map[int]outcome{}, sweep: map[[2]int]outcome{}}
		coll, _ := s.score([]string{"/*"}, changed)
		sr.star = outcomeOf([]string{"/*"}, coll)
		plan := func(ps *planner.Site, k, w int, checkCover bool) (outcome, error) {
			r.plans++
			res, err := ps.Plan(cs.keys, k, w)
			if err != nil {
				return outcome{}, fmt.Errorf("%s %s K=%d W=%d: %w", s.name, cs.file, k, w, err)
			}
			raw := make([]string, len(res.Paths))
			for i, p := range res.Paths {
				if raw[i], err = url.PathUnescape(p); err != nil {
					return outcome{}, fmt.Errorf("%s %s: path %q: %w", s.name, cs.file, p, err)
				}
			}
			coll, covered := s.score(raw, changed)
			if coll != res.Collateral || (checkCover && !covered) {
				return outcome{}, fmt.Errorf("%s %s K=%d W=%d: planner reports collateral %d, scorer %d (covered %v): %q",
					s.name, cs.file, k, w, res.Collateral, coll, covered, raw)
			}
			return withList(outcomeOf(raw, coll), raw), nil
		}
		for _, k := range compareKs {
			paths := s3deployRule(cs.keys, k)
			coll, _ := s.score(paths, changed)
			sr.rule[k] = outcomeOf(paths, coll)
			sr.rule[k] = withList(sr.rule[k], paths)
			if sr.opt[k], err = plan(keyMode, k, k, true); err != nil {
				return nil, err
			}
		}
		if sr.def, err = plan(keyMode, planner.DefaultMaxPaths, planner.DefaultMaxWildcards, true); err != nil {
			return nil, err
		}
		// Index-aware plans also cover "/dir/", which the key-mode scorer does not
		// know about; their collateral is still counted on objects.
		if sr.idx, err = plan(indexMode, planner.DefaultMaxPaths, planner.DefaultMaxWildcards, true); err != nil {
			return nil, err
		}
		for _, k := range sweepKs {
			for _, w := range sweepWs {
				w := min(w, k)
				if _, done := sr.sweep[[2]int{k, w}]; done {
					continue
				}
				if sr.sweep[[2]int{k, w}], err = plan(keyMode, k, w, true); err != nil {
					return nil, err
				}
			}
		}
		r.sets = append(r.sets, sr)
	}
	r.elapsed = time.Since(start)
	return r, nil
}

func report(data, out, timing string) error {
	sites, err := loadSites(data)
	if err != nil {
		return err
	}
	if len(sites) == 0 {
		return fmt.Errorf("no sites under %s", data)
	}
	var results []*siteResult
	for _, s := range sites {
		fmt.Fprintf(os.Stderr, "planner-bench: %s: %d keys, %d change sets...\n", s.name, len(s.all), len(s.sets))
		r, err := runSite(s)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "planner-bench: %s: %d plans in %s\n", s.name, r.plans, r.elapsed.Round(time.Millisecond))
		results = append(results, r)
		if err := writeTSV(filepath.Join(out, "results", s.name+".tsv"), r); err != nil {
			return err
		}
	}
	// The optimum can never be above the rule at the same K (see RESULTS.md): a
	// change set where it is would be a planner bug.
	for _, r := range results {
		for _, sr := range r.sets {
			for _, k := range compareKs {
				if sr.opt[k].collateral > sr.rule[k].collateral {
					return fmt.Errorf("%s %s K=%d: optimum collateral %d above the rule's %d", r.s.name, sr.cs.file, k, sr.opt[k].collateral, sr.rule[k].collateral)
				}
			}
		}
	}
	var timingText string
	if timing != "" {
		b, err := os.ReadFile(timing)
		if err != nil {
			return fmt.Errorf("timing: %w", err)
		}
		timingText = string(b)
	}
	return writeMarkdown(filepath.Join(out, "RESULTS.md"), data, results, timingText)
}

func writeTSV(path string, r *siteResult) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	head := []string{"file", "kind", "n_keys", "star_collateral"}
	for _, k := range compareKs {
		head = append(head, fmt.Sprintf("rule%d_paths", k), fmt.Sprintf("rule%d_collateral", k),
			fmt.Sprintf("opt%d_paths", k), fmt.Sprintf("opt%d_wildcards", k), fmt.Sprintf("opt%d_collateral", k))
	}
	head = append(head, "default_paths", "default_wildcards", "default_collateral", "index_default_paths", "index_default_collateral")
	fmt.Fprintln(w, strings.Join(head, "\t"))
	for _, sr := range r.sets {
		row := []string{sr.cs.file, sr.cs.kind, fmt.Sprint(len(sr.cs.keys)), fmt.Sprint(sr.star.collateral)}
		for _, k := range compareKs {
			ru, op := sr.rule[k], sr.opt[k]
			row = append(row, fmt.Sprint(ru.paths), fmt.Sprint(ru.collateral), fmt.Sprint(op.paths), fmt.Sprint(op.wildcards), fmt.Sprint(op.collateral))
		}
		row = append(row, fmt.Sprint(sr.def.paths), fmt.Sprint(sr.def.wildcards), fmt.Sprint(sr.def.collateral),
			fmt.Sprint(sr.idx.paths), fmt.Sprint(sr.idx.collateral))
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeSynthetic writes a documentation-shaped site of n keys and a change set of c
// of them (all.txt, changed.txt) for the timing measurement.
func writeSynthetic(dir string, n, c int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(2026, 3))
	seen := make(map[string]bool, n)
	all := make([]string, 0, n)
	langs := []string{"en", "de", "fr", "ja", "pt-br", "zh-cn"}
	for len(all) < n {
		var k string
		switch r.IntN(5) {
		case 0:
			k = fmt.Sprintf("docs/section-%d/topic-%d/page-%d/index.html", r.IntN(40), r.IntN(60), r.IntN(200))
		case 1:
			k = fmt.Sprintf("docs/section-%d/topic-%d/page-%d.html", r.IntN(40), r.IntN(60), r.IntN(200))
		case 2:
			k = fmt.Sprintf("images/section-%d/img-%06d.png", r.IntN(40), r.IntN(1_000_000))
		case 3:
			k = fmt.Sprintf("%s/blog/%d/%02d/post-%d/index.html", langs[r.IntN(len(langs))], 2015+r.IntN(11), 1+r.IntN(12), r.IntN(500))
		default:
			k = fmt.Sprintf("api/%s/v%d/%s-%d.html", []string{"core", "net", "fs", "ui"}[r.IntN(4)], 1+r.IntN(5), []string{"get", "put", "list", "delete"}[r.IntN(4)], r.IntN(2000))
		}
		if !seen[k] {
			seen[k] = true
			all = append(all, k)
		}
	}
	slices.Sort(all)
	// Changes cluster like real deploys: runs of neighbouring keys (a section
	// rewritten) plus scattered single edits.
	changed := map[string]bool{}
	for len(changed) < c {
		i := r.IntN(len(all))
		run := 1
		if r.IntN(2) == 0 {
			run = 1 + r.IntN(40)
		}
		for j := i; j < len(all) && j < i+run && len(changed) < c; j++ {
			changed[all[j]] = true
		}
	}
	var ch []string
	for k := range changed {
		ch = append(ch, k)
	}
	slices.Sort(ch)
	if err := os.WriteFile(filepath.Join(dir, "all.txt"), []byte(strings.Join(all, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "changed.txt"), []byte(strings.Join(ch, "\n")+"\n"), 0o644)
}
