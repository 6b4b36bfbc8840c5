package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/edgeflush/edgeflush/internal/testkit/visitor"
)

// The benchmark's site, in three versions. Every file carries the version marker of the
// version that last changed it (internal/testkit/visitor), so a response tells which
// deploy it comes from.
//
//   - pages: index.html and `pages` pages in three sections (docs 40 %, blog 40 %,
//     guide 20 %), each naming the shared stylesheet and vendor bundle, its section's
//     bundle, the logo, its section's hero image and an icon, and its section's lazy
//     chunk (data-lazy: loaded by readers who keep the page open);
//   - content-hashed bundles under assets/ (name = section + 8 hex of the content's
//     SHA-256), plain-named images under img/;
//   - v1 -> v2: the docs bundle and lazy chunk are renamed (new content), so every docs
//     page changes; 20 blog pages are edited; img/logo.svg changes under the same name;
//   - v2 -> v3: the blog bundle and lazy chunk are renamed, so every blog page changes;
//     the last 20 guide pages and img/icons/19.svg are deleted (the pages that showed
//     icon 19 show icon 18 instead); img/bg.svg (named by the stylesheet, which does not
//     change) changes under the same name.
var sections = []struct {
	name    string
	share   int // percent of the pages
	renamed int // version in which the section's bundle and chunk get new content, 0 never
}{
	{"docs", 40, 2},
	{"blog", 40, 3},
	{"guide", 20, 0},
}

const icons = 20

// siteVersion returns version v (1..3) of the site: S3 key -> content.
func siteVersion(v, pages int) map[string][]byte {
	files := map[string][]byte{}
	sinceVersion := func(changedIn ...int) int { // the version that last changed a file
		last := 1
		for _, c := range changedIn {
			if c > 0 && c <= v {
				last = max(last, c)
			}
		}
		return last
	}
	hashed := func(prefix, ext string, body []byte) string {
		sum := sha256.Sum256(body)
		key := "assets/" + prefix + "-" + hex.EncodeToString(sum[:4]) + ext
		files[key] = body
		return "/" + key
	}
	filler := func(what string, n int) string { // deterministic bulk, so files have a realistic size
		var b strings.Builder
		for i := 0; b.Len() < n; i++ {
			fmt.Fprintf(&b, "/* %s line %d */\n", what, i)
		}
		return b.String()
	}

	css := hashed("app", ".css", fmt.Appendf(nil, "/* %s */\nbody { background: url(/img/bg.svg) repeat }\n%s",
		visitor.TextMarker(1), filler("style", 6000)))
	vendor := hashed("vendor", ".js", fmt.Appendf(nil, "/* %s */\n%s", visitor.TextMarker(1), filler("vendor", 20000)))
	svg := func(key string, ver int) {
		files[key] = fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><!-- %s %s --><rect width="8" height="8"/></svg>`,
			visitor.TextMarker(ver), key)
	}
	svg("img/logo.svg", sinceVersion(2))
	svg("img/bg.svg", sinceVersion(3))
	for i := range icons {
		if i == icons-1 && v >= 3 {
			continue
		}
		svg(fmt.Sprintf("img/icons/%02d.svg", i), 1)
	}

	type page struct{ key, title, body, bundle, chunk, hero, icon string }
	var all []page
	for _, s := range sections {
		bv := sinceVersion(s.renamed)
		bundle := hashed(s.name, ".js", fmt.Appendf(nil, "/* %s */\n%s", visitor.TextMarker(bv), filler(s.name+" bundle", 8000)))
		chunk := hashed(s.name+"-lazy", ".js", fmt.Appendf(nil, "/* %s */\n%s", visitor.TextMarker(bv), filler(s.name+" chunk", 4000)))
		hero := "img/" + s.name + "-hero.svg"
		svg(hero, 1)
		n := pages * s.share / 100
		for i := range n {
			if s.name == "guide" && i >= n-20 && v >= 3 {
				continue // deleted in v3
			}
			body := fmt.Sprintf("Page %d of the %s section.", i, s.name)
			if s.name == "blog" && i < 20 && v >= 2 {
				body += " Edited in v2."
			}
			icon := i % icons
			if icon == icons-1 && v >= 3 {
				icon = icons - 2
			}
			all = append(all, page{
				key: fmt.Sprintf("%s/p%03d.html", s.name, i), title: fmt.Sprintf("%s %d", s.name, i), body: body,
				bundle: bundle, chunk: chunk, hero: "/" + hero, icon: fmt.Sprintf("/img/icons/%02d.svg", icon),
			})
		}
	}
	render := func(p page) string {
		return fmt.Sprintf(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">%%s<title>%s</title>
<link rel="stylesheet" href="%s">
<link rel="icon" href="%s">
<link rel="canonical" href="https://example.com/%s">
<script src="%s" defer></script>
<script src="%s" defer></script>
</head><body><header><img src="/img/logo.svg" alt="logo"></header>
<main><img src="%s" srcset="%s 1x" alt=""><p>%s</p></main>
<div id="comments" data-lazy="%s"></div>
</body></html>
`, p.title, css, p.icon, p.key, vendor, p.bundle, p.hero, p.hero, p.body, p.chunk)
	}
	for _, p := range all {
		files[p.key] = []byte(render(p)) // the marker is set below, from the page's history
	}
	var links strings.Builder
	for _, p := range all {
		fmt.Fprintf(&links, "<li><a href=\"/%s\">%s</a></li>\n", p.key, p.title)
	}
	files["index.html"] = fmt.Appendf(nil, `<!doctype html>
<html lang="en"><head><meta charset="utf-8">%%s<title>Home</title>
<link rel="stylesheet" href="%s"><script src="%s" defer></script>
</head><body><header><img src="/img/logo.svg" alt="logo"></header>
<h1>Site version %d</h1><ul>
%s</ul></body></html>
`, css, vendor, v, links.String())
	return files
}

// site returns versions 1..n with every page's marker set to the version that last
// changed its text: a page is a new version only when its rendering changed.
func site(n, pages int) []map[string][]byte {
	raw := make([]map[string][]byte, n)
	for v := 1; v <= n; v++ {
		raw[v-1] = siteVersion(v, pages)
	}
	out := make([]map[string][]byte, n)
	since := map[string]int{}
	for i, files := range raw {
		out[i] = map[string][]byte{}
		for key, body := range files {
			if !strings.HasSuffix(key, ".html") {
				out[i][key] = body
				continue
			}
			if i == 0 || string(raw[i-1][key]) != string(body) {
				since[key] = i + 1
			}
			out[i][key] = []byte(strings.Replace(string(body), "%s", visitor.HTMLMarker(since[key]), 1))
		}
	}
	return out
}

// writeSite writes files into a fresh directory dir, as a build does (every file new).
func writeSite(dir string, files map[string][]byte) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, files[k], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// stablePages are the URL paths of the pages every version serves: what visitors open.
func stablePages(versions []map[string][]byte) []string {
	var out []string
	for key := range versions[0] {
		if !strings.HasSuffix(key, ".html") {
			continue
		}
		inAll := true
		for _, files := range versions[1:] {
			if _, ok := files[key]; !ok {
				inAll = false
			}
		}
		if inAll {
			if key == "index.html" {
				out = append(out, "/")
			} else {
				out = append(out, "/"+key)
			}
		}
	}
	slices.Sort(out)
	return out
}
