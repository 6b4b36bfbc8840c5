// Package invalidation is edgeflush's CloudFront invalidation engine: it validates and
// encodes invalidation paths by CloudFront's rules, creates invalidations with
// deterministic caller references (so a retried request never creates a second one),
// reads and waits for them, counts the paths of those still in progress (InProgress,
// RoomOn: what CloudFront's per-distribution limits leave free), and classifies
// CloudFront's errors into the kinds callers must treat differently. It knows nothing
// about CodePipeline or the CLI.
package invalidation

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// MaxPathLength is CloudFront's limit on one invalidation path, counted after encoding.
const MaxPathLength = 4000

// PathError reports an invalidation path CloudFront would reject.
type PathError struct {
	Path   string // the raw path as given
	Reason string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("invalid invalidation path %q: %s", e.Path, e.Reason)
}

// ValidatePath checks a raw (unencoded) path against CloudFront's rules: it starts
// with '/', contains '*' at most once and only as its last character, contains no
// control characters, and is at most MaxPathLength characters once encoded.
func ValidatePath(p string) error {
	if p == "" {
		return &PathError{Path: p, Reason: "empty; write a path starting with '/', e.g. /index.html or /*"}
	}
	if IsTag(p) {
		return validateTagItem(p)
	}
	if p[0] != '/' {
		return &PathError{Path: p, Reason: fmt.Sprintf("must start with '/' (or '#' for a cache tag); write %q", "/"+p)}
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
		return &PathError{Path: p, Reason: "'*' is allowed only as the last character (e.g. /images/*)"}
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c == 0x7f {
			return &PathError{Path: p, Reason: fmt.Sprintf("contains control character %#02x at byte %d", c, i)}
		}
	}
	if n := encodedLen(p); n > MaxPathLength {
		return &PathError{Path: truncate(p, 80), Reason: fmt.Sprintf("%d characters once URL-encoded, CloudFront allows at most %d", n, MaxPathLength)}
	}
	return nil
}

// unsafe lists the RFC 1738 "unsafe" characters CloudFront wants URL-encoded. '*' is
// not among them (it is the wildcard), nor are reserved characters such as '+', '?',
// '&', '=' or ':': CloudFront matches those literally, and encoding them would make
// the path miss the cached object.
const unsafe = " \"<>#%{}|\\^~[]`"

func needsEncoding(c byte) bool {
	return c >= 0x80 || c < 0x20 || c == 0x7f || strings.IndexByte(unsafe, c) >= 0
}

// EncodePath URL-encodes a raw path the way CloudFront expects: every byte of a
// non-ASCII character (UTF-8), every RFC 1738 unsafe character (space " < > # % { } |
// \ ^ ~ [ ] `) and control bytes become %XX with upper-case hex; everything else is
// kept, including '*' and '/'.
//
// The input is always taken as raw: a '%' is a literal percent sign and becomes %25,
// so an S3 key named "100%.html" is invalidated as /100%25.html. Passing an already
// encoded path therefore encodes it twice; callers must pass keys or paths as they
// are named, not as they appear in a URL.
func EncodePath(p string) string {
	n := encodedLen(p)
	if n == len(p) {
		return p
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(n)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if needsEncoding(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

func encodedLen(p string) int {
	n := len(p)
	for i := 0; i < len(p); i++ {
		if needsEncoding(p[i]) {
			n += 2
		}
	}
	return n
}

// PreparePaths validates and encodes raw paths and removes duplicates (after
// encoding), keeping the first occurrence's order. The error names the first bad path
// and is a *PathError.
func PreparePaths(raw []string) ([]string, error) {
	out := make([]string, 0, len(raw))
	seen := make(map[string]bool, len(raw))
	for _, p := range raw {
		if err := ValidatePath(p); err != nil {
			return nil, err
		}
		if IsTag(p) {
			// Sent as given (a tag has nothing to encode); tags compare ignoring case.
			if k := strings.ToLower(p); !seen[k] {
				seen[k] = true
				out = append(out, p)
			}
			continue
		}
		e := EncodePath(p)
		if !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	return out, nil
}

// IsWildcard reports whether p is a wildcard path (ends in '*'). CloudFront counts
// wildcard paths against a separate in-progress limit (15 per distribution).
func IsWildcard(p string) bool { return strings.HasSuffix(p, "*") }

// CallerReference returns a deterministic CloudFront caller reference for the given
// parts: the same parts always give the same reference, so a retried request finds the
// invalidation it already created instead of creating a second one. The parts are
// length-prefixed before hashing, so ("ab","c") and ("a","bc") differ.
func CallerReference(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s;", len(p), p)
	}
	return "edgeflush-" + hex.EncodeToString(h.Sum(nil))[:32]
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// CloudFront's limits on invalidation paths in progress per distribution, counted
// separately for exact and wildcard paths. One batch above either limit can never be
// accepted.
const (
	MaxInProgressPaths     = 3000
	MaxInProgressWildcards = 15
)

// BatchError reports a batch that exceeds CloudFront's in-progress limits on its own.
type BatchError struct {
	Exact, Wildcards int
}

func (e *BatchError) Error() string {
	return fmt.Sprintf("%d exact and %d wildcard paths in one invalidation; CloudFront allows at most %d exact and %d wildcard paths in progress per distribution (use fewer paths, or wildcards such as /docs/*)",
		e.Exact, e.Wildcards, MaxInProgressPaths, MaxInProgressWildcards)
}

// CheckBatch returns a *BatchError when paths hold more exact or wildcard paths than
// CloudFront ever allows in progress on one distribution: such a batch would be
// refused with TooManyInvalidationsInProgress however long one waits.
func CheckBatch(paths []string) error {
	exact, wild := CountPaths(paths)
	if exact > MaxInProgressPaths || wild > MaxInProgressWildcards {
		return &BatchError{Exact: exact, Wildcards: wild}
	}
	return nil
}

// CountPaths splits paths the way CloudFront counts them against its in-progress
// limits: exact paths and wildcard paths (cache tag items count as wildcards, tags.go).
func CountPaths(paths []string) (exact, wildcards int) {
	for _, p := range paths {
		if IsWildcard(p) || IsTag(p) {
			wildcards++
		}
	}
	return len(paths) - wildcards, wildcards
}
