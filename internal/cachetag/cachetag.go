// Package cachetag names the CloudFront cache tags edgeflush writes on the objects it
// uploads to a distribution with a CacheTagConfig, and says when those tags may be
// used to invalidate an object (docs/planner.md, "Cache tags").
//
// Each object carries a short tag of its own and a tag for each directory above it,
// shallowest first, within CloudFront's 50 tags per object. Tags are hashes of the key
// and the directory, not the names themselves: keys may hold spaces, commas and
// non-ASCII characters, which tags may not (visible ASCII 33-126 without commas), and a
// short fixed length keeps 50 tags inside S3's 2 KB of user metadata.
package cachetag

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// Prefixes of edgeflush's tags: they tell edgeflush's tags from tags the site's own
// build may set, and an object tag from a directory tag.
const (
	ObjectPrefix    = "efo-"
	DirectoryPrefix = "efd-"
)

// hashLen is the hex digits kept of a SHA-256: 48 bits, so that two of a site's
// 100,000 keys share a tag with a chance of about 2e-5.
const hashLen = 12

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:hashLen]
}

// Object is the tag of the object key alone.
func Object(key string) string { return ObjectPrefix + hash("o:"+strings.TrimPrefix(key, "/")) }

// Directory is the tag every object below dir (a key prefix without the trailing
// '/', e.g. "docs/guide") carries.
func Directory(dir string) string { return DirectoryPrefix + hash("d:"+strings.Trim(dir, "/")) }

// For returns the tags edgeflush writes on key: its object tag, then a tag for each of
// its directories from the shallowest, at most invalidation.MaxTagsPerObject in all
// (a deeper directory is left out: its objects can still be invalidated by the tag of
// a shallower one, or by paths).
func For(key string) []string {
	key = strings.TrimPrefix(key, "/")
	out := []string{Object(key)}
	for i := 0; i < len(key) && len(out) < invalidation.MaxTagsPerObject; i++ {
		if key[i] == '/' && i > 0 {
			out = append(out, Directory(key[:i]))
		}
	}
	return out
}

// Header is the value of the tag header (tags joined by commas, CloudFront's format).
func Header(key string) string { return strings.Join(For(key), ",") }

// MetadataKey is the S3 user-metadata key that makes S3 answer with the header named in
// the distribution's CacheTagConfig: "x-amz-meta-cache-tag" -> "cache-tag". It returns
// "" when the header is not an S3 metadata header (S3 cannot send it).
func MetadataKey(headerName string) string {
	h := strings.ToLower(headerName)
	if m, ok := strings.CutPrefix(h, "x-amz-meta-"); ok && m != "" {
		return m
	}
	return ""
}

// Usable reports whether every cached copy of an object must carry the tags written at
// taggedSince: the object was tagged before (or when) the distribution's previous full
// invalidation (lastFull, zero when unknown) evicted everything older, or longer ago
// than the longest time a copy may stay cached (maxTTL). A zero taggedSince (never
// tagged) is never usable.
func Usable(taggedSince, lastFull time.Time, maxTTL time.Duration, now time.Time) bool {
	if taggedSince.IsZero() {
		return false
	}
	// Tagged no later than the full invalidation was created: every copy cached since
	// was fetched from a tagged object.
	if !lastFull.IsZero() && !taggedSince.After(lastFull) {
		return true
	}
	return maxTTL > 0 && now.Sub(taggedSince) > maxTTL
}
