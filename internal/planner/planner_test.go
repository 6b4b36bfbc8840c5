package planner

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// objectURLs lists every URL under which key is cached, main URL first.
func objectURLs(in Input, key string) []string {
	s := &Site{indexDocument: in.IndexDocument, dirWithoutSlash: in.DirWithoutSlash}
	return append([]string{"/" + key}, s.aliases(key)...)
}

// decode turns a planned (encoded) path back into the raw path it matches.
func decode(t testing.TB, p string) string {
	t.Helper()
	raw, err := url.PathUnescape(p)
	if err != nil {
		t.Fatalf("path %q does not decode: %v", p, err)
	}
	return raw
}

// matches reports whether raw path p invalidates URL u.
func matches(p, u string) bool {
	if strings.HasSuffix(p, "*") {
		return strings.HasPrefix(u, p[:len(p)-1])
	}
	return p == u
}

// keySets normalises the input the way the planner documents it.
func keySets(in Input) (all []string, changed map[string]bool) {
	changed = map[string]bool{}
	seen := map[string]bool{}
	for _, k := range in.Changed {
		changed[normKey(k)] = true
	}
	for _, k := range append(append([]string{}, in.All...), in.Changed...) {
		k = normKey(k)
		if !seen[k] {
			seen[k] = true
			all = append(all, k)
		}
	}
	slices.Sort(all)
	return all, changed
}

// tagged reports whether key is listed with tag (compared ignoring case).
func tagged(in Input, key, tag string) bool {
	for k, ts := range in.Tags {
		if normKey(k) != key {
			continue
		}
		for _, t := range ts {
			if strings.EqualFold(t, tag) {
				return true
			}
		}
	}
	return false
}

// evaluate scores raw paths independently of the planner's trie: whether they cover
// every URL of every changed object, and how many unchanged objects they touch. A
// "#tag" item covers every URL of a changed object listed with the tag and touches
// every unchanged object listed with it.
func evaluate(in Input, raw []string) (covered bool, collateral, wildcards int) {
	all, changed := keySets(in)
	covered = true
	byTag := func(key string) bool {
		for _, p := range raw {
			if strings.HasPrefix(p, "#") && tagged(in, key, p[1:]) {
				return true
			}
		}
		return false
	}
	for _, k := range all {
		urls := objectURLs(in, k)
		if changed[k] {
			if byTag(k) {
				continue
			}
			for _, u := range urls {
				if !slices.ContainsFunc(raw, func(p string) bool { return matches(p, u) }) {
					covered = false
				}
			}
			continue
		}
		hit := byTag(k)
		for _, u := range urls {
			for _, p := range raw {
				if strings.HasSuffix(p, "*") && matches(p, u) {
					hit = true
				}
			}
		}
		if hit {
			collateral++
		}
	}
	for _, p := range raw {
		if strings.HasSuffix(p, "*") || strings.HasPrefix(p, "#") {
			wildcards++
		}
	}
	return covered, collateral, wildcards
}

// checkProperties asserts what must hold for every plan.
func checkProperties(t *testing.T, in Input, res Result) []string {
	t.Helper()
	k, w, err := in.budget()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Paths) > k {
		t.Errorf("%d paths, budget %d", len(res.Paths), k)
	}
	if res.Wildcards+res.Tags > w {
		t.Errorf("%d wildcards and %d tags, budget %d", res.Wildcards, res.Tags, w)
	}
	raw := make([]string, len(res.Paths))
	tags := 0
	for i, p := range res.Paths {
		if strings.HasPrefix(p, "#") {
			raw[i] = p
			tags++
			if err := invalidation.CheckTag(p[1:]); err != nil {
				t.Errorf("tag item %q: %v", p, err)
			}
			continue
		}
		raw[i] = decode(t, p)
		if err := invalidation.ValidatePath(raw[i]); err != nil {
			t.Errorf("path %q: %v", p, err)
		}
		if got := invalidation.EncodePath(raw[i]); got != p {
			t.Errorf("path %q is not the encoding of %q (%q)", p, raw[i], got)
		}
	}
	covered, coll, wild := evaluate(in, raw)
	if !covered {
		t.Errorf("paths %q leave a changed URL uncovered", raw)
	}
	if coll != res.Collateral {
		t.Errorf("reported collateral %d, paths %q touch %d unchanged objects", res.Collateral, raw, coll)
	}
	if tags != res.Tags {
		t.Errorf("reported %d tags, plan has %d", res.Tags, tags)
	}
	if wild != res.Wildcards+res.Tags {
		t.Errorf("reported %d wildcards and %d tags, paths have %d", res.Wildcards, res.Tags, wild)
	}
	return raw
}

// bruteForce enumerates every set of candidate paths within the budget and returns
// the best (collateral, paths, wildcards), or ok=false when none covers.
func bruteForce(in Input) (best [3]int, ok bool) {
	k, w, _ := in.budget()
	all, changed := keySets(in)
	var urls []string
	need := map[string]bool{}
	for _, key := range all {
		for _, u := range objectURLs(in, key) {
			urls = append(urls, u)
			if changed[key] {
				need[u] = true
			}
		}
	}
	// Candidates: an exact path for each URL to cover, and one wildcard per distinct
	// set of matched URLs among all valid prefixes of all URLs.
	var cands []string
	for u := range need {
		if invalidation.ValidatePath(u) == nil && !strings.Contains(u, "*") {
			cands = append(cands, u)
		}
	}
	sigs := map[string]bool{}
	for _, u := range urls {
		for i := 1; i <= len(u); i++ {
			p := u[:i] + "*"
			if invalidation.ValidatePath(p) != nil || !utf8Valid(u[:i]) {
				continue
			}
			var sig strings.Builder
			for j, v := range urls {
				if strings.HasPrefix(v, u[:i]) {
					fmt.Fprintf(&sig, "%d,", j)
				}
			}
			if !sigs[sig.String()] {
				sigs[sig.String()] = true
				cands = append(cands, p)
			}
		}
	}
	tagSeen := map[string]bool{}
	for _, ts := range in.Tags {
		for _, t := range ts {
			if l := strings.ToLower(t); !tagSeen[l] {
				tagSeen[l] = true
				cands = append(cands, "#"+l)
			}
		}
	}
	slices.Sort(cands)
	var chosen []string
	var rec func(i int)
	rec = func(i int) {
		if i == len(cands) {
			covered, coll, wild := evaluate(in, chosen)
			if !covered || wild > w {
				return
			}
			score := [3]int{coll, len(chosen), wild}
			if !ok || less(score, best) {
				best, ok = score, true
			}
			return
		}
		rec(i + 1)
		if len(chosen) < k {
			chosen = append(chosen, cands[i])
			rec(i + 1)
			chosen = chosen[:len(chosen)-1]
		}
	}
	rec(0)
	return best, ok
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func less(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// randomSite builds a small random site whose keys share prefixes in many ways,
// including mid-segment, index documents, odd characters and multi-byte runes.
func randomSite(r *rand.Rand) Input {
	segs := []string{"a", "ab", "b", "abc", "index.html", "x.html", "é", "è", "a b", "c+%", "#~"}
	n := 3 + r.IntN(7)
	set := map[string]bool{}
	for len(set) < n {
		depth := 1 + r.IntN(3)
		parts := make([]string, depth)
		for i := range parts {
			parts[i] = segs[r.IntN(len(segs))]
		}
		set[strings.Join(parts, "/")] = true
	}
	var keys []string
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	in := Input{}
	for _, k := range keys {
		switch r.IntN(3) {
		case 0:
			in.Changed = append(in.Changed, k) // changed (maybe deleted: not in All)
			if r.IntN(2) == 0 {
				in.All = append(in.All, k)
			}
		default:
			in.All = append(in.All, k)
		}
	}
	if len(in.Changed) == 0 {
		in.Changed = append(in.Changed, keys[0])
	}
	switch r.IntN(3) {
	case 0:
		in.IndexDocument = "-"
	case 1:
		in.DirWithoutSlash = true
	}
	in.MaxPaths = 1 + r.IntN(3)
	in.MaxWildcards = 1 + r.IntN(in.MaxPaths)
	if r.IntN(8) == 0 {
		in.MaxWildcards = NoWildcards
	}
	return in
}

func TestPlanMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1000; i++ {
		in := randomSite(r)
		name := fmt.Sprintf("case%d", i)
		t.Run(name, func(t *testing.T) {
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
			// A prepared Site of the keys after the deploy (deleted keys unknown to
			// it) plans the same.
			site, err := NewSite(in.All, in.IndexDocument, in.DirWithoutSlash)
			if err != nil {
				t.Fatal(err)
			}
			again, err := site.Plan(in.Changed, in.MaxPaths, in.MaxWildcards)
			if err != nil {
				t.Fatal(err)
			}
			if got2 := [3]int{again.Collateral, len(again.Paths), again.Wildcards}; got2 != want {
				t.Fatalf("input %+v:\nSite.Plan %q scores %v, brute force optimum %v", in, again.Paths, got2, want)
			}
		})
	}
}

func TestPlanEncoding(t *testing.T) {
	all := []string{
		"docs/a b.html", "docs/100%.html", "docs/c++.html", "docs/#1.html", "docs/~user/x.html",
		"docs/über.html", "docs/ünder.html", "docs/zz.html", "/docs/日本語/index.html", "other.html",
	}
	cases := []struct {
		name     string
		changed  []string
		k, w     int
		want     []string
		wantColl int
	}{
		{"space", []string{"docs/a b.html"}, 5, 1, []string{"/docs/a%20b.html"}, 0},
		{"percent", []string{"docs/100%.html"}, 5, 1, []string{"/docs/100%25.html"}, 0},
		{"plus kept", []string{"docs/c++.html"}, 5, 1, []string{"/docs/c++.html"}, 0},
		{"hash", []string{"docs/#1.html"}, 5, 1, []string{"/docs/%231.html"}, 0},
		{"tilde", []string{"docs/~user/x.html"}, 5, 1, []string{"/docs/%7Euser/x.html"}, 0},
		{"non-ASCII exact", []string{"docs/über.html"}, 5, 1, []string{"/docs/%C3%BCber.html"}, 0},
		// Both ü keys share "/docs/ü": one wildcard, no collateral.
		{"non-ASCII wildcard", []string{"docs/über.html", "docs/ünder.html"}, 1, 1, []string{"/docs/%C3%BC*"}, 0},
		// The index page is cached as /docs/日本語/ too: one wildcard covers both URLs.
		{"non-ASCII index", []string{"docs/日本語/index.html"}, 1, 1, []string{"/docs/%E6%97%A5%E6%9C%AC%E8%AA%9E/*"}, 0},
		{"non-ASCII index exact", []string{"docs/日本語/index.html"}, 2, NoWildcards,
			[]string{"/docs/%E6%97%A5%E6%9C%AC%E8%AA%9E/", "/docs/%E6%97%A5%E6%9C%AC%E8%AA%9E/index.html"}, 0},
		// Leading '/' tolerated in changed keys too.
		{"leading slash", []string{"/other.html"}, 1, 1, []string{"/other.html"}, 0},
		// "/docs/#1.html" and "/docs/100%.html" sort together; covering both with one
		// wildcard costs everything else under /docs/.
		{"odd wildcard", []string{"docs/#1.html", "docs/100%.html"}, 1, 1, []string{"/docs/*"}, 7},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{All: all, Changed: c.changed, MaxPaths: c.k, MaxWildcards: c.w}
			res, err := Plan(in)
			if err != nil {
				t.Fatal(err)
			}
			checkProperties(t, in, res)
			if !slices.Equal(res.Paths, c.want) || res.Collateral != c.wantColl {
				t.Errorf("got %q collateral %d, want %q collateral %d", res.Paths, res.Collateral, c.want, c.wantColl)
			}
		})
	}
}

func TestPlanNeverCutsInsideARune(t *testing.T) {
	// "é" and "è" share their first UTF-8 byte; "/x/\xc3*" would have no collateral
	// but is not a path CloudFront can match, so the plan must take "/x/*".
	in := Input{All: []string{"x/é.html", "x/è.html", "x/a.html"}, Changed: []string{"x/é.html", "x/è.html"}, MaxPaths: 1, MaxWildcards: 1}
	res, err := Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	checkProperties(t, in, res)
	if want := []string{"/x/*"}; !slices.Equal(res.Paths, want) || res.Collateral != 1 {
		t.Errorf("got %q collateral %d, want %q collateral 1", res.Paths, res.Collateral, want)
	}
}

func TestPlanKeyWithStar(t *testing.T) {
	// A key containing '*' cannot be sent as an exact path (CloudFront would read a
	// wildcard); the plan covers it with a wildcard that stops before the '*'.
	in := Input{All: []string{"a*b.html", "a.html", "b.html"}, Changed: []string{"a*b.html"}, MaxPaths: 5, MaxWildcards: 2}
	res, err := Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	checkProperties(t, in, res)
	if want := []string{"/a*"}; !slices.Equal(res.Paths, want) || res.Collateral != 1 {
		t.Errorf("got %q collateral %d, want %q collateral 1", res.Paths, res.Collateral, want)
	}
	in.MaxWildcards = NoWildcards
	if _, err := Plan(in); !errors.Is(err, ErrInfeasible) {
		t.Errorf("without wildcards: err = %v, want ErrInfeasible", err)
	}
}

func TestPlanIssueExample(t *testing.T) {
	// 12 changes spread over /docs/a/, /docs/b/, /docs/c/: s3deploy sends /docs/*;
	// three wildcards cover them with no collateral when those directories hold
	// nothing else.
	var all, changed []string
	for _, d := range []string{"a", "b", "c"} {
		for i := 0; i < 4; i++ {
			k := fmt.Sprintf("docs/%s/p%d.html", d, i)
			all = append(all, k)
			changed = append(changed, k)
		}
	}
	all = append(all, "docs/d/p.html", "docs/index.html", "index.html")
	in := Input{All: all, Changed: changed, MaxPaths: 8, MaxWildcards: 8}
	res, err := Plan(in)
	if err != nil {
		t.Fatal(err)
	}
	checkProperties(t, in, res)
	if want := []string{"/docs/a/*", "/docs/b/*", "/docs/c/*"}; !slices.Equal(res.Paths, want) || res.Collateral != 0 {
		t.Errorf("got %q collateral %d, want %q", res.Paths, res.Collateral, want)
	}
}

func TestPlanIndexAliases(t *testing.T) {
	all := []string{"index.html", "blog/index.html", "blog/post.html", "blog/other.html"}
	for _, c := range []struct {
		name string
		in   Input
		want []string
	}{
		{"root and dir", Input{Changed: []string{"index.html", "blog/index.html"}},
			[]string{"/", "/blog/", "/blog/index.html", "/index.html"}},
		{"dir without slash", Input{Changed: []string{"blog/index.html"}, DirWithoutSlash: true},
			[]string{"/blog", "/blog/", "/blog/index.html"}},
		{"no index mapping", Input{Changed: []string{"index.html", "blog/index.html"}, IndexDocument: "-"},
			[]string{"/blog/index.html", "/index.html"}},
		{"other index document", Input{Changed: []string{"blog/post.html"}, IndexDocument: "post.html"},
			[]string{"/blog/", "/blog/post.html"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.in.All = all
			c.in.MaxPaths, c.in.MaxWildcards = 10, NoWildcards
			res, err := Plan(c.in)
			if err != nil {
				t.Fatal(err)
			}
			checkProperties(t, c.in, res)
			if !slices.Equal(res.Paths, c.want) {
				t.Errorf("got %q, want %q", res.Paths, c.want)
			}
		})
	}
}

func TestPlanInputErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		in   Input
	}{
		{"empty key", Input{All: []string{""}, Changed: []string{"a"}}},
		{"slash only", Input{Changed: []string{"/"}}},
		{"bad utf-8", Input{Changed: []string{"a\xff"}}},
		{"negative paths", Input{Changed: []string{"a"}, MaxPaths: -1}},
		{"negative wildcards", Input{Changed: []string{"a"}, MaxWildcards: -2}},
		{"changed key over S3's limit", Input{All: []string{"x"}, Changed: []string{strings.Repeat(">", MaxKeyBytes+1)}}},
		{"key over S3's limit in All", Input{All: []string{strings.Repeat("a", MaxKeyBytes+1)}, Changed: []string{"x"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Plan(c.in)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *InputError", err)
			}
		})
	}
	// The longest key S3 allows, made of characters CloudFront needs encoded, still
	// gives a valid exact path (found by FuzzPlan with a 1,400-byte key).
	long := strings.Repeat(">", MaxKeyBytes)
	if res, err := Plan(Input{All: []string{"x", long}, Changed: []string{long}}); err != nil || len(res.Paths) != 1 {
		t.Errorf("longest key: %v, %v; want one exact path", res.Paths, err)
	}
	if _, err := Plan(Input{Changed: []string{"a", "b", "c"}, MaxPaths: 2, MaxWildcards: NoWildcards}); !errors.Is(err, ErrInfeasible) {
		t.Errorf("3 URLs in 2 exact paths: err = %v, want ErrInfeasible", err)
	}
	res, err := Plan(Input{All: []string{"a"}})
	if err != nil || len(res.Paths) != 0 {
		t.Errorf("no change: %v, %v; want no paths", res, err)
	}
}

func TestPlanDeletedKeyWithLeadingSlash(t *testing.T) {
	// Found by FuzzPlan: the deleted key "/0" (given as "//0") must stay "/0" when a
	// prepared Site adds it to its universe, not become "0" (which looped forever).
	site, err := NewSite([]string{"0"}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	res, err := site.Plan([]string{"//0"}, 9, NoWildcards)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"//0"}; !slices.Equal(res.Paths, want) {
		t.Errorf("paths %q, want %q", res.Paths, want)
	}
}

func TestPlanEverythingChanged(t *testing.T) {
	keys := []string{"index.html", "a/index.html", "a/b.css", "deleted.html"}
	res, err := Plan(Input{All: keys[:3], Changed: keys})
	if err != nil || !slices.Equal(res.Paths, []string{"/*"}) || res.Collateral != 0 || res.Wildcards != 1 {
		t.Fatalf("every object changed: %+v, %v; want /* alone", res, err)
	}
	// Without wildcards the same change set needs exact paths for every URL.
	res, err = Plan(Input{All: keys[:3], Changed: keys, MaxPaths: 10, MaxWildcards: NoWildcards})
	if err != nil || res.Wildcards != 0 || len(res.Paths) != 6 {
		t.Fatalf("no wildcards: %+v, %v; want 6 exact paths (4 keys, / and /a/)", res, err)
	}
	// One URL is one exact path, not a wildcard.
	res, err = Plan(Input{All: []string{"a.css"}, Changed: []string{"a.css"}})
	if err != nil || !slices.Equal(res.Paths, []string{"/a.css"}) {
		t.Fatalf("single object: %+v, %v; want /a.css", res, err)
	}
}
