package edge

import (
	"net/url"
	"strings"
)

// unsafe lists RFC 1738's "unsafe" characters, which CloudFront wants URL-encoded in
// invalidation paths (and which internal/invalidation.EncodePath encodes).
const unsafe = " \"<>#%{}|\\^~[]`"

func needsEncoding(c byte) bool {
	return c >= 0x80 || c <= 0x20 || c == 0x7f || strings.IndexByte(unsafe, c) >= 0
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// CanonicalPath is the form of a request path the emulator uses as the cache key and
// compares invalidation paths with: every non-ASCII byte, control byte and RFC 1738
// unsafe character is written %XX with upper-case hex; an escape %xx of such a
// character is kept (hex upper-cased); an escape of any other character (%2D for '-',
// %61 for 'a') is kept as it is, so it stays a different path, and a '%' that starts no
// valid escape becomes %25. So a browser's /caf%C3%A9.html and /a~b.html are cached
// under /caf%C3%A9.html and /a%7Eb.html, the paths edgeflush's planner sends.
func CanonicalPath(p string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
			d := unhex(p[i+1])<<4 | unhex(p[i+2])
			if needsEncoding(d) {
				b.WriteByte('%')
				b.WriteByte(hexDigits[d>>4])
				b.WriteByte(hexDigits[d&15])
			} else {
				b.WriteString(p[i : i+3])
			}
			i += 2
			continue
		}
		if needsEncoding(c) {
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// matches reports whether invalidation path inv (as sent to CloudFront) drops the entry
// cached under key (a CanonicalPath). The comparison is byte for byte and
// case-sensitive: a trailing '*' matches any rest (also none), anything else must be
// equal. The invalidation path is not normalised: CloudFront's documentation says to
// URL-encode only non-ASCII and unsafe characters and that encoding any other character
// makes the path miss, and is silent on unencoded unsafe characters; the emulator takes
// the strict reading, so "/a b.html" or "/a%7eb.html" (lower-case hex) match nothing.
func matches(inv, key string) bool {
	if prefix, ok := strings.CutSuffix(inv, "*"); ok {
		return strings.HasPrefix(key, prefix)
	}
	return inv == key
}

// originKey turns a canonical request path into the S3 key it reads (origin path
// included). ok is false when the path does not decode (it cannot name a key).
func originKey(originPath, path string) (string, bool) {
	raw, err := url.PathUnescape(path)
	if err != nil {
		return "", false
	}
	key := strings.TrimPrefix(raw, "/")
	if op := strings.Trim(originPath, "/"); op != "" {
		key = op + "/" + key
	}
	return key, true
}

// rewritePretty is the viewer-request function AWS documents for pretty URLs ("add
// index.html to request URLs that don't include a file name"): /dir/ becomes
// /dir/index.html and /dir (no '.' in the URI) becomes /dir/index.html.
func rewritePretty(uri string) string {
	switch {
	case strings.HasSuffix(uri, "/"):
		return uri + "index.html"
	case !strings.Contains(uri, "."):
		return uri + "/index.html"
	}
	return uri
}
