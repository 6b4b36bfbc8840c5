package main

import (
	"bytes"
	"net/url"
	"strings"
	"testing"

	"github.com/edgeflush/edgeflush/internal/testkit/visitor"
)

// TestSite checks that the generated versions are what the report says they are: every
// reference of every page exists in its version, and each step renames bundles, deletes
// files and changes same-name images as documented.
func TestSite(t *testing.T) {
	vs := site(3, 300)
	base, _ := url.Parse("http://site/")
	for i, files := range vs {
		for key, body := range files {
			if !strings.HasSuffix(key, ".html") {
				continue
			}
			p, err := visitor.ParsePage(base.JoinPath(key), bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if p.Version < 1 || p.Version > i+1 {
				t.Errorf("v%d %s: marker %d", i+1, key, p.Version)
			}
			refs := append(p.Eager, p.Lazy...)
			if key != "index.html" && len(refs) != 7 {
				t.Errorf("v%d %s: %d references %q, want 7", i+1, key, len(refs), refs)
			}
			for _, r := range refs {
				if _, ok := files[strings.TrimPrefix(r, "/")]; !ok {
					t.Errorf("v%d %s names %s, which v%d lacks", i+1, key, r, i+1)
				}
			}
		}
	}
	f := []map[string]int{visitor.SiteFiles(vs[0]), visitor.SiteFiles(vs[1]), visitor.SiteFiles(vs[2])}
	count := func(step int, pred func(path string, prev, cur int, inPrev, inCur bool) bool) int {
		n := 0
		seen := map[string]bool{}
		for _, m := range []map[string]int{f[step-1], f[step]} {
			for p := range m {
				if seen[p] {
					continue
				}
				seen[p] = true
				prev, inPrev := f[step-1][p]
				cur, inCur := f[step][p]
				if pred(p, prev, cur, inPrev, inCur) {
					n++
				}
			}
		}
		return n
	}
	changedPages := func(step int, section string) int {
		return count(step, func(p string, prev, cur int, inPrev, inCur bool) bool {
			return strings.HasPrefix(p, "/"+section+"/") && inPrev && inCur && cur == step+1
		})
	}
	deleted := func(step int, prefix string) int {
		return count(step, func(p string, _, _ int, inPrev, inCur bool) bool {
			return strings.HasPrefix(p, prefix) && inPrev && !inCur
		})
	}
	if n := changedPages(1, "docs"); n != 120 {
		t.Errorf("v2 changes %d docs pages, want all 120 (renamed bundle)", n)
	}
	if n := changedPages(1, "blog"); n != 20 {
		t.Errorf("v2 changes %d blog pages, want 20", n)
	}
	if n := deleted(1, "/assets/"); n != 2 {
		t.Errorf("v2 drops %d bundles, want 2 (docs bundle and chunk)", n)
	}
	if f[1]["/img/logo.svg"] != 2 || f[2]["/img/bg.svg"] != 3 || f[1]["/img/bg.svg"] != 1 {
		t.Error("same-name image changes are not logo in v2 and bg in v3")
	}
	if n := changedPages(2, "blog"); n != 120 {
		t.Errorf("v3 changes %d blog pages, want 120", n)
	}
	if n := deleted(2, "/guide/"); n != 20 {
		t.Errorf("v3 deletes %d guide pages, want 20", n)
	}
	if n := deleted(2, "/img/icons/"); n != 1 {
		t.Errorf("v3 deletes %d icons, want 1", n)
	}
	if n := len(stablePages(vs)); n != 1+300-20 {
		t.Errorf("%d stable pages, want 281", n)
	}
}
