package siteconfig

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `
bucket: my-site
distribution: [E1, E2]
max-paths: 30
rules:
  - match: "**/*.html"
    headers:
      cache-control: "public, max-age=0, must-revalidate"
  - match: "assets/**"
    headers:
      Cache-Control: "public, max-age=31536000, immutable"
      X-Amz-Meta-Team: web
  - match: "**/*.{css,js}"
    gzip: true
    metadata:
      Owner: ops
  - match: "downloads/*.pdf"
    headers:
      Content-Disposition: attachment
      Content-Type: application/pdf
`

func TestParseSample(t *testing.T) {
	c, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 4 {
		t.Fatalf("rules = %d, want 4", len(c.Rules))
	}
	if got := c.Rules[0].Headers["Cache-Control"]; got != "public, max-age=0, must-revalidate" {
		t.Errorf("canonical header: got %q", got)
	}
	if c.Rules[1].Metadata["team"] != "web" || len(c.Rules[1].Headers) != 1 {
		t.Errorf("x-amz-meta header not moved to metadata: %+v", c.Rules[1])
	}
	if !c.Rules[2].Gzip || c.Rules[2].Metadata["owner"] != "ops" {
		t.Errorf("rule 2 = %+v", c.Rules[2])
	}
	if c.Settings["bucket"] != "my-site" || c.Settings["max-paths"] != 30 {
		t.Errorf("settings = %v", c.Settings)
	}
	if d, ok := c.Settings["distribution"].([]any); !ok || len(d) != 2 {
		t.Errorf("distribution = %#v", c.Settings["distribution"])
	}
	if _, ok := c.Settings["rules"]; ok {
		t.Error("rules leaked into settings")
	}
}

func TestMatchFirstWins(t *testing.T) {
	c, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]int{
		"index.html":           0,
		"a/b/c.html":           0,
		"assets/app.js":        1, // assets/** comes before **/*.js
		"js/app.js":            2,
		"/css/site.css":        2,
		"downloads/report.pdf": 3,
		"downloads/x/y.pdf":    -1,
		"img/logo.png":         -1,
	}
	for key, want := range cases {
		r, ok := c.Match(key)
		if want < 0 {
			if ok {
				t.Errorf("%s matched %q, want none", key, r.Match)
			}
			continue
		}
		if !ok || r.Match != c.Rules[want].Match {
			t.Errorf("%s matched %q (ok=%v), want %q", key, r.Match, ok, c.Rules[want].Match)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := map[string]string{
		"rules: {}": "must be a list",
		"rules:\n  - headers: {Cache-Control: x}":                                   "rules[0].match",
		"rules:\n  - match: \"[\"":                                                  "invalid glob",
		"rules:\n  - match: a\n    header: {}":                                      "unknown key \"header\"",
		"rules:\n  - match: a\n    headers: {Expires: x}":                           "S3 does not store",
		"rules:\n  - match: a\n    gzip: true\n    headers: {Content-Encoding: br}": "conflicts",
		"rules:\n  - match: a\n    metadata: {edgeflush-md5: x}":                    "reserved",
		"rules:\n  - match: a\n    metadata: {\"a b\": x}":                          "HTTP token",
		"rules:\n  - match: a\n    headers: {Cache-Control: \"a\\nb\"}":             "control character",
		"- a\n- b":             "must be a YAML mapping",
		"bucket: [":            "invalid YAML",
		"a: 1\na: 2":           "",
		"rules: []\nrules: []": "",
	}
	for in, want := range cases {
		_, err := Parse([]byte(in))
		if err == nil {
			t.Errorf("Parse(%q): no error", in)
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) && !strings.Contains(err.Error(), "YAML") {
			t.Errorf("Parse(%q): error %T is not *Error", in, err)
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want it to mention %q", in, err, want)
		}
	}
}

func TestEmptyAndLoad(t *testing.T) {
	for _, in := range []string{"", "  \n", "# only a comment\n", "~"} {
		c, err := Parse([]byte(in))
		if err != nil || len(c.Rules) != 0 || len(c.Settings) != 0 {
			t.Errorf("Parse(%q) = %+v, %v", in, c, err)
		}
	}
	dir := t.TempDir()
	_, err := Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	p := filepath.Join(dir, FileName)
	if err := os.WriteFile(p, []byte("rules:\n  - match: x\n    headers: {Nope: 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("Load error %v does not name the file", err)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	cases := map[string]string{
		"index.html":               "public, max-age=0, must-revalidate",
		"blog/post/index.html":     "public, max-age=0, must-revalidate",
		"sitemap.xml":              "public, max-age=0, must-revalidate",
		"robots.txt":               "public, max-age=0, must-revalidate",
		"assets/app.3f9a1c.js":     "public, max-age=31536000, immutable",
		"_next/static/chunks/a.js": "public, max-age=31536000, immutable",
		"img/logo.png":             "public, max-age=3600",
		"downloads/my file ü.pdf":  "public, max-age=3600",
	}
	for key, want := range cases {
		r, ok := c.Match(key)
		if !ok || r.Headers["Cache-Control"] != want {
			t.Errorf("Default().Match(%q) = %v %v, want Cache-Control %q", key, r.Headers, ok, want)
		}
	}
}

func TestIsPage(t *testing.T) {
	if Default().Rules[1].Match != FixedNameGlob {
		t.Fatalf("the default fixed-name rule %q is not FixedNameGlob", Default().Rules[1].Match)
	}
	for key, want := range map[string]bool{
		"index.html": true, "blog/Post.HTM": true, "sitemap.xml": true, "docs/sitemap-2.xml": true,
		"robots.txt": true, "sw.js": true, "app.webmanifest": true, "feed.xml": true,
		"assets/app.js": false, "img/logo.png": false, "docs/robots.txt.bak": false, "data.xml": false,
	} {
		if got := IsPage(key); got != want {
			t.Errorf("IsPage(%q) = %v, want %v", key, got, want)
		}
	}
}
