// Package siteconfig reads .edgeflush.yaml: the header rules applied to uploaded objects
// (first matching rule wins, doublestar globs on the key relative to the site root) and
// the other top-level settings that the CLI's configuration precedence reads (bucket,
// prefix, distribution, max-paths ...). The file is read once and never uploaded.
package siteconfig

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/bmatcuk/doublestar/v4"
	"go.yaml.in/yaml/v3"
)

// FileName is the configuration file looked up in the current directory when no
// --config is given. A file with this name at the root of a deployed tree is never
// uploaded.
const FileName = ".edgeflush.yaml"

// MaxSize bounds the configuration file: it is read whole, and a site's rules fit in a
// few kilobytes.
const MaxSize = 1 << 20

// Rule sets the headers of the objects whose key matches Match.
type Rule struct {
	// Match is a doublestar glob on the key relative to the site root ("**/*.html").
	Match string
	// Headers are HTTP headers stored with the object, canonicalised
	// ("cache-control" -> "Cache-Control"). Only the headers S3 stores are accepted
	// (see AllowedHeaders); "X-Amz-Meta-Foo" entries are moved to Metadata.
	Headers map[string]string
	// Gzip precompresses the body and sets Content-Encoding: gzip.
	Gzip bool
	// Metadata is user metadata (x-amz-meta-*), keys lower-cased as S3 stores them.
	Metadata map[string]string
	// fingerprinted restricts the rule to keys whose file name carries a content hash
	// (see Fingerprinted); only the default rules use it.
	fingerprinted bool
}

// Config is a parsed configuration file.
type Config struct {
	Rules []Rule
	// Settings holds every top-level key other than "rules", as decoded by yaml.v3
	// (string, int, bool, []any, map[string]any ...).
	Settings map[string]any
}

// AllowedHeaders are the headers a rule may set: the ones S3 stores and serves back.
var AllowedHeaders = []string{
	"Cache-Control",
	"Content-Disposition",
	"Content-Encoding",
	"Content-Language",
	"Content-Type",
}

// ReservedMetadataPrefix is the user-metadata prefix edgeflush keeps for itself
// (x-amz-meta-edgeflush-md5 holds the content MD5 of multipart objects).
const ReservedMetadataPrefix = "edgeflush-"

// Error is a configuration error; Field names where it is ("rules[2].match").
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return "config: " + e.Msg
	}
	return "config: " + e.Field + ": " + e.Msg
}

// Load reads and parses the file at path. A missing file is returned as an error
// wrapping fs.ErrNotExist so callers can fall back to Default.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

type rawRule struct {
	Match    *string           `yaml:"match"`
	Headers  map[string]string `yaml:"headers"`
	Gzip     bool              `yaml:"gzip"`
	Metadata map[string]string `yaml:"metadata"`
}

// Parse parses a configuration document. Unknown keys inside a rule are rejected (a
// typo such as "header:" would otherwise silently drop headers); unknown top-level keys
// are kept in Settings for the CLI, which owns their meaning.
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxSize {
		return nil, &Error{Msg: fmt.Sprintf("file larger than %d bytes", MaxSize)}
	}
	c := &Config{Settings: map[string]any{}}
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	var top yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil {
		return nil, &Error{Msg: "invalid YAML: " + err.Error()}
	}
	if top.Kind == 0 || len(top.Content) == 0 {
		return c, nil
	}
	doc := top.Content[0]
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		return c, nil
	}
	if doc.Kind != yaml.MappingNode {
		return nil, &Error{Msg: "the file must be a YAML mapping (e.g. \"rules: [...]\")"}
	}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		k, v := doc.Content[i], doc.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, &Error{Msg: fmt.Sprintf("line %d: keys must be plain strings", k.Line)}
		}
		name := k.Value
		if _, dup := c.Settings[name]; dup || (name == "rules" && c.Rules != nil) {
			return nil, &Error{Field: name, Msg: "defined twice"}
		}
		if name == "rules" {
			rules, err := parseRules(v)
			if err != nil {
				return nil, err
			}
			c.Rules = rules
			if c.Rules == nil {
				c.Rules = []Rule{}
			}
			continue
		}
		var val any
		if err := v.Decode(&val); err != nil {
			return nil, &Error{Field: name, Msg: err.Error()}
		}
		c.Settings[name] = val
	}
	return c, nil
}

func parseRules(n *yaml.Node) ([]Rule, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, &Error{Field: "rules", Msg: "must be a list of {match, headers, gzip, metadata}"}
	}
	var rules []Rule
	for i, item := range n.Content {
		field := fmt.Sprintf("rules[%d]", i)
		if item.Kind != yaml.MappingNode {
			return nil, &Error{Field: field, Msg: "must be a mapping with a \"match\" glob"}
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			switch key := item.Content[j].Value; key {
			case "match", "headers", "gzip", "metadata":
			default:
				return nil, &Error{Field: field, Msg: fmt.Sprintf("unknown key %q (want match, headers, gzip, metadata)", key)}
			}
		}
		var rr rawRule
		if err := item.Decode(&rr); err != nil {
			return nil, &Error{Field: field, Msg: err.Error()}
		}
		r, err := buildRule(field, rr)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func buildRule(field string, rr rawRule) (Rule, error) {
	if rr.Match == nil || *rr.Match == "" {
		return Rule{}, &Error{Field: field + ".match", Msg: "missing glob (e.g. \"**/*.html\")"}
	}
	m := strings.TrimPrefix(*rr.Match, "/")
	if !doublestar.ValidatePattern(m) {
		return Rule{}, &Error{Field: field + ".match", Msg: fmt.Sprintf("invalid glob %q", *rr.Match)}
	}
	r := Rule{Match: m, Gzip: rr.Gzip}
	for name, value := range rr.Headers {
		if err := checkValue(value); err != nil {
			return Rule{}, &Error{Field: field + ".headers." + name, Msg: err.Error()}
		}
		canon := textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))
		if meta, ok := strings.CutPrefix(canon, "X-Amz-Meta-"); ok && meta != "" {
			if err := setMeta(&r, meta, value); err != nil {
				return Rule{}, &Error{Field: field + ".headers." + name, Msg: err.Error()}
			}
			continue
		}
		if !allowed(canon) {
			return Rule{}, &Error{Field: field + ".headers." + name,
				Msg: "S3 does not store this header; allowed: " + strings.Join(AllowedHeaders, ", ") + ", X-Amz-Meta-*"}
		}
		if r.Headers == nil {
			r.Headers = map[string]string{}
		}
		if _, dup := r.Headers[canon]; dup {
			return Rule{}, &Error{Field: field + ".headers." + name, Msg: "set twice"}
		}
		r.Headers[canon] = value
	}
	if r.Gzip {
		if enc, ok := r.Headers["Content-Encoding"]; ok && !strings.EqualFold(enc, "gzip") {
			return Rule{}, &Error{Field: field + ".gzip", Msg: "gzip: true conflicts with Content-Encoding: " + enc}
		}
	}
	for name, value := range rr.Metadata {
		if err := checkValue(value); err != nil {
			return Rule{}, &Error{Field: field + ".metadata." + name, Msg: err.Error()}
		}
		if err := setMeta(&r, name, value); err != nil {
			return Rule{}, &Error{Field: field + ".metadata." + name, Msg: err.Error()}
		}
	}
	return r, nil
}

func setMeta(r *Rule, name, value string) error {
	k := strings.ToLower(strings.TrimSpace(name))
	if k == "" {
		return errors.New("empty metadata name")
	}
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", c) {
			return fmt.Errorf("metadata name %q must be an HTTP token", name)
		}
	}
	if strings.HasPrefix(k, ReservedMetadataPrefix) {
		return fmt.Errorf("metadata names starting with %q are reserved for edgeflush", ReservedMetadataPrefix)
	}
	if r.Metadata == nil {
		r.Metadata = map[string]string{}
	}
	if _, dup := r.Metadata[k]; dup {
		return errors.New("set twice")
	}
	r.Metadata[k] = value
	return nil
}

// checkValue rejects values S3 would refuse or that would break the header line.
func checkValue(v string) error {
	if !utf8.ValidString(v) {
		return errors.New("value is not valid UTF-8")
	}
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return errors.New("value contains a control character")
		}
	}
	if len(v) > 2048 {
		return errors.New("value longer than 2048 bytes")
	}
	return nil
}

func allowed(h string) bool {
	for _, a := range AllowedHeaders {
		if a == h {
			return true
		}
	}
	return false
}

// Match returns the first rule whose glob matches key (relative to the site root, no
// leading slash), and whether one matched.
func (c *Config) Match(key string) (Rule, bool) {
	if c == nil {
		return Rule{}, false
	}
	key = strings.TrimPrefix(key, "/")
	for _, r := range c.Rules {
		if ok, _ := doublestar.Match(r.Match, key); ok && (!r.fingerprinted || Fingerprinted(key)) {
			return r, true
		}
	}
	return Rule{}, false
}

// Default is the configuration used when no file exists, chosen for a static site:
//   - HTML and the files crawlers and browsers poll by a fixed name (sitemap, feeds,
//     robots.txt, manifests, service workers) are revalidated on every request, so a
//     deploy is visible at once;
//   - build-tool asset folders whose file names carry a content hash (assets/, static/,
//     _next/static/, _astro/, _app/immutable/, build/) are cached for a year, immutable;
//   - so is any other file whose name carries a content hash (Fingerprinted): Hugo's
//     css/styles.min.<sha256>.css and *_hu_<hash>.png, webpack's main.3f9a2b1c.js ...;
//   - everything else (images, fonts, PDFs at stable names) is cached for an hour.
func Default() *Config {
	revalidate := map[string]string{"Cache-Control": "public, max-age=0, must-revalidate"}
	immutable := map[string]string{"Cache-Control": "public, max-age=31536000, immutable"}
	return &Config{
		Settings: map[string]any{},
		Rules: []Rule{
			{Match: "**/*.{html,htm}", Headers: revalidate},
			{Match: "**/{sitemap*.xml,robots.txt,*.webmanifest,manifest.json,sw.js,service-worker.js,feed.xml,rss.xml,atom.xml,index.xml}", Headers: revalidate},
			{Match: "{assets,static,_next/static,_astro,_app/immutable,build}/**", Headers: immutable},
			{Match: "**", Headers: immutable, fingerprinted: true},
			{Match: "**", Headers: map[string]string{"Cache-Control": "public, max-age=3600"}},
		},
	}
}

// SettingKeys lists the top-level setting names, sorted (for error messages and docs).
func (c *Config) SettingKeys() []string {
	keys := make([]string, 0, len(c.Settings))
	for k := range c.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
