package cachetag

import (
	"strings"
	"testing"
	"time"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

func TestFor(t *testing.T) {
	got := For("/docs/guide/a b,é.html")
	want := []string{Object("docs/guide/a b,é.html"), Directory("docs"), Directory("docs/guide")}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("For = %q, want %q", got, want)
	}
	if Object("docs") == Directory("docs") {
		t.Fatal("an object and a directory of the same name share a tag")
	}
	for _, tag := range got {
		if err := invalidation.CheckTag(tag); err != nil {
			t.Errorf("tag %q: %v", tag, err)
		}
	}
	deep := strings.Repeat("d/", 80) + "x.html"
	if n := len(For(deep)); n != invalidation.MaxTagsPerObject {
		t.Fatalf("%d tags for a deep key, want %d", n, invalidation.MaxTagsPerObject)
	}
	if h := Header(deep); len(h) > 2048 {
		t.Fatalf("header of %d bytes exceeds S3's 2 KB of metadata", len(h))
	}
	if For("a.html")[0] != Object("a.html") || len(For("a.html")) != 1 {
		t.Fatalf("a top-level key gets %q", For("a.html"))
	}
}

func TestMetadataKey(t *testing.T) {
	for in, want := range map[string]string{"x-amz-meta-cache-tag": "cache-tag", "X-Amz-Meta-Tags": "tags", "Cache-Tag": "", "x-amz-meta-": ""} {
		if got := MetadataKey(in); got != want {
			t.Errorf("MetadataKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUsable(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	cases := []struct {
		name         string
		tagged, full time.Time
		maxTTL       time.Duration
		want         bool
	}{
		{"never tagged", time.Time{}, now.Add(-time.Hour), day, false},
		{"tagged before the last full invalidation", now.Add(-2 * time.Hour), now.Add(-time.Hour), 365 * day, true},
		{"tagged after the last full invalidation, within max TTL", now.Add(-time.Hour), now.Add(-2 * time.Hour), day, false},
		{"tagged longer ago than max TTL", now.Add(-2 * day), time.Time{}, day, true},
		{"fresh, no full invalidation known", now.Add(-time.Minute), time.Time{}, day, false},
	}
	for _, c := range cases {
		if got := Usable(c.tagged, c.full, c.maxTTL, now); got != c.want {
			t.Errorf("%s: Usable = %v, want %v", c.name, got, c.want)
		}
	}
}
