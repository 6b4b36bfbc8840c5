package ledger

import (
	"context"
	"testing"
	"time"

	"github.com/edgeflush/edgeflush/internal/sitesync"
)

// Targets that map the site differently each get their own paths (issue 11): a target
// that serves none of the changed keys gets no invalidation and is recorded settled, so
// the group leaves the ledger once the others completed; tenant targets are recorded
// like distributions.
func TestBeginPerTargetPaths(t *testing.T) {
	ctx := context.Background()
	store, _ := newStore(t)
	tenant := "distribution-tenant/dt_1"
	d := &Deploy{Store: store, RunID: "r1", Targets: []string{"E1", tenant, "E2"}, Now: func() time.Time { return time.Unix(1e9, 0) }}
	if err := d.Prepare(ctx, &sitesync.Plan{}, "www/"); err != nil {
		t.Fatal(err)
	}
	paths := map[string][]string{"E1": {"/www/a.html"}, tenant: {"/a.html"}}
	if err := d.Begin(ctx, []string{"www/a.html"}, []string{"/a.html", "/www/a.html"}, func(t string) []string { return paths[t] }); err != nil {
		t.Fatal(err)
	}
	l, _, err := store.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := l.Group("r1")
	if !ok || len(g.Targets) != 3 {
		t.Fatalf("group %+v", g)
	}
	for _, tg := range g.Targets {
		if want := tg.Distribution == "E2"; tg.Completed != want {
			t.Errorf("target %s completed=%v, want %v", tg.Distribution, tg.Completed, want)
		}
	}
	if keys, _ := l.Pending(); len(keys) != 1 {
		t.Fatalf("pending %v, want the changed key until E1 and the tenant completed", keys)
	}
	if _, err := d.Complete(ctx, nil, map[string]string{"E1": "I1", tenant: "I2"}); err != nil {
		t.Fatal(err)
	}
	if l, _, err = store.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if keys, _ := l.Pending(); len(keys) != 0 {
		t.Errorf("pending %v after both invalidations completed, want none", keys)
	}
}
