package release_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/releasesim"
	"github.com/edgeflush/edgeflush/internal/testkit/visitor"
)

// simSite is version v of a small site: three pages (one behind a pretty URL) that name
// v's bundle and lazy chunk, an image that changes under the same name in every version
// (the trap for mixed pages), and images that never change (copied from release to release).
func simSite(v int) map[string][]byte {
	page := func(title string) []byte {
		return fmt.Appendf(nil, `<!doctype html><html><head>%s<title>%s</title>
<link rel="stylesheet" href="/assets/app-%d.css"></head>
<body><img src="/img/logo.svg"><img src="/img/pic-1.svg"><div data-lazy="/assets/chunk-%d.js"></div></body></html>`, visitor.HTMLMarker(v), title, v, v)
	}
	files := map[string][]byte{
		"index.html":                         page("home"),
		"b.html":                             page("b"),
		"docs/index.html":                    page("docs"),
		fmt.Sprintf("assets/app-%d.css", v):  fmt.Appendf(nil, "/* %s */ h1 { background: url(../img/bg.svg) }", visitor.TextMarker(v)),
		fmt.Sprintf("assets/chunk-%d.js", v): fmt.Appendf(nil, "// %s", visitor.TextMarker(v)),
		"img/logo.svg":                       fmt.Appendf(nil, "<svg><!-- %s --></svg>", visitor.TextMarker(v)),
		"img/bg.svg":                         fmt.Appendf(nil, "<svg><!-- %s --></svg>", visitor.TextMarker(1)),
	}
	for i := range 5 {
		files[fmt.Sprintf("img/pic-%d.svg", i)] = fmt.Appendf(nil, "<svg><!-- %s pic %d --></svg>", visitor.TextMarker(1), i)
	}
	return files
}

// TestSwitchUnderLoad is the release promise, end to end: v1 → v2 → v3 and a rollback to
// v2 under visitors, through moto, the KeyValueStore stand-in (each location sees a write
// after its own delay) and the edge emulator running the shipped function. No visitor gets
// a mixed page or a broken load, even during a switch, and once every location has a switch
// no page view gets another version.
func TestSwitchUnderLoad(t *testing.T) {
	moto := testkit.StartMoto(t)
	rep, err := releasesim.Run(context.Background(), releasesim.Options{
		MotoURL: moto.URL, Bucket: "sim", Site: simSite,
		Steps:     []releasesim.Step{{Version: 1}, {Version: 2}, {Version: 3}, {Version: 2, Rollback: true}},
		Pages:     []string{"/", "/b.html", "/docs/"},
		Locations: 3, Delays: []time.Duration{100 * time.Millisecond, 600 * time.Millisecond, 1200 * time.Millisecond},
		Visitors: 6, Readers: 3, LazyDelay: 1500 * time.Millisecond, Think: 30 * time.Millisecond,
		Warm: time.Second, Settle: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Steps {
		t.Logf("v%d rollback=%v id=%s: write after %s, every location after +%s; uploaded %d copied %d; during %+v; after %+v; wrong pages after %d",
			s.Version, s.Rollback, s.ID, s.Duration, s.SwitchTime, s.Uploaded, s.Copied, s.During, s.After, s.WrongPagesAfter)
	}
	during, after := rep.Total()
	if during.Mixed+after.Mixed != 0 || during.Broken+after.Broken != 0 || during.PageErrors+after.PageErrors != 0 {
		t.Errorf("mixed %d, broken %d, page errors %d; want none", during.Mixed+after.Mixed, during.Broken+after.Broken, during.PageErrors+after.PageErrors)
	}
	for _, s := range rep.Steps[1:] {
		if s.StaleAfter != 0 {
			t.Errorf("v%d: %d stale loads once every location had the switch", s.Version, s.StaleAfter)
		}
		if s.OpenPageAssetsAfter > 0 {
			t.Logf("v%d: %d assets of pages opened just before the switch, sent after it, served from their page's release", s.Version, s.OpenPageAssetsAfter)
		}
		if s.WrongPagesAfter != 0 {
			t.Errorf("v%d (rollback %v): %d page views got another version once every location had the switch", s.Version, s.Rollback, s.WrongPagesAfter)
		}
		if s.After.Pages == 0 || s.During.Pages == 0 {
			t.Errorf("v%d: %d page views during, %d after the switch: the visitors did not cover it", s.Version, s.During.Pages, s.After.Pages)
		}
		if s.SwitchTime < 0 || s.SwitchTime > 1200*time.Millisecond+time.Second {
			t.Errorf("v%d: every location served it %s after the write, want within the longest delay (1.2s) + 1s", s.Version, s.SwitchTime)
		}
	}
	// Readers opened pages before each switch and loaded their chunk after it.
	if lazy := during.Lazy + after.Lazy; lazy == 0 {
		t.Error("no lazy chunk was loaded: the test does not cover open pages")
	}
	if s := rep.Steps[2]; s.Copied != 6 || s.Uploaded != 6 {
		t.Errorf("v3 release: copied %d (want the 6 unchanged images), uploaded %d (want 3 pages, bundle, chunk, logo)", s.Copied, s.Uploaded)
	}
}
