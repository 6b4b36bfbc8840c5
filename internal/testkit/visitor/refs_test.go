package visitor

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestParsePage(t *testing.T) {
	page := `<!doctype html><html><head>
<meta charset="utf-8">
` + HTMLMarker(3) + `
<link rel="stylesheet" href="/assets/app-1a2b.css">
<link rel="icon" href="favicon.svg">
<link rel="canonical" href="https://example.com/docs/a.html">
<link rel="alternate" href="/feed.xml">
<link rel="prefetch" href="/assets/later-9f.js">
<link rel="modulepreload" href="/assets/mod-3c.js">
<link rel="stylesheet" href="https://cdn.example.net/x.css">
<script src="/assets/app-77.js"></script>
<script>var notARef = "<img src=/nope.png>";</script>
<style>body { background: url('/img/bg.svg') } /* url(/img/commented.svg) */</style>
</head><body>
<img src="../img/logo.svg" srcset="../img/logo.svg 1x, ../img/logo@2x.svg 2x">
<picture><source srcset="/img/hero.svg 800w,/img/hero-small.svg 400w"><img src="/img/hero.svg"></picture>
<div style="background-image:url(/img/tile.svg)"></div>
<div id="app" data-lazy="/assets/chunk-5e.js"></div>
<img src="data:image/gif;base64,R0lGOD">
<a href="/docs/b.html">next</a>
<img src="/img/a.svg?v=2#frag">
</body></html>`
	p, err := ParsePage(mustURL(t, "http://127.0.0.1:9/docs/a.html"), strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 3 {
		t.Errorf("Version = %d, want 3", p.Version)
	}
	wantEager := []string{
		"/assets/app-1a2b.css", "/docs/favicon.svg", "/assets/mod-3c.js", "/assets/app-77.js",
		"/img/bg.svg", "/img/logo.svg", "/img/logo@2x.svg", "/img/hero.svg", "/img/hero-small.svg",
		"/img/tile.svg", "/img/a.svg?v=2",
	}
	if !slices.Equal(p.Eager, wantEager) {
		t.Errorf("Eager =\n%q\nwant\n%q", p.Eager, wantEager)
	}
	wantLazy := []string{"/assets/later-9f.js", "/assets/chunk-5e.js"}
	if !slices.Equal(p.Lazy, wantLazy) {
		t.Errorf("Lazy = %q, want %q", p.Lazy, wantLazy)
	}
}

func TestParsePageWithoutMarker(t *testing.T) {
	p, err := ParsePage(mustURL(t, "http://h/"), strings.NewReader(`<p>hello`))
	if err != nil {
		t.Fatal(err)
	}
	if p.Version != 0 || len(p.Eager) != 0 || len(p.Lazy) != 0 {
		t.Errorf("got %+v, want an empty page", p)
	}
	p, _ = ParsePage(mustURL(t, "http://h/"), strings.NewReader(`<meta name="edgeflush-version" content="x">`))
	if p.Version != 0 {
		t.Errorf("non-numeric marker: Version = %d, want 0", p.Version)
	}
}

func TestCSSURLs(t *testing.T) {
	css := `/* ` + TextMarker(2) + ` url(/commented.png) */
@import "base.css";
@import url(print.css) print;
.a { background: url( "img/a.svg" ) }
.b { background: URL(img/b.svg) }
.c { background: url('img/c\'d.svg') }
.d::after { content: "url(/not-a-ref.png)" }
@font-face { src: url(/fonts/f.woff2) format("woff2"), url(data:font/woff2;base64,AAA) }
.e { background: url(`
	got := CSSURLs([]byte(css))
	want := []string{"base.css", "print.css", "img/a.svg", "img/b.svg", "img/c'd.svg", "/fonts/f.woff2", "data:font/woff2;base64,AAA"}
	if !slices.Equal(got, want) {
		t.Errorf("CSSURLs =\n%q\nwant\n%q", got, want)
	}
	resolved := ResolveRefs(mustURL(t, "http://h:1/assets/app.css"), got)
	wantResolved := []string{"/assets/base.css", "/assets/print.css", "/assets/img/a.svg", "/assets/img/b.svg", "/assets/img/c'd.svg", "/fonts/f.woff2"}
	if !slices.Equal(resolved, wantResolved) {
		t.Errorf("ResolveRefs =\n%q\nwant\n%q", resolved, wantResolved)
	}
}

func TestSrcset(t *testing.T) {
	for in, want := range map[string][]string{
		"a.png":                         {"a.png"},
		"a.png 1x, b.png 2x":            {"a.png", "b.png"},
		"a.png 1x,b.png 2x":             {"a.png", "b.png"},
		"a.png,b.png":                   {"a.png,b.png"}, // as the standard reads it: one URL
		"a.png, b.png":                  {"a.png", "b.png"},
		"  a.png   480w ,  b.png 800w ": {"a.png", "b.png"},
		"":                              nil,
	} {
		if got := srcsetURLs(in); !slices.Equal(got, want) {
			t.Errorf("srcsetURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTextVersion(t *testing.T) {
	for in, want := range map[string]int{
		"/* " + TextMarker(12) + " */ body{}":     12,
		"<svg><!-- edgeflush-version:4 --></svg>": 4,
		"no marker": 0,
		"edgeflush-version: 99999999999999999999999": 0,
	} {
		if got := TextVersion([]byte(in)); got != want {
			t.Errorf("TextVersion(%q) = %d, want %d", in, got, want)
		}
	}
}
