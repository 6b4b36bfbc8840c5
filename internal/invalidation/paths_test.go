package invalidation

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestEncodePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/index.html", "/index.html"},
		{"/*", "/*"},
		{"/blog/2024-*", "/blog/2024-*"},
		{"/a b.html", "/a%20b.html"},
		{"/100%.html", "/100%25.html"},
		{"/a%20b", "/a%2520b"}, // input is raw: '%' is literal
		{"/c++/a+b.html", "/c++/a+b.html"},
		{"/notes#1.html", "/notes%231.html"},
		{"/~user/index.html", "/%7Euser/index.html"},
		{"/les-misérables.webp", "/les-mis%C3%A9rables.webp"},
		{"/日本語/", "/%E6%97%A5%E6%9C%AC%E8%AA%9E/"},
		{"/q\"<>{}|\\^[]`", "/q%22%3C%3E%7B%7D%7C%5C%5E%5B%5D%60"},
		{"/keep$-_.+!*", "/keep$-_.+!*"},
		{"/reserved;:@&=?,'()", "/reserved;:@&=?,'()"},
		{"/a b/*", "/a%20b/*"},
	}
	for _, tt := range tests {
		if got := EncodePath(tt.in); got != tt.want {
			t.Errorf("EncodePath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidatePath(t *testing.T) {
	long := "/" + strings.Repeat("a", MaxPathLength-1)
	tests := []struct {
		in     string
		ok     bool
		reason string
	}{
		{"/", true, ""},
		{"/*", true, ""},
		{"/index.html", true, ""},
		{"/blog/2024-*", true, ""},
		{"/les-misérables.webp", true, ""},
		{long, true, ""},
		{"", false, "empty"},
		{"index.html", false, "start with '/'"},
		{"*", false, "start with '/'"},
		{"/a*/b", false, "last character"},
		{"/**", false, "last character"},
		{"/a\nb", false, "control character"},
		{"/a\tb", false, "control character"},
		{"/a\x7fb", false, "control character"},
		{long + "a", false, "at most 4000"},
		// 1,334 'é' are 2,668 bytes but 8,004 characters once encoded.
		{"/" + strings.Repeat("é", 1334), false, "once URL-encoded"},
		{"/" + strings.Repeat(" ", 1333), true, ""}, // 1 + 3*1333 = 4000
	}
	for _, tt := range tests {
		err := ValidatePath(tt.in)
		if tt.ok {
			if err != nil {
				t.Errorf("ValidatePath(%.40q) = %v, want nil", tt.in, err)
			}
			continue
		}
		var pe *PathError
		if !errors.As(err, &pe) {
			t.Errorf("ValidatePath(%.40q) = %v, want *PathError", tt.in, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.reason) {
			t.Errorf("ValidatePath(%.40q) = %q, want it to mention %q", tt.in, err, tt.reason)
		}
	}
}

func TestPreparePaths(t *testing.T) {
	got, err := PreparePaths([]string{"/a b", "/index.html", "/a b", "/x/*", "/index.html"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/a%20b", "/index.html", "/x/*"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("PreparePaths = %q, want %q", got, want)
	}

	_, err = PreparePaths([]string{"/ok", "bad", "/also*bad/"})
	var pe *PathError
	if !errors.As(err, &pe) || pe.Path != "bad" {
		t.Fatalf("PreparePaths error = %v, want *PathError naming \"bad\"", err)
	}
}

func TestIsWildcard(t *testing.T) {
	for p, want := range map[string]bool{"/*": true, "/blog/2024-*": true, "/a": false, "/": false} {
		if IsWildcard(p) != want {
			t.Errorf("IsWildcard(%q) = %v", p, !want)
		}
	}
}

func TestCallerReference(t *testing.T) {
	a := CallerReference("job-1", "E1")
	if a != CallerReference("job-1", "E1") {
		t.Fatal("CallerReference is not deterministic")
	}
	if !strings.HasPrefix(a, "edgeflush-") || len(a) != len("edgeflush-")+32 {
		t.Fatalf("CallerReference = %q, want edgeflush- and 32 hex digits", a)
	}
	for _, other := range [][]string{{"job-1", "E2"}, {"job-2", "E1"}, {"job-1E", "1"}, {"job-1", "E1", ""}} {
		if CallerReference(other...) == a {
			t.Errorf("CallerReference(%q) collides with (job-1, E1)", other)
		}
	}
}

func FuzzEncodePath(f *testing.F) {
	for _, s := range []string{"/a b", "/les-misérables.webp", "/100%", "/*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		e := EncodePath(p)
		for i := 0; i < len(e); i++ {
			if needsEncoding(e[i]) && e[i] != '%' {
				t.Fatalf("EncodePath(%q) = %q keeps byte %#x", p, e, e[i])
			}
		}
		if ValidatePath(p) == nil && len(e) > MaxPathLength {
			t.Fatalf("valid path %q encodes to %d characters", p, len(e))
		}
	})
}

func TestCheckBatch(t *testing.T) {
	mk := func(exact, wild int) []string {
		var ps []string
		for i := 0; i < exact; i++ {
			ps = append(ps, fmt.Sprintf("/f%d", i))
		}
		for i := 0; i < wild; i++ {
			ps = append(ps, fmt.Sprintf("/d%d/*", i))
		}
		return ps
	}
	for _, tc := range []struct {
		exact, wild int
		ok          bool
	}{{3000, 15, true}, {1, 0, true}, {3001, 0, false}, {0, 16, false}} {
		err := CheckBatch(mk(tc.exact, tc.wild))
		var be *BatchError
		if tc.ok != (err == nil) || (!tc.ok && (!errors.As(err, &be) || be.Exact != tc.exact || be.Wildcards != tc.wild)) {
			t.Errorf("CheckBatch(%d exact, %d wildcards) = %v", tc.exact, tc.wild, err)
		}
	}
}

func BenchmarkPreparePaths3000(b *testing.B) {
	raw := make([]string, 3000)
	for i := range raw {
		raw[i] = fmt.Sprintf("/docs/section %d/les-misérables-%d.html", i%50, i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := PreparePaths(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCountPaths(t *testing.T) {
	exact, wild := CountPaths([]string{"/a", "/b/*", "/*", "/c%2A", "/d"})
	if exact != 3 || wild != 2 {
		t.Errorf("CountPaths = %d exact, %d wildcards; want 3 and 2", exact, wild)
	}
	if e, w := CountPaths(nil); e != 0 || w != 0 {
		t.Errorf("CountPaths(nil) = %d, %d", e, w)
	}
}
