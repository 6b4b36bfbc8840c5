package invalidation

import (
	"fmt"
	"strings"
)

// Cache tags (CloudFront, 2026). On a distribution with a CacheTagConfig, CloudFront
// stores with each cached object the tags its origin response names in the configured
// header (for S3: object metadata, such as x-amz-meta-cache-tag), and CreateInvalidation
// accepts items "#tag" beside paths: each drops every cached variant of every object
// carrying the tag (directory and index URLs, query strings), at once. The rules
// (CloudFront Developer Guide, "What you need to know when invalidating tags"):
//   - an item is '#' and the tag; a tag is 1 to 256 visible ASCII characters (33-126)
//     without commas, compared case-insensitively; no wildcard;
//   - a distribution without CacheTagConfig ignores the origin's tag header, so a tag
//     item invalidates nothing there;
//   - a tag item is billed as one path, like a wildcard path.
// AWS documents no separate in-progress limit for tag items; edgeflush counts them
// against the wildcard limit (15), the safe reading for an item that may match any
// number of objects.

// MaxTagLength is CloudFront's limit on one cache tag.
const MaxTagLength = 256

// MaxTagsPerObject is how many tags CloudFront keeps per cached object.
const MaxTagsPerObject = 50

// IsTag reports whether an invalidation item is a cache tag ("#tag").
func IsTag(item string) bool { return strings.HasPrefix(item, "#") }

// CheckTag validates a cache tag (without the '#').
func CheckTag(tag string) error {
	switch {
	case tag == "":
		return fmt.Errorf("empty cache tag")
	case len(tag) > MaxTagLength:
		return fmt.Errorf("cache tag of %d characters, CloudFront allows at most %d", len(tag), MaxTagLength)
	case strings.Contains(tag, "*"):
		return fmt.Errorf("cache tag %q contains '*': CloudFront has no wildcard for tags (each #item matches one tag exactly)", truncate(tag, 80))
	}
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; c < 33 || c > 126 || c == ',' {
			return fmt.Errorf("cache tag %q contains %q at byte %d: tags are visible ASCII characters (33-126) without commas", truncate(tag, 80), c, i)
		}
	}
	return nil
}

func validateTagItem(item string) error {
	if err := CheckTag(item[1:]); err != nil {
		return &PathError{Path: truncate(item, 300), Reason: err.Error()}
	}
	return nil
}
