// Package planner chooses CloudFront invalidation paths for a change set: at most K
// paths, of which at most W wildcards, that cover every URL of every changed object
// while invalidating as few unchanged objects as possible. The choice is the exact
// optimum, computed by a dynamic program over a compressed trie of the site's URLs;
// see docs/planner.md for the model, the proof sketch and the default budget.
//
// The model, precisely:
//
//   - Objects are S3 keys: every key of the site after the deploy plus the deleted keys
//     (Input.All ∪ Input.Changed). An object is changed when it is in Input.Changed.
//   - Each object has one or more cached URLs: "/"+key always; with index mapping a key
//     "dir/index.html" is also cached as "/dir/" (and "/dir" with DirWithoutSlash),
//     and the root "index.html" as "/".
//   - A plan must cover every URL of every changed object: an exact path covers the one
//     URL it names, a wildcard "/prefix*" covers every URL that starts with prefix
//     (prefix may end anywhere, e.g. "/blog/2024-*").
//   - Collateral counts unchanged OBJECTS, not URLs: an unchanged object counts once
//     when any of its URLs is matched by a wildcard. Every alias URL of an object is a
//     prefix of its main URL "/"+key ("/dir/" of "/dir/index.html"), so an object is
//     matched exactly when its main URL is: collateral of "/prefix*" is the number of
//     unchanged keys k with "/"+k starting with prefix. Exact paths add no collateral
//     (they name a URL that needs invalidating anyway).
//   - Among plans of minimal collateral the planner prefers fewer paths, then fewer
//     wildcards.
//
// Matching is done on raw (unencoded) URLs; Result.Paths are encoded for CloudFront
// at the very end.
//
// With Input.Tags, cache tag items ("#tag") are candidates too, each costing a path
// and a wildcard slot; the plan stays the exact optimum (tags.go).
package planner

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// Default budget, chosen from the benchmark on four real sites (docs/planner.md,
// bench/planner/RESULTS.md): up to 30 paths per deploy each extra path ($0.005) keeps
// over 100 objects in cache, past 30 fewer (62 from 30 to 40, 8.5 from 75 to 100); and
// a deploy a day at 30 paths at most stays inside CloudFront's 1,000 free paths a
// month. Ten wildcards leave 5 of the 15 wildcard paths CloudFront allows in progress
// per distribution to other invalidations.
const (
	DefaultMaxPaths     = 30
	DefaultMaxWildcards = 10
)

// MaxInProgressWildcards is CloudFront's limit on wildcard paths in progress per
// distribution; a plan with more wildcards than this would be refused.
const MaxInProgressWildcards = 15

// NoWildcards as Input.MaxWildcards forbids wildcard paths (0 means the default).
const NoWildcards = -1

// Input is one planning problem. See the package comment for the model.
type Input struct {
	// All holds every object key of the site after the deploy, Changed the keys that
	// were added, modified or deleted. Deleted keys need not be in All. One leading
	// '/' per key is tolerated; duplicates are ignored.
	All, Changed []string
	// MaxPaths is K, the total number of paths (0: DefaultMaxPaths). MaxWildcards is
	// W, the number of wildcard paths among them (0: DefaultMaxWildcards,
	// NoWildcards: none); it is capped at MaxPaths.
	MaxPaths, MaxWildcards int
	// IndexDocument is the file served for a directory URL ("" means "index.html",
	// "-" disables index mapping: every object is cached under "/"+key only).
	IndexDocument string
	// DirWithoutSlash: the site also serves (and CloudFront caches) "/dir" for
	// "dir/index.html".
	DirWithoutSlash bool
	// Tags offers cache tag items ("#tag") as candidates (see Site.PlanTags for what to
	// list per key). A tag item costs one path and one wildcard slot; nil plans paths only.
	Tags map[string][]string
}

// Result is a plan.
type Result struct {
	// Paths are ready for CloudFront: valid by invalidation.ValidatePath before
	// encoding, URL-encoded by invalidation.EncodePath, in the byte order of the raw paths.
	Paths []string
	// Collateral is the number of unchanged objects the wildcards invalidate.
	Collateral int
	// Wildcards is the number of wildcard paths in Paths.
	Wildcards int
	// Tags is the number of cache tag items ("#tag") in Paths; with Wildcards at most
	// the wildcard budget.
	Tags int
	// ChangedURLs is the number of distinct URLs that had to be covered.
	ChangedURLs int
}

// InputError reports a problem with the input (a bad key or budget); callers show it
// as a usage error.
type InputError struct {
	Key    string // the offending key, "" for a budget problem
	Reason string
}

func (e *InputError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("key %q: %s", e.Key, e.Reason)
	}
	return e.Reason
}

// ErrInfeasible is returned (wrapped) when no plan fits the budget: only possible when
// wildcards are forbidden (or every changed URL cannot be named exactly) and more URLs
// changed than MaxPaths allows.
var ErrInfeasible = errors.New("no plan fits the budget")

// budget resolves the defaults and checks the limits.
func (in Input) budget() (k, w int, err error) { return budget(in.MaxPaths, in.MaxWildcards) }

func budget(maxPaths, maxWildcards int) (k, w int, err error) {
	k, w = maxPaths, maxWildcards
	if k < 0 {
		return 0, 0, &InputError{Reason: fmt.Sprintf("max paths %d: must be at least 1 (0 for the default %d)", k, DefaultMaxPaths)}
	}
	if k == 0 {
		k = DefaultMaxPaths
	}
	switch {
	case w == 0:
		w = DefaultMaxWildcards
	case w == NoWildcards:
		w = 0
	case w < 0:
		return 0, 0, &InputError{Reason: fmt.Sprintf("max wildcards %d: must be at least 0 (0 for the default %d, %d for none)", w, DefaultMaxWildcards, NoWildcards)}
	}
	if w > k {
		w = k
	}
	return k, w, nil
}

// Plan computes the optimal plan for in.
func Plan(in Input) (Result, error) {
	if _, _, err := in.budget(); err != nil {
		return Result{}, err
	}
	keys := make([]string, 0, len(in.All)+len(in.Changed))
	keys = append(append(keys, in.All...), in.Changed...)
	s, err := NewSite(keys, in.IndexDocument, in.DirWithoutSlash)
	if err != nil {
		return Result{}, err
	}
	return s.PlanTags(in.Changed, in.Tags, in.MaxPaths, in.MaxWildcards)
}

// encodePath is the one place the planner encodes a raw path for CloudFront.
func encodePath(p string) string { return invalidation.EncodePath(p) }

// exactOK reports whether url can be sent as an exact path: CloudFront reads '*' as a
// wildcard and refuses control characters.
func exactOK(url string) bool { return cleanLen(url) == len(url) }

// cleanLen returns the length of the longest prefix of s that may start a wildcard
// path: it stops before the first '*' or control character.
func cleanLen(s string) int {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '*' || c < 0x20 || c == 0x7f {
			return i
		}
	}
	return len(s)
}

// checkKey validates one S3 key (after the leading '/' was removed).
func checkKey(key string) error {
	if key == "" {
		return &InputError{Key: key, Reason: "empty key"}
	}
	if !utf8.ValidString(key) {
		return &InputError{Key: key, Reason: "not valid UTF-8 (S3 keys are UTF-8)"}
	}
	// S3's own limit. It also keeps every exact path within CloudFront's 4,000
	// characters: a 1,024-byte key encodes to at most 3,073 characters with its '/'.
	if len(key) > MaxKeyBytes {
		return &InputError{Key: key, Reason: fmt.Sprintf("longer than %d bytes (S3's limit for a key)", MaxKeyBytes)}
	}
	return nil
}

// MaxKeyBytes is the longest S3 object key, in bytes of UTF-8.
const MaxKeyBytes = 1024
