package testkit

// Cache tags. A distribution created through the proxy keeps its CacheTagConfig (the
// configuration is returned as created). CreateInvalidation accepts "#tag" items beside
// paths, validated by CloudFront's documented rules (1-256 visible ASCII characters
// 33-126 without commas, no '*'); the edge emulator (edge.Options.CacheTagHeader)
// drops the copies carrying a tag. Where the proxy differs from AWS: AWS documents no
// in-progress limit for tag items; the proxy counts them against the wildcard limit,
// as edgeflush does, and its error message for a bad tag is its own.

// MsgInvalidTag is the proxy's InvalidArgument message for a malformed tag item.
const MsgInvalidTag = "Your request contains an invalid cache tag: a tag is 1 to 256 visible ASCII characters without commas or '*'."

func validTag(t string) bool {
	if t == "" || len(t) > 256 {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c < 33 || c > 126 || c == ',' || c == '*' {
			return false
		}
	}
	return true
}
