package invalidation

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// fuzzUnsafe is written out again here, not taken from the package, so that the
// oracle below is independent of the code under test: RFC 1738's unsafe characters,
// which CloudFront wants percent-encoded.
const fuzzUnsafe = " \"<>#%{}|\\^~[]`"

// fuzzEncode is the reference encoding: every byte outside printable ASCII and every
// unsafe character becomes %XX (upper-case hex); everything else is kept.
func fuzzEncode(p string) string {
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < 0x21 || c > 0x7e || strings.IndexByte(fuzzUnsafe, c) >= 0 {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

// fuzzPad inserts n%4500 copies of c after the first byte of p, so that short corpus
// entries reach the 4,000-character limit: long entries would make the fuzzer spend
// its time minimizing them.
func fuzzPad(p string, n uint16, c byte) string {
	k := int(n) % 4500
	if k == 0 {
		return p
	}
	cut := min(1, len(p))
	return p[:cut] + strings.Repeat(string([]byte{c}), k) + p[cut:]
}

// fuzzValid is the reference for CloudFront's path rules.
func fuzzValid(p string) bool {
	if !strings.HasPrefix(p, "/") {
		return false
	}
	if i := strings.Index(p, "*"); i >= 0 && i != len(p)-1 {
		return false
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] == 0x7f {
			return false
		}
	}
	return len(fuzzEncode(p)) <= MaxPathLength
}

// checkPathError asserts err is a *PathError naming raw (the raw path, cut to 80
// bytes plus "..." when long) with a reason.
func checkPathError(t *testing.T, err error, raw string) {
	t.Helper()
	var pe *PathError
	if !errors.As(err, &pe) {
		t.Fatalf("error for %q is %T, not *PathError: %v", raw, err, err)
	}
	if pe.Reason == "" || !strings.Contains(err.Error(), pe.Reason) {
		t.Fatalf("error for %q has no reason: %v", raw, err)
	}
	if pe.Path != raw && pe.Path != truncate(raw, 80) {
		t.Fatalf("error names %q, want %q", pe.Path, raw)
	}
}

// FuzzValidatePath checks ValidatePath, EncodePath, IsWildcard and PreparePaths
// against independent references: validity agrees with CloudFront's rules written out
// again, rejections are *PathError naming the path, the encoding equals the reference
// encoding, is printable ASCII, decodes back to the raw path (so it is injective), fits
// 4,000 characters for valid paths and keeps the wildcard; PreparePaths validates,
// encodes and dedupes in order, or names the first bad path. The first path is padded
// with pad%4500 copies of padByte after its first byte to reach the length limit. The
// seed corpus is in testdata/fuzz/FuzzValidatePath; bench/fuzz/run.sh runs it for a
// minute.
func FuzzValidatePath(f *testing.F) {
	for _, s := range []struct {
		p, q    string
		pad     uint16
		padByte byte
	}{
		{"/index.html", "/docs/*", 0, 0},
		{"/a b", "/a%20b", 0, 0},
		{"/les-misérables.webp", "/日本/*", 0, 0},
		{"/*", "/*", 0, 0},
		{"/a*b", "/x", 0, 0},
		{"", "/", 3, '/'},
		{"/", "/", 1333, ' '}, // exactly 4,000 once encoded
		{"/", "/", 1334, ' '}, // 4,003
		{"/", "/ok", 1400, 0xc3},
	} {
		f.Add(s.p, s.q, s.pad, s.padByte)
	}
	f.Fuzz(func(t *testing.T, p, q string, pad uint16, padByte byte) {
		p = fuzzPad(p, pad, padByte)
		e, err := checkOnePath(t, p)
		eq, qerr := checkOnePath(t, q)

		out, perr := PreparePaths([]string{p, q, p})
		switch {
		case err != nil || qerr != nil:
			if perr == nil || out != nil {
				t.Fatalf("PreparePaths(%q, %q) = %q, %v; want an error", p, q, out, perr)
			}
			bad := p
			if err == nil {
				bad = q
			}
			checkPathError(t, perr, bad)
		default:
			want := []string{e}
			if eq != e {
				want = append(want, eq)
			}
			if perr != nil || !reflect.DeepEqual(out, want) {
				t.Fatalf("PreparePaths(%q, %q) = %q, %v; want %q", p, q, out, perr, want)
			}
		}
	})
}

// checkOnePath checks ValidatePath, EncodePath and IsWildcard on one raw path against
// the references and returns the encoding and the validation error.
func checkOnePath(t *testing.T, p string) (string, error) {
	t.Helper()
	err := ValidatePath(p)
	if want := fuzzValid(p); want != (err == nil) {
		t.Fatalf("ValidatePath(%q) = %v, want valid=%v", p, err, want)
	}
	if err != nil {
		checkPathError(t, err, p)
	}
	e := EncodePath(p)
	if want := fuzzEncode(p); e != want {
		t.Fatalf("EncodePath(%q) = %q, want %q", p, e, want)
	}
	for i := 0; i < len(e); i++ {
		if e[i] < 0x21 || e[i] > 0x7e {
			t.Fatalf("EncodePath(%q) = %q keeps byte %#x", p, e, e[i])
		}
	}
	if back, derr := url.PathUnescape(e); derr != nil || back != p {
		t.Fatalf("EncodePath(%q) = %q decodes to %q, %v", p, e, back, derr)
	}
	if IsWildcard(e) != IsWildcard(p) || IsWildcard(p) != strings.HasSuffix(p, "*") {
		t.Fatalf("IsWildcard disagrees: raw %q %v, encoded %q %v", p, IsWildcard(p), e, IsWildcard(e))
	}
	if err == nil && len(e) > MaxPathLength {
		t.Fatalf("valid path %q encodes to %d characters", p, len(e))
	}
	return e, err
}
