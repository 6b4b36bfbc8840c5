package planner

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"testing"
)

// addTags lists tags the way deploy writes them (a per-object tag and a tag per
// directory, sometimes in upper case: CloudFront compares ignoring case) on a random
// share of the keys: a changed key only when its tags are usable, an unchanged key when
// some copy may carry them; now and then an arbitrary tag shared by unrelated keys, so
// the planner is checked on tags that do not follow the directory tree too.
func addTags(r *rand.Rand, in *Input) {
	all, _ := keySets(*in)
	dirs := map[string]int{}
	in.Tags = map[string][]string{}
	for i, k := range all {
		if r.IntN(4) == 0 {
			continue // never tagged, or not usable for a changed key
		}
		ts := []string{fmt.Sprintf("o%d", i)}
		for d := path.Dir(k); d != "."; d = path.Dir(d) {
			id, ok := dirs[d]
			if !ok {
				id = len(dirs)
				dirs[d] = id
			}
			t := fmt.Sprintf("d%d", id)
			if r.IntN(5) == 0 {
				t = strings.ToUpper(t)
			}
			ts = append(ts, t)
		}
		if r.IntN(6) == 0 {
			ts = append(ts, "shared")
		}
		in.Tags[k] = ts
	}
}

func TestPlanTagsMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	usedTags := 0
	for i := 0; i < 1000; i++ {
		in := randomSite(r)
		addTags(r, &in)
		t.Run(fmt.Sprintf("case%d", i), func(t *testing.T) {
			res, err := Plan(in)
			want, ok := bruteForce(in)
			if !ok {
				if !errors.Is(err, ErrInfeasible) {
					t.Fatalf("input %+v: brute force finds no plan, Plan returned %v, %v", in, res, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("input %+v: %v", in, err)
			}
			checkProperties(t, in, res)
			got := [3]int{res.Collateral, len(res.Paths), res.Wildcards + res.Tags}
			if got != want {
				t.Fatalf("input %+v:\nplan %q scores %v, brute force optimum %v", in, res.Paths, got, want)
			}
			if res.Tags > 0 {
				usedTags++
				// A tag is chosen only when it does strictly better than paths alone.
				in2 := in
				in2.Tags = nil
				if plain, err := Plan(in2); err == nil && !less(got, [3]int{plain.Collateral, len(plain.Paths), plain.Wildcards}) {
					t.Fatalf("input %+v: plan %q uses a tag but scores %v, no better than paths alone %q", in, res.Paths, got, plain.Paths)
				}
			}
			site, err := NewSite(in.All, in.IndexDocument, in.DirWithoutSlash)
			if err != nil {
				t.Fatal(err)
			}
			again, err := site.PlanTags(in.Changed, in.Tags, in.MaxPaths, in.MaxWildcards)
			if err != nil {
				t.Fatal(err)
			}
			if got2 := [3]int{again.Collateral, len(again.Paths), again.Wildcards + again.Tags}; got2 != want {
				t.Fatalf("input %+v:\nSite.PlanTags %q scores %v, brute force optimum %v", in, again.Paths, got2, want)
			}
		})
	}
	// The test means something only if a fair share of optima need a tag item
	// (tags win on index pages under tight budgets and on directories with untagged
	// unchanged objects; about 2 % of these cases).
	if usedTags < 15 {
		t.Errorf("only %d of 1000 plans use a tag item", usedTags)
	}
	t.Logf("%d of 1000 plans use a tag item", usedTags)
}

// A changed index page under a budget of one path: its two URLs need two exact paths,
// a wildcard "/docs/*" evicts its unchanged sibling, its own tag does neither.
func TestPlanTagsIndexPage(t *testing.T) {
	in := Input{
		All:     []string{"docs/index.html", "docs/other.html", "a.html"},
		Changed: []string{"docs/index.html"},
		Tags: map[string][]string{
			"docs/index.html": {"ef-1", "ef-d-docs"},
			"docs/other.html": {"ef-2", "ef-d-docs"},
		},
		MaxPaths: 1, MaxWildcards: 1,
	}
	res, err := Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Paths, []string{"#ef-1"}) || res.Collateral != 0 || res.Tags != 1 || res.Wildcards != 0 {
		t.Fatalf("plan %+v, want the object's tag alone", res)
	}
	// Without tags the same budget must evict the sibling.
	in.Tags = nil
	res, err = Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	if res.Collateral != 1 || res.Tags != 0 {
		t.Fatalf("plan without tags %+v, want a wildcard with collateral 1", res)
	}
	// A changed object whose tags are not usable (not listed) is planned with paths.
	in.Tags = map[string][]string{"docs/other.html": {"ef-2", "ef-d-docs"}}
	in.MaxPaths, in.MaxWildcards = 2, 1
	res, err = Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Paths, []string{"/docs/", "/docs/index.html"}) {
		t.Fatalf("plan %q, want both URLs as paths", res.Paths)
	}
}

// A directory tag evicts the tagged objects of its directory only: with the changed
// pages tagged and an untagged unchanged page beside them, "#d" beats "/d/*".
func TestPlanTagsDirectory(t *testing.T) {
	in := Input{
		All:     []string{"d/a.html", "d/b.html", "d/c.html", "d/z.html"},
		Changed: []string{"d/a.html", "d/b.html", "d/c.html"},
		Tags: map[string][]string{
			"d/a.html": {"t-a", "t-d"}, "d/b.html": {"t-b", "t-d"}, "d/c.html": {"t-c", "t-d"},
		},
		MaxPaths: 1, MaxWildcards: 1,
	}
	res, err := Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Paths, []string{"#t-d"}) || res.Collateral != 0 {
		t.Fatalf("plan %+v, want #t-d with no collateral", res)
	}
	// Once the unchanged page may carry the tag too, the tag evicts it like the wildcard.
	in.Tags["d/z.html"] = []string{"t-z", "t-d"}
	if res, err = Plan(in); err != nil || res.Collateral != 1 {
		t.Fatalf("plan %+v, %v: want collateral 1", res, err)
	}
}

func TestPlanTagsBadTag(t *testing.T) {
	_, err := Plan(Input{All: []string{"a"}, Changed: []string{"a"}, Tags: map[string][]string{"a": {"has space"}}})
	var ie *InputError
	if !errors.As(err, &ie) {
		t.Fatalf("err %v, want an InputError", err)
	}
}

// BenchmarkPlanTags100k is BenchmarkPlan100k with every key carrying the tags deploy
// writes (an object tag, one per directory) and all of them usable.
func BenchmarkPlanTags100k(b *testing.B) {
	all, changed := syntheticSite(100_000, 2_000, 1)
	tags := make(map[string][]string, len(all))
	for _, k := range all {
		ts := []string{fmt.Sprintf("o-%s", k)}
		for d := path.Dir(k); d != "."; d = path.Dir(d) {
			ts = append(ts, "d-"+d)
		}
		tags[k] = ts
	}
	site, err := NewSite(all, "", false)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := site.PlanTags(changed, tags, DefaultMaxPaths, DefaultMaxWildcards); err != nil {
			b.Fatal(err)
		}
	}
}
