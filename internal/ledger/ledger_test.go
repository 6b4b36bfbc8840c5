package ledger

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func isPage(k string) bool { return strings.HasSuffix(k, ".html") }

func apply(l *Ledger, ops ...Op) {
	for _, op := range ops {
		op(l)
	}
}

func TestRemovalsWaitForTheInvalidationAndTheGracePeriod(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keep := 24 * time.Hour
	l := &Ledger{}

	// Run 1 changes a page and removes a page and an asset.
	s := l.Select(Input{RunID: "r1", Missing: []string{"app.1.js", "old.html"}, Uploads: []string{"index.html"}, KeepRemoved: keep, IsPage: isPage, Now: t0, Targets: []string{"E1"}})
	if len(s.DeleteNow) != 0 || len(s.Waiting) != 2 {
		t.Fatalf("run 1: delete now %v, waiting %+v", s.DeleteNow, s.Waiting)
	}
	for _, w := range s.Waiting {
		if !w.ForInvalidation || !w.AfterThisRun {
			t.Errorf("%s must wait for run 1's invalidation: %+v", w.Key, w)
		}
	}
	if got := s.LaterDeletes(t0); got != 1 {
		t.Errorf("later deletes %d, want 1 (the page; the asset has its grace period)", got)
	}
	apply(l, s.Begin(Group{ID: "r1", Keys: []string{"index.html"}, Targets: []Target{{Distribution: "E1"}}})...)
	apply(l, SetInvalidation("r1", "E1", "I1", false))

	// Run 2, an hour later, before run 1's invalidation completed: it covers run 1's
	// keys again and the removals now wait for run 2.
	t1 := t0.Add(time.Hour)
	s = l.Select(Input{RunID: "r2", Missing: []string{"app.1.js", "old.html"}, KeepRemoved: keep, IsPage: isPage, Now: t1, Targets: []string{"E1"}})
	if !slices.Equal(s.Pending, []string{"index.html"}) || !slices.Equal(s.Absorbed, []string{"r1"}) || len(s.DeleteNow) != 0 {
		t.Fatalf("run 2: pending %v absorbed %v delete now %v", s.Pending, s.Absorbed, s.DeleteNow)
	}
	// Run 2 waits: it covers the page it deletes once its invalidation completed.
	if got := s.CoveredLater(t1); !slices.Equal(got, []string{"old.html"}) {
		t.Fatalf("covered later %v, want the removed page", got)
	}
	apply(l, s.Begin(Group{ID: "r2", Keys: Union(s.Pending, s.CoveredLater(t1)), Targets: []Target{{Distribution: "E1"}}})...)
	if _, ok := l.Group("r1"); ok || len(l.Groups) != 1 {
		t.Fatalf("r1 not absorbed: %+v", l.Groups)
	}
	for _, r := range l.Removed {
		if r.After != "r2" || !r.Since.Equal(t0) {
			t.Errorf("removal %+v: want After r2, Since kept", r)
		}
	}
	// Run 2's invalidation completes: the page is due, the asset only after 24 h.
	apply(l, SetInvalidation("r2", "E1", "I2", true))
	if got := l.DueAfter("r2", t1, keep); !slices.Equal(got, []string{"old.html"}) {
		t.Errorf("due after r2 at t1: %v, want the page", got)
	}
	if got := l.DueAfter("r2", t1, 0); !slices.Equal(got, []string{"old.html"}) {
		t.Errorf("due after r2 with --keep-removed 0: %v, want the page only (run 2's invalidation did not cover the asset)", got)
	}
	apply(l, DropDone(time.Now()))
	if len(l.Groups) != 0 {
		t.Fatalf("a completed group stayed: %+v", l.Groups)
	}
	s = l.Select(Input{RunID: "r3", Missing: []string{"app.1.js", "old.html"}, KeepRemoved: keep, IsPage: isPage, Now: t1})
	if !slices.Equal(s.DeleteNow, []string{"old.html"}) || len(s.Waiting) != 1 || !s.Waiting[0].Until.Equal(t0.Add(keep)) || s.Waiting[0].ForInvalidation {
		t.Fatalf("run 3: delete now %v waiting %+v", s.DeleteNow, s.Waiting)
	}
	s = l.Select(Input{RunID: "r4", Missing: []string{"app.1.js"}, KeepRemoved: keep, IsPage: isPage, Now: t0.Add(keep)})
	if !slices.Equal(s.DeleteNow, []string{"app.1.js"}) {
		t.Fatalf("after the grace period: delete now %v", s.DeleteNow)
	}
	apply(l, s.Begin(Group{ID: "r4", Keys: s.DeleteNow})...)
	if len(l.Removed) != 0 {
		t.Errorf("removals after r4: %+v, want none (app.1.js deleted now, old.html gone by run 3)", l.Removed)
	}
}

func TestRemovalWithNothingElseChangedIsDueAtOnce(t *testing.T) {
	l := &Ledger{}
	now := time.Now()
	s := l.Select(Input{RunID: "r1", Missing: []string{"gone.html", "gone.png"}, KeepRemoved: time.Hour, IsPage: isPage, Now: now})
	if !slices.Equal(s.DeleteNow, []string{"gone.html"}) || len(s.Waiting) != 1 || s.Waiting[0].ForInvalidation {
		t.Errorf("delete now %v waiting %+v: no changed page can name the removed page, so it goes at once", s.DeleteNow, s.Waiting)
	}
	s = l.Select(Input{RunID: "r1", Missing: []string{"gone.png"}, KeepRemoved: 0, IsPage: isPage, Now: now})
	if !slices.Equal(s.DeleteNow, []string{"gone.png"}) {
		t.Errorf("keep 0: delete now %v", s.DeleteNow)
	}
}

func TestRemovalBackInTheSiteIsForgotten(t *testing.T) {
	l := &Ledger{Removed: []Removal{{Key: "a.js", Since: time.Now()}, {Key: "b.js", Since: time.Now()}}}
	s := l.Select(Input{RunID: "r", Missing: []string{"b.js"}, KeepRemoved: time.Hour, Now: time.Now()})
	apply(l, s.Begin(Group{ID: "r"})...)
	if len(l.Removed) != 1 || l.Removed[0].Key != "b.js" {
		t.Errorf("removed %+v, want only b.js", l.Removed)
	}
}

func TestGroupWithoutTargetsStaysPending(t *testing.T) {
	l := &Ledger{Groups: []Group{{ID: "cli", Keys: []string{"a"}}, {ID: "done", Keys: []string{"b"}, Targets: []Target{{Distribution: "E", Invalidation: "I", Completed: true}}}}}
	apply(l, DropDone(time.Now()))
	keys, groups := l.Pending()
	if !slices.Equal(keys, []string{"a"}) || !slices.Equal(groups, []string{"cli"}) {
		t.Errorf("pending %v %v", keys, groups)
	}
	l = &Ledger{Groups: []Group{{ID: "x", Targets: []Target{{Distribution: "E", Invalidation: "I"}}}}}
	apply(l, MarkCompleted(map[string]bool{"E/I": true}), DropDone(time.Now()))
	if len(l.Groups) != 0 {
		t.Errorf("confirmed group stayed: %+v", l.Groups)
	}
}

func TestWithoutTargetsRemovedPagesGoAtOnce(t *testing.T) {
	l := &Ledger{}
	s := l.Select(Input{RunID: "cli", Missing: []string{"old.html", "old.png"}, Uploads: []string{"index.html"}, KeepRemoved: time.Hour, IsPage: isPage, Now: time.Now()})
	if !slices.Equal(s.DeleteNow, []string{"old.html"}) || len(s.Waiting) != 1 || s.Waiting[0].ForInvalidation {
		t.Errorf("no distribution: delete now %v, waiting %+v; want the page now and the image after its grace period only", s.DeleteNow, s.Waiting)
	}
}

func TestDoneGroupKeepsItsBatchForRedeliveries(t *testing.T) {
	now := time.Now()
	l := &Ledger{Groups: []Group{{ID: "job-1", Created: now, Keys: []string{"a"}, Paths: []string{"/a"}, Targets: []Target{{Distribution: "E", Invalidation: "I", Completed: true}}}}}
	apply(l, DropDone(now))
	g, ok := l.Group("job-1")
	if !ok || len(g.Keys) != 0 || !slices.Equal(g.Paths, []string{"/a"}) {
		t.Fatalf("done group: %+v %v, want its paths without its keys", g, ok)
	}
	if keys, _ := l.Pending(); len(keys) != 0 {
		t.Errorf("a done group is pending: %v", keys)
	}
	apply(l, DropDone(now.Add(BatchRetention+time.Minute)))
	if len(l.Groups) != 0 {
		t.Errorf("group kept past the retention: %+v", l.Groups)
	}
}
