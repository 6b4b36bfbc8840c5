package siteconfig

import (
	"strings"
	"testing"

	"github.com/bmatcuk/doublestar/v4"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts is usable:
// every glob is valid, header names are canonical and allowed, metadata names are
// lower-case and not reserved, and Match does not panic on arbitrary keys.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample), "index.html")
	f.Add([]byte("rules:\n  - match: \"**\"\n    gzip: true\n"), "a/b.css")
	f.Add([]byte("rules: []\nbucket: b\n"), "")
	f.Add([]byte("rules:\n  - match: \"{a,b}/**\"\n    metadata: {X: y}\n"), "a/ü x.js")
	f.Fuzz(func(t *testing.T, data []byte, key string) {
		c, err := Parse(data)
		if err != nil {
			if c != nil {
				t.Fatalf("config returned with error %v", err)
			}
			return
		}
		for i, r := range c.Rules {
			if !doublestar.ValidatePattern(r.Match) {
				t.Fatalf("rule %d: invalid pattern %q accepted", i, r.Match)
			}
			for h := range r.Headers {
				if !allowed(h) {
					t.Fatalf("rule %d: header %q accepted", i, h)
				}
			}
			for m := range r.Metadata {
				if m != strings.ToLower(m) || strings.HasPrefix(m, ReservedMetadataPrefix) {
					t.Fatalf("rule %d: metadata name %q accepted", i, m)
				}
			}
		}
		c.Match(key)
	})
}
