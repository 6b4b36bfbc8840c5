package visitor

import (
	"testing"
	"time"
)

// A timeline of two deploys: v1 at t0 (green at t0+1s), v2 started at t0+10s, green at
// t0+20s. v2 changed the page /a.html and the image /img/logo.svg (same name), renamed the
// bundle (/assets/app-1.js -> /assets/app-2.js) and deleted the chunk /assets/chunk-1.js.
func timeline(t0 time.Time) []Deploy {
	return []Deploy{
		{Version: 1, Started: t0, Succeeded: t0.Add(time.Second), Files: map[string]int{
			"/a.html": 1, "/b.html": 1, "/img/logo.svg": 1, "/assets/app-1.js": 1, "/assets/chunk-1.js": 1,
		}},
		{Version: 2, Started: t0.Add(10 * time.Second), Succeeded: t0.Add(20 * time.Second), Files: map[string]int{
			"/a.html": 2, "/b.html": 1, "/img/logo.svg": 2, "/assets/app-2.js": 2,
		}},
	}
}

func TestJudge(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	type want struct {
		step                                  int
		during, broken, stale, mixed, pageErr bool
	}
	cases := []struct {
		name string
		load Load
		want want
	}{
		{"before any deploy", Load{Kind: KindPage, URL: "/a.html", Start: at(-1), Status: 200, Version: 1},
			want{step: -1}},
		{"v1 page during v1", Load{Kind: KindPage, URL: "/a.html", Start: at(0.5), Status: 200, Version: 1},
			want{step: 0, during: true}},
		{"v1 page after v1 green", Load{Kind: KindPage, URL: "/a.html", Start: at(2), Status: 200, Version: 1},
			want{step: 0}},
		{"v1 page during v2: not stale yet (v1 is green)", Load{Kind: KindPage, URL: "/a.html", Start: at(15), Status: 200, Version: 1},
			want{step: 1, during: true}},
		{"v1 page after v2 green: stale", Load{Kind: KindPage, URL: "/a.html", Start: at(21), Status: 200, Version: 1},
			want{step: 1, stale: true}},
		{"unchanged page keeps v1 marker after v2: fresh", Load{Kind: KindPage, URL: "/b.html", Start: at(21), Status: 200, Version: 1},
			want{step: 1}},
		{"page query ignored for the lookup", Load{Kind: KindPage, URL: "/a.html?x=1", Start: at(21), Status: 200, Version: 1},
			want{step: 1, stale: true}},
		{"page 404 is a page error, not broken", Load{Kind: KindPage, URL: "/a.html", Start: at(21), Status: 404},
			want{step: 1, pageErr: true}},
		{"asset 404: broken", Load{Kind: KindAsset, Page: "/a.html", PageVersion: 2, URL: "/assets/app-2.js", Start: at(12), Status: 404},
			want{step: 1, during: true, broken: true}},
		{"asset transport error: broken", Load{Kind: KindAsset, Page: "/a.html", PageVersion: 2, URL: "/assets/app-2.js", Start: at(12), Err: "EOF"},
			want{step: 1, during: true, broken: true}},
		{"lazy chunk of an open v1 page after v2 deleted it: broken, not stale", Load{Kind: KindLazy, Page: "/a.html", PageVersion: 1, URL: "/assets/chunk-1.js", Start: at(25), Status: 403},
			want{step: 1, broken: true}},
		{"lazy chunk of an open v1 page served after v2 green: fine", Load{Kind: KindLazy, Page: "/a.html", PageVersion: 1, URL: "/assets/chunk-1.js", Start: at(25), Status: 200, Version: 1},
			want{step: 1}},
		{"v2 page with v1 logo during v2: mixed", Load{Kind: KindAsset, Page: "/a.html", PageVersion: 2, URL: "/img/logo.svg", Start: at(12), Status: 200, Version: 1},
			want{step: 1, during: true, mixed: true}},
		{"v1 page with v2 logo during v2: mixed", Load{Kind: KindAsset, Page: "/a.html", PageVersion: 1, URL: "/img/logo.svg", Start: at(12), Status: 200, Version: 2},
			want{step: 1, during: true, mixed: true}},
		{"unchanged page with either logo: consistent", Load{Kind: KindAsset, Page: "/b.html", PageVersion: 1, URL: "/img/logo.svg", Start: at(12), Status: 200, Version: 2},
			want{step: 1, during: true}},
		{"v2 page, unchanged-name v1 logo after green: mixed and stale", Load{Kind: KindAsset, Page: "/a.html", PageVersion: 2, URL: "/img/logo.svg", Start: at(22), Status: 200, Version: 1},
			want{step: 1, mixed: true, stale: true}},
		{"v2 page with its own bundle", Load{Kind: KindAsset, Page: "/a.html", PageVersion: 2, URL: "/assets/app-2.js", Start: at(12), Status: 200, Version: 2},
			want{step: 1, during: true}},
		{"unknown asset version: not judged", Load{Kind: KindAsset, Page: "/a.html", PageVersion: 2, URL: "/img/logo.svg", Start: at(22), Status: 200},
			want{step: 1}},
		{"asset version no deploy carries: not judged mixed", Load{Kind: KindAsset, Page: "/a.html", PageVersion: 2, URL: "/img/logo.svg", Start: at(12), Status: 200, Version: 7},
			want{step: 1, during: true}},
	}
	tl := timeline(t0)
	for _, c := range cases {
		j := Judge([]Load{c.load}, tl)[0]
		got := want{j.Step, j.During, j.Broken, j.Stale, j.Mixed, j.PageError}
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestJudgeUnfinishedDeploy(t *testing.T) {
	t0 := time.Now()
	tl := timeline(t0)
	tl[1].Succeeded = time.Time{} // v2 never reported success
	j := Judge([]Load{{Kind: KindPage, URL: "/a.html", Start: t0.Add(time.Hour), Status: 200, Version: 1}}, tl)[0]
	if !j.During || j.Stale || j.Step != 1 {
		t.Errorf("got %+v, want during step 1 and not stale (v1 is the last green deploy)", j)
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Now()
	loads := []Load{
		{Kind: KindPage, URL: "/a.html", Start: t0.Add(-time.Second), Status: 200}, // before: not counted
		{Kind: KindPage, URL: "/a.html", Start: t0.Add(12 * time.Second), Status: 200, Version: 2},
		{Kind: KindAsset, Page: "/a.html", PageVersion: 2, URL: "/assets/app-2.js", Start: t0.Add(12 * time.Second), Status: 404},
		{Kind: KindLazy, Page: "/a.html", PageVersion: 1, URL: "/assets/chunk-1.js", Start: t0.Add(25 * time.Second), Status: 404},
		{Kind: KindPage, URL: "/a.html", Start: t0.Add(25 * time.Second), Status: 200, Version: 1},
	}
	s := Summarize(Judge(loads, timeline(t0)), 2)
	if len(s) != 2 {
		t.Fatalf("got %d steps", len(s))
	}
	if s[0].During != (Counts{}) || s[0].After != (Counts{}) {
		t.Errorf("step 0: %+v, want nothing", s[0])
	}
	wantDuring := Counts{Loads: 2, Pages: 1, Assets: 1, Broken: 1}
	wantAfter := Counts{Loads: 2, Pages: 1, Lazy: 1, Broken: 1, BrokenLazy: 1, Stale: 1}
	if s[1].During != wantDuring || s[1].After != wantAfter {
		t.Errorf("step 1 = %+v\nwant during %+v after %+v", s[1], wantDuring, wantAfter)
	}
}

func TestConverged(t *testing.T) {
	t0 := time.Now()
	d := timeline(t0)[1] // v2, started at t0+10s
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	obs := []Observation{
		{Time: at(9), Location: 0, Path: "/a.html", Status: 200, Version: 1}, // before the start: ignored
		{Time: at(11), Location: 0, Path: "/a.html", Status: 200, Version: 1},
		{Time: at(11), Location: 1, Path: "/a.html", Status: 200, Version: 2},
		{Time: at(12), Location: 0, Path: "/a.html", Status: 200, Version: 2},
		{Time: at(13), Location: 1, Path: "/a.html", Status: 200, Version: 1}, // location 1 flips back
		{Time: at(14), Location: 0, Path: "/a.html", Status: 200, Version: 2},
		{Time: at(15), Location: 1, Path: "/a.html", Status: 503},
		{Time: at(16), Location: 1, Path: "/a.html", Status: 200, Version: 2},
		{Time: at(17), Location: 1, Path: "/a.html", Status: 200, Version: 2},
		{Time: at(17), Location: 0, Path: "/gone.html", Status: 404}, // not in v2: ignored
	}
	after, ok, err := Converged(obs, d, 2)
	if err != nil || !ok || after != 6*time.Second {
		t.Errorf("Converged = %v %v %v, want 6s (location 1 at t0+16s)", after, ok, err)
	}
	if _, ok, _ := Converged(obs, d, 3); ok {
		t.Error("a location never observed counts as converged")
	}
	if _, ok, _ := Converged(obs[:5], d, 2); ok {
		t.Error("location 1 ends on v1 but counts as converged")
	}
	if _, _, err := Converged(obs[9:], d, 2); err == nil {
		t.Error("no observation of a served path: want an error")
	}
}
