package planner

import (
	"errors"
	"strings"
	"testing"
)

// FuzzPlan plans arbitrary key lists and checks the properties every plan must have:
// every changed URL covered, at most K paths and W wildcards, every path valid and
// correctly encoded, the reported collateral equal to an independent count, and a
// prepared Site planning the same as Plan. The seed corpus is in
// testdata/fuzz/FuzzPlan; bench/fuzz/run.sh fuzzes it for a minute.
func FuzzPlan(f *testing.F) {
	f.Add("index.html\ndocs/a/index.html\ndocs/a/b.html\ndocs/b.html", uint64(0b0110), uint8(2), uint8(1), uint8(0))
	f.Add("a b.html\n100%.html\nc++.html\n#x.html\n~u/x.html\n日本.html\nü.html\nü2.html", uint64(0xff), uint8(3), uint8(3), uint8(1))
	f.Add("x/é.html\nx/è.html\nx/a.html\na*b\nab", uint64(0b1011), uint8(1), uint8(1), uint8(6))
	f.Add("blog/2024-01.html\nblog/2024-02.html\nblog/2023-12.html\nblog/index.html", uint64(0b1011), uint8(2), uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, keyText string, changedMask uint64, k, w, mode uint8) {
		keys := strings.Split(keyText, "\n")
		if len(keys) > 64 {
			keys = keys[:64]
		}
		in := Input{MaxPaths: int(k % 40), MaxWildcards: int(w%20) - 1} // -1 = NoWildcards
		switch mode % 3 {
		case 1:
			in.IndexDocument = "-"
		case 2:
			in.DirWithoutSlash = true
		}
		deletedOut := mode&4 != 0 // changed keys are deleted: absent from All
		for i, key := range keys {
			changed := changedMask&(1<<i) != 0
			if changed {
				in.Changed = append(in.Changed, key)
			}
			if !changed || !deletedOut {
				in.All = append(in.All, key)
			}
		}
		res, err := Plan(in)
		var ie *InputError
		switch {
		case errors.As(err, &ie):
			return // empty or non-UTF-8 key: rejected, as documented
		case errors.Is(err, ErrInfeasible):
			kk, ww, _ := in.budget()
			if ww > 0 {
				t.Fatalf("infeasible with %d wildcards allowed (K=%d): %v", ww, kk, err)
			}
			return
		case err != nil:
			t.Fatalf("Plan(%+v): %v", in, err)
		}
		checkProperties(t, in, res)
		site, err := NewSite(in.All, in.IndexDocument, in.DirWithoutSlash)
		if err != nil {
			t.Fatalf("NewSite accepted by Plan but not alone: %v", err)
		}
		again, err := site.Plan(in.Changed, in.MaxPaths, in.MaxWildcards)
		if err != nil {
			t.Fatalf("Site.Plan: %v", err)
		}
		if again.Collateral != res.Collateral || len(again.Paths) != len(res.Paths) || again.Wildcards != res.Wildcards {
			t.Fatalf("Site.Plan %q (%d) differs from Plan %q (%d)", again.Paths, again.Collateral, res.Paths, res.Collateral)
		}
	})
}
