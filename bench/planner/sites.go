package main

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// site is one benchmark site: its object keys and its change sets.
type site struct {
	name string
	all  []string // keys, sorted by byte order
	urls []string // "/"+key, same order
	sets []changeSet
}

type changeSet struct {
	file, kind string
	keys       []string
}

func readLines(p string) ([]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			out = append(out, l)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return out, nil
}

func loadSite(dir string) (*site, error) {
	s := &site{name: filepath.Base(dir)}
	all, err := readLines(filepath.Join(dir, "all.txt"))
	if err != nil {
		return nil, err
	}
	slices.Sort(all)
	s.all = all
	s.urls = make([]string, len(all))
	for i, k := range all {
		s.urls[i] = "/" + k
	}
	rows, err := readLines(filepath.Join(dir, "changes", "index.tsv"))
	if err != nil {
		return nil, err
	}
	for _, row := range rows[1:] {
		cols := strings.Split(row, "\t")
		if len(cols) < 4 {
			return nil, fmt.Errorf("%s: bad index row %q", dir, row)
		}
		keys, err := readLines(filepath.Join(dir, "changes", cols[0]))
		if err != nil {
			return nil, err
		}
		s.sets = append(s.sets, changeSet{file: cols[0], kind: cols[3], keys: keys})
	}
	return s, nil
}

func loadSites(data string) ([]*site, error) {
	entries, err := os.ReadDir(data)
	if err != nil {
		return nil, fmt.Errorf("benchmark data: %w", err)
	}
	var sites []*site
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		s, err := loadSite(filepath.Join(data, e.Name()))
		if err != nil {
			return nil, err
		}
		sites = append(sites, s)
	}
	// Smallest first, as in the data's README.
	sort.SliceStable(sites, func(i, j int) bool { return len(sites[i].all) < len(sites[j].all) })
	return sites, nil
}

// score measures raw paths on a change set by the data README's definition: a
// wildcard "/prefix*" costs the keys of all.txt whose URL starts with prefix, minus the
// change set (overlapping wildcards count a key once); an exact path costs nothing.
// It also reports whether every changed key's URL "/"+key is matched.
func (s *site) score(paths []string, changed map[string]bool) (collateral int, covered bool) {
	hit := make([]bool, len(s.urls))
	for _, p := range paths {
		if !strings.HasSuffix(p, "*") {
			continue
		}
		prefix := p[:len(p)-1]
		lo := sort.SearchStrings(s.urls, prefix)
		for i := lo; i < len(s.urls) && strings.HasPrefix(s.urls[i], prefix); i++ {
			hit[i] = true
		}
	}
	for i, h := range hit {
		if h && !changed[s.all[i]] {
			collateral++
		}
	}
	covered = true
	for k := range changed {
		u := "/" + k
		if !slices.ContainsFunc(paths, func(p string) bool {
			if strings.HasSuffix(p, "*") {
				return strings.HasPrefix(u, p[:len(p)-1])
			}
			return p == u
		}) {
			covered = false
		}
	}
	return collateral, covered
}

// s3deployRule is the baseline of issue 3, as s3deploy implements it: map each
// changed key to "/key", a trailing "index.html" becoming its directory with a
// trailing '/'; remove duplicates; if more than k remain, then for each level from the
// deepest up to 1, replace every path deeper than that level by its grandparent
// directory followed by "/*", removing duplicates, until at most k remain; if still
// more than k, or "/*" is among them, send "/*".
func s3deployRule(keys []string, k int) []string {
	var paths []string
	seen := map[string]bool{}
	maxLevels := 0
	for _, key := range keys {
		p := "/" + key
		maxLevels = max(maxLevels, strings.Count(p, "/"))
		// A file named index.html. (s3deploy's code tests the suffix "index.html",
		// which also turns win32-docs' "Controls/cb-gettopindex.html" into "/Controls/"
		// and so never invalidates that file; the rule means the file name.)
		if path.Base(p) == "index.html" {
			dir := path.Dir(p)
			if !strings.HasSuffix(dir, "/") {
				dir += "/"
			}
			p = dir
		}
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	if len(paths) > k {
		for level := maxLevels; level > 0; level-- {
			for i, p := range paths {
				if strings.Count(p, "/") > level {
					// The grandparent of a file is its directory's parent; at the
					// top it is the top directory itself.
					parts := strings.Split(strings.TrimPrefix(path.Dir(p), "/"), "/")
					if len(parts) > 1 {
						parts = parts[:len(parts)-1]
					}
					paths[i] = "/" + strings.Join(parts, "/") + "/*"
				}
			}
			paths = dedupe(paths)
			if len(paths) <= k {
				break
			}
		}
		if len(paths) > k {
			return []string{"/*"}
		}
	}
	if slices.Contains(paths, "/*") {
		return []string{"/*"}
	}
	return paths
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, p := range in {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	return out
}
