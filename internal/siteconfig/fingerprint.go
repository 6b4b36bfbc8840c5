package siteconfig

import (
	"path"
	"strings"
)

// Fingerprinted reports whether the file name of key carries a content hash in one of
// the places build tools put it, so that the object can be cached for a year as
// immutable: a new build that changes the content changes the name.
//
// A false "yes" is the costly mistake (a plain-named file replaced later would stay in
// browsers for a year), a false "no" only costs the default hour of caching; so a
// segment counts as a hash only when it looks random, not merely long:
//
//   - hex (Hugo, webpack, Next.js, Parcel): 8 or more of [0-9a-f] with at least one digit
//     and one letter; between '-' or '_' (where words and dates also stand) at least two
//     of each, e.g. "styles.min.<sha256>.css", "main.3f9a2b1c.js", "[contenthash].js",
//     "_app-a1b2c3d4e5f6a7b8.js", "photo_hu_a3c41ed0f5a8c3b8.png";
//   - base64url (Rollup/Vite, Astro, SvelteKit, Eleventy Img): 8 to 10 of
//     [A-Za-z0-9_-] that do not read as words (see isBase64Hash), as the last part of
//     the name after '-' ("index-BxYz12_a.js"), a dotted part ("index.BxYz12_a.css")
//     or an Eleventy id before "-<width>";
//   - base32 (esbuild): 8 of [A-Z2-7] after '-' with at least two letters and digits.
//
// Many base64url hashes (those with fewer than two digits, "index-DiwrgTda.js") cannot
// be told from CamelCase words and are not recognised: Vite, Astro and SvelteKit put
// them under assets/, _astro/ and _app/immutable/, which the default rules treat as
// immutable anyway. Version numbers ("jquery-3.7.1.min.js"), dates, sizes
// ("favicon-32x32.png") and hex-looking words ("deadbeef", "cafe") are not hashes.
func Fingerprinted(key string) bool {
	base := path.Base(key)
	parts := strings.Split(base, ".")
	if len(parts) < 2 || parts[0] == "" && len(parts) == 2 {
		return false // no extension, or a dot file
	}
	// A dotted part between the name and the extension: name.HASH.ext.
	for _, p := range parts[1 : len(parts)-1] {
		if isHex(p, 1) || isBase64Hash(p) {
			return true
		}
	}
	stem := parts[0]
	// The whole name: HASH.ext (Next.js CSS, webpack's [contenthash].js).
	if isHex(stem, 1) {
		return true
	}
	// Hex between '-' and '_': name-HASH.ext, name_hu_HASH.png, name_huHASH_size.png.
	for _, tok := range strings.FieldsFunc(stem, func(r rune) bool { return r == '-' || r == '_' }) {
		if isHex(tok, 2) || strings.HasPrefix(tok, "hu") && isHex(tok[2:], 2) {
			return true
		}
	}
	// Rollup/Vite and esbuild: the last 8 characters after a '-' (the hash itself may
	// hold '-' and '_').
	for _, n := range []int{8, 10} {
		if len(stem) > n && stem[len(stem)-n-1] == '-' {
			h := stem[len(stem)-n:]
			if isBase64Hash(h) || n == 8 && isBase32Hash(h) {
				return true
			}
		}
	}
	// Eleventy Img: ID-WIDTH.ext.
	if id, width, ok := strings.Cut(stem, "-"); ok && isDigits(width) && (isBase64Hash(id) || isHex(id, 1)) {
		return true
	}
	return false
}

// isHex reports whether s is 8 or more lower-case hex digits with at least min digits
// and min letters.
func isHex(s string, min int) bool {
	if len(s) < 8 {
		return false
	}
	digits, letters := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'f':
			letters++
		default:
			return false
		}
	}
	return digits >= min && letters >= min
}

// isBase64Hash reports whether s looks like a short base64url hash (see Fingerprinted).
// Mixed-case names with digits are common ("GitHub2x", "Win10Pro", "iPhone12"), so it
// asks for what words rarely have together: two digits or more, letters and digits
// interleaved (two letter/digit boundaries), and lower-case runs that do not read as
// syllables (no run of four, and not every run of two or more holding a vowel).
func isBase64Hash(s string) bool {
	if len(s) < 8 || len(s) > 10 {
		return false
	}
	var upper, lower, digits, boundaries int
	var run []byte // the current lower-case run
	longRuns, voweled, maxRun := 0, 0, 0
	endRun := func() {
		if len(run) >= 2 {
			longRuns++
			if strings.ContainsAny(string(run), "aeiouy") {
				voweled++
			}
		}
		maxRun = max(maxRun, len(run))
		run = run[:0]
	}
	prev := byte(0) // 'l' letter, 'd' digit, 0 none yet; '-' and '_' are skipped
	for i := 0; i < len(s); i++ {
		c := s[i]
		class := byte('l')
		switch {
		case c >= 'A' && c <= 'Z':
			upper++
			endRun()
		case c >= 'a' && c <= 'z':
			lower++
			run = append(run, c)
		case c >= '0' && c <= '9':
			digits++
			class = 'd'
			endRun()
		case c == '-' || c == '_':
			endRun()
			continue
		default:
			return false
		}
		if prev != 0 && prev != class {
			boundaries++
		}
		prev = class
	}
	endRun()
	wordLike := longRuns > 0 && voweled == longRuns
	return upper > 0 && lower > 0 && digits >= 2 && boundaries >= 2 && maxRun < 4 && !wordLike
}

// isBase32Hash reports whether s looks like esbuild's hash: [A-Z2-7] with at least two
// letters and two digits.
func isBase32Hash(s string) bool {
	letters, digits := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z':
			letters++
		case c >= '2' && c <= '7':
			digits++
		default:
			return false
		}
	}
	return letters >= 2 && digits >= 2
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
