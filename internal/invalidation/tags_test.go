package invalidation

import (
	"strings"
	"testing"
)

func TestTagItems(t *testing.T) {
	got, err := PreparePaths([]string{"#Page-A", "/a b.html", "#page-a", "#dir:blog/2024"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "#Page-A /a%20b.html #dir:blog/2024" {
		t.Fatalf("prepared %q: tags kept as given, deduplicated ignoring case, paths encoded", got)
	}
	if exact, wild := CountPaths(got); exact != 1 || wild != 2 {
		t.Fatalf("CountPaths = %d exact, %d wildcard; tags count as wildcards", exact, wild)
	}
	for item, want := range map[string]string{
		"#":                            "empty cache tag",
		"#a b":                         "visible ASCII",
		"#é":                           "visible ASCII",
		"#a*":                          "no wildcard",
		"#" + strings.Repeat("x", 257): "at most 256",
		"page":                         "(or '#' for a cache tag)",
	} {
		if err := ValidatePath(item); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidatePath(%q) = %v, want %q", item, err, want)
		}
	}
	if err := ValidatePath("#" + strings.Repeat("x", 256)); err != nil {
		t.Errorf("a 256-character tag: %v", err)
	}
}
