package visitor

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Version markers. Every generated file carries the version whose build last changed its
// content, so that a response says which deploy it comes from without a table of ETags:
//
//   - HTML: <meta name="edgeflush-version" content="N"> in the head;
//   - anything else (CSS, JS, SVG, text): the text "edgeflush-version: N", usually in a
//     comment (/* edgeflush-version: 3 */, <!-- edgeflush-version: 3 -->).
//
// A body without a marker has version 0 ("unknown") and is never judged stale or mixed.
const MarkerName = "edgeflush-version"

// HTMLMarker is the meta element that marks an HTML page as version v.
func HTMLMarker(v int) string {
	return `<meta name="` + MarkerName + `" content="` + strconv.Itoa(v) + `">`
}

// TextMarker is the marker text for CSS, JS, SVG and other non-HTML files; put it in a
// comment of the file's syntax.
func TextMarker(v int) string { return MarkerName + ": " + strconv.Itoa(v) }

var textMarkerRE = regexp.MustCompile(`edgeflush-version: ?([0-9]+)`)

// TextVersion is the version marked in a non-HTML body, 0 when it carries none.
func TextVersion(body []byte) int {
	m := textMarkerRE.FindSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.Atoi(string(m[1]))
	if err != nil { // more digits than an int holds: not one of our markers
		return 0
	}
	return v
}

// Page is what a visitor reads from an HTML page.
type Page struct {
	Version int // from <meta name="edgeflush-version">, 0 when absent
	// Eager are the assets a browser loads with the page, resolved against the page's URL,
	// same origin only, in document order without duplicates: <link href> of the rels in
	// eagerRels, <script src>, <img src>, <img srcset> and <source srcset>, and url() in
	// <style> elements and style attributes.
	Eager []string
	// Lazy are the assets the page loads later, while it stays open: the data-lazy
	// attribute of any element (a chunk a script imports on demand, one URL) and
	// <link rel="prefetch"> hrefs (loaded at idle time, then used later).
	Lazy []string
}

// eagerRels are the <link rel> values whose target a browser fetches with the page. Other
// links (canonical, alternate, next, preconnect ...) name pages or hosts, not assets.
var eagerRels = map[string]bool{
	"stylesheet": true, "icon": true, "apple-touch-icon": true, "preload": true,
	"modulepreload": true, "manifest": true,
}

// ParsePage reads an HTML page served at pageURL and returns its version marker and the
// URLs of the assets it references; see Page for what counts. URLs of another origin,
// data: URLs and fragments-only references are left out: the simulation judges one site.
func ParsePage(pageURL *url.URL, r io.Reader) (Page, error) {
	doc, err := html.Parse(r)
	if err != nil {
		return Page{}, fmt.Errorf("parse HTML of %s: %w", pageURL, err)
	}
	var p Page
	eager, lazy := newRefSet(pageURL), newRefSet(pageURL)
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		if v, ok := attr(n, "data-lazy"); ok {
			lazy.add(v)
		}
		if v, ok := attr(n, "style"); ok {
			for _, u := range CSSURLs([]byte(v)) {
				eager.add(u)
			}
		}
		switch n.DataAtom {
		case atom.Meta:
			if name, _ := attr(n, "name"); strings.EqualFold(name, MarkerName) {
				c, _ := attr(n, "content")
				if v, err := strconv.Atoi(strings.TrimSpace(c)); err == nil {
					p.Version = v
				}
			}
		case atom.Link:
			href, ok := attr(n, "href")
			if !ok {
				continue
			}
			rel, _ := attr(n, "rel")
			for _, r := range strings.Fields(strings.ToLower(rel)) {
				if r == "prefetch" {
					lazy.add(href)
					break
				}
				if eagerRels[r] {
					eager.add(href)
					break
				}
			}
		case atom.Script:
			if v, ok := attr(n, "src"); ok {
				eager.add(v)
			}
		case atom.Img:
			if v, ok := attr(n, "src"); ok {
				eager.add(v)
			}
			if v, ok := attr(n, "srcset"); ok {
				for _, u := range srcsetURLs(v) {
					eager.add(u)
				}
			}
		case atom.Source:
			if v, ok := attr(n, "srcset"); ok {
				for _, u := range srcsetURLs(v) {
					eager.add(u)
				}
			}
		case atom.Style:
			var b strings.Builder
			for c := range n.ChildNodes() {
				if c.Type == html.TextNode {
					b.WriteString(c.Data)
				}
			}
			for _, u := range CSSURLs([]byte(b.String())) {
				eager.add(u)
			}
		}
	}
	p.Eager, p.Lazy = eager.list, lazy.list
	return p, nil
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// srcsetURLs splits a srcset attribute ("a.png 1x, b.png 2x") into its URLs as the HTML
// standard's parser reads them: a URL runs to the next whitespace (so it may contain
// commas, as data: URLs do) less trailing commas, and its descriptors run to the next comma.
func srcsetURLs(s string) []string {
	var out []string
	for {
		s = strings.TrimLeft(s, " \t\n\r\f,")
		if s == "" {
			return out
		}
		end := strings.IndexAny(s, " \t\n\r\f")
		if end < 0 {
			end = len(s)
		}
		u := s[:end]
		s = s[end:]
		// A URL followed directly by a comma has no descriptor: the comma ends the candidate.
		trimmed := strings.TrimRight(u, ",")
		if trimmed != "" {
			out = append(out, trimmed)
		}
		if trimmed != u {
			continue
		}
		// Skip the descriptor up to the next comma.
		if i := strings.IndexByte(s, ','); i >= 0 {
			s = s[i+1:]
		} else {
			s = ""
		}
	}
}

// CSSURLs returns the references of a stylesheet as written, in order: url(...) (quoted
// or not) and @import "...". Comments are skipped, so a version marker or a commented-out
// rule names nothing. Resolve them against the stylesheet's URL (ResolveRefs).
func CSSURLs(css []byte) []string {
	var out []string
	s := css
	for len(s) > 0 {
		switch {
		case bytes.HasPrefix(s, []byte("/*")):
			end := bytes.Index(s[2:], []byte("*/"))
			if end < 0 {
				return out
			}
			s = s[2+end+2:]
		case s[0] == '"' || s[0] == '\'':
			// A string outside url(): skip it whole so that "url(" inside it names nothing.
			_, rest := cssString(s)
			s = rest
		case hasFoldPrefix(s, "url("):
			s = bytes.TrimLeft(s[4:], " \t\r\n\f")
			var u string
			if len(s) > 0 && (s[0] == '"' || s[0] == '\'') {
				u, s = cssString(s)
				if i := bytes.IndexByte(s, ')'); i >= 0 {
					s = s[i+1:]
				} else {
					s = nil
				}
			} else {
				i := bytes.IndexByte(s, ')')
				if i < 0 {
					return out // unterminated url(: the rest is not a reference
				}
				u = strings.TrimSpace(string(s[:i]))
				s = s[i+1:]
			}
			if u != "" {
				out = append(out, u)
			}
		case hasFoldPrefix(s, "@import"):
			s = bytes.TrimLeft(s[len("@import"):], " \t\r\n\f")
			if len(s) > 0 && (s[0] == '"' || s[0] == '\'') {
				var u string
				u, s = cssString(s)
				if u != "" {
					out = append(out, u)
				}
			} // @import url(...) is read by the url( case on the next round
		default:
			s = s[1:]
		}
	}
	return out
}

// cssString reads a quoted CSS string at the start of s (s[0] is the quote) and returns
// its value (backslash escapes of the quote and backslash undone) and the rest after it.
func cssString(s []byte) (string, []byte) {
	q := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case q:
			return b.String(), s[i+1:]
		case '\n':
			return b.String(), s[i:] // unterminated string ends at the line, as CSS says
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), nil
}

func hasFoldPrefix(s []byte, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(string(s[:len(prefix)]), prefix)
}

// ResolveRefs resolves references against base and keeps those of base's origin, as
// paths with their query ("/assets/app.css?v=2"), without duplicates, in order.
func ResolveRefs(base *url.URL, refs []string) []string {
	set := newRefSet(base)
	for _, r := range refs {
		set.add(r)
	}
	return set.list
}

type refSet struct {
	base *url.URL
	seen map[string]bool
	list []string
}

func newRefSet(base *url.URL) *refSet { return &refSet{base: base, seen: map[string]bool{}} }

func (s *refSet) add(ref string) {
	ref = strings.TrimSpace(ref)
	if ref == "" || strings.HasPrefix(ref, "#") {
		return
	}
	u, err := s.base.Parse(ref)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host != s.base.Host {
		return
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	if !s.seen[p] {
		s.seen[p] = true
		s.list = append(s.list, p)
	}
}
