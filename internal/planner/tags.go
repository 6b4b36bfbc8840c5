package planner

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// Cache tag items ("#tag", CloudFront 2026) as candidates beside exact and wildcard
// paths. A tag item costs one path of the budget and one wildcard slot (edgeflush counts
// tag items against the wildcard limit, docs/planner.md); it covers every URL of every
// changed object listed with the tag and evicts every unchanged object listed with it
// (collateral, like a wildcard's).
//
// Exactness with tags. Let attach(t) be the lowest trie node above every URL of every
// object listed with t. Every object a tag touches has its URLs below attach(t), so a
// tag is decided at that node: the DP's table of node v depends on the context C, the
// tags chosen at v's ancestors (only those with a listed object below v matter). In
// context C a URL must be covered when some changed object with that URL carries no tag
// of C, and a wildcard at v evicts the unchanged objects below v that no tag of C already
// evicted; choosing tags S at v costs |S| paths and wildcard slots plus the unchanged
// objects listed with them and with no tag of C. Items in disjoint subtrees touch
// disjoint objects, and a tag below a wildcard adds nothing, so every plan has a form
// (wildcards none below another, tags at their attach nodes outside the wildcards,
// exact paths for the rest) that this DP ranges over: its minimum is the optimum. The
// cost grows with the subsets of tags attached at one node; with a per-object tag and
// directory tags (what deploy writes) that is a handful.

// PlanTags is Plan with cache tag items as candidates. tags maps a key to its tags:
// for a changed key, the tags EVERY cached copy carries (only those may cover it); for
// an unchanged key, the tags ANY cached copy may carry (they count as its eviction).
// Tags are compared ignoring case and sent in lower case. With no tags it is Plan.
func (s *Site) PlanTags(changed []string, tags map[string][]string, maxPaths, maxWildcards int) (res Result, err error) {
	if len(tags) == 0 {
		return s.Plan(changed, maxPaths, maxWildcards)
	}
	defer func() {
		if r := recover(); r != nil {
			res, err = Result{}, fmt.Errorf("planner bug: %v", r)
		}
	}()
	k, w, err := budget(maxPaths, maxWildcards)
	if err != nil {
		return Result{}, err
	}
	byKey := make(map[string][]string, len(tags))
	for key, ts := range tags {
		key = normKey(key)
		if err := checkKey(key); err != nil {
			return Result{}, err
		}
		for _, t := range ts {
			if err := invalidation.CheckTag(t); err != nil {
				return Result{}, &InputError{Key: key, Reason: err.Error()}
			}
			byKey[key] = append(byKey[key], strings.ToLower(t))
		}
	}
	var unknown []string
	for _, key := range changed {
		key = normKey(key)
		if err := checkKey(key); err != nil {
			return Result{}, err
		}
		if i := s.lookup("/" + key); i < 0 || !s.isMain[i] {
			unknown = append(unknown, key)
		}
	}
	if len(unknown) > 0 {
		grown, err := newSite(append(slices.Clip(s.keys), unknown...), s.indexDocument, s.dirWithoutSlash)
		if err != nil {
			return Result{}, err
		}
		if len(grown.keys) == len(s.keys) {
			return Result{}, fmt.Errorf("planner bug: changed keys %q not found after adding them", unknown)
		}
		return grown.PlanTags(changed, tags, maxPaths, maxWildcards)
	}
	p := s.newTagState(changed, byKey)
	if len(p.needURLs) == 0 {
		return Result{Paths: []string{}}, nil
	}
	sel, err := p.solve(k, w)
	if err != nil {
		return Result{}, err
	}
	res = Result{ChangedURLs: len(p.needURLs), Collateral: sel.collateral}
	raw := sel.paths(s)
	for _, t := range sel.tags {
		raw = append(raw, "#"+p.tagName[t])
	}
	slices.Sort(raw)
	res.Paths = make([]string, 0, len(raw))
	for _, path := range raw {
		if invalidation.IsTag(path) {
			if err := invalidation.CheckTag(path[1:]); err != nil {
				return Result{}, fmt.Errorf("planner bug: invalid tag: %w", err)
			}
			res.Tags++
			res.Paths = append(res.Paths, path)
			continue
		}
		if err := res.addPath(path); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// tagState is one change set with tags on a Site. Objects are named by the index of
// their main URL; tags by a small id.
type tagState struct {
	*planState
	needURLs  []int32           // URLs of changed objects, sorted
	urlObjs   map[int32][]int32 // URL -> changed objects cached under it
	changed   map[int32]bool    // changed objects
	objTags   map[int32][]int32 // object -> candidate tags listed for it
	tagName   []string          // id -> tag (lower case)
	unchanged [][]int32         // id -> unchanged objects listed with it, sorted
	changedOf [][]int32         // id -> changed objects listed with it
	all       [][]int32         // id -> every URL of every object listed with it, sorted
	attached  map[int32][]int32 // node -> tags whose attach node it is
	memo      map[string]table  // node and context -> table
	maxW      int32
	maxK      int32
}

// tagSelection extends selection with the chosen tags.
type tagSelection struct {
	selection
	tags []int32
}

func (s *Site) newTagState(changed []string, byKey map[string][]string) *tagState {
	p := &tagState{urlObjs: map[int32][]int32{}, changed: map[int32]bool{}, objTags: map[int32][]int32{}, attached: map[int32][]int32{}, memo: map[string]table{}}
	var urls, mains []int32
	objURLs := func(key string) []int32 {
		out := []int32{s.lookup("/" + key)}
		for _, a := range s.aliases(key) {
			out = append(out, s.lookup(a))
		}
		return out
	}
	for _, key := range changed {
		key = normKey(key)
		us := objURLs(key)
		o := us[0]
		if p.changed[o] {
			continue
		}
		p.changed[o] = true
		mains = append(mains, o)
		for _, u := range us {
			if !slices.Contains(p.urlObjs[u], o) {
				p.urlObjs[u] = append(p.urlObjs[u], o)
			}
		}
		urls = append(urls, us...)
	}
	slices.Sort(urls)
	urls = slices.Compact(urls)
	slices.Sort(mains)
	p.needURLs = urls
	p.planState = s.newPlanState(urls, mains)
	// Candidate tags: listed for some changed object (in key order, for determinism).
	ids := map[string]int32{}
	keys := make([]string, 0, len(byKey))
	for key := range byKey {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	for _, key := range keys {
		o := s.lookup("/" + key)
		if o < 0 || !s.isMain[o] || !p.changed[o] {
			continue
		}
		for _, t := range byKey[key] {
			if _, ok := ids[t]; !ok {
				ids[t] = int32(len(p.tagName))
				p.tagName = append(p.tagName, t)
			}
		}
	}
	p.unchanged = make([][]int32, len(p.tagName))
	p.all = make([][]int32, len(p.tagName))
	p.changedOf = make([][]int32, len(p.tagName))
	for _, key := range keys {
		o := s.lookup("/" + key)
		if o < 0 || !s.isMain[o] {
			continue // a key of the tag list that is not in the site: nothing cached
		}
		for _, name := range byKey[key] {
			t, ok := ids[name]
			if !ok || slices.Contains(p.objTags[o], t) {
				continue
			}
			p.objTags[o] = append(p.objTags[o], t)
			if p.changed[o] {
				p.changedOf[t] = append(p.changedOf[t], o)
				p.all[t] = append(p.all[t], objURLs(key)...)
			} else {
				p.unchanged[t] = append(p.unchanged[t], o)
				p.all[t] = append(p.all[t], o)
			}
		}
	}
	for t := range p.tagName {
		slices.Sort(p.unchanged[t])
		slices.Sort(p.all[t])
		p.all[t] = slices.Compact(p.all[t])
		a := s.node[p.all[t][0]]
		for _, u := range p.all[t][1:] {
			a = s.lca(a, s.node[u])
		}
		p.attached[a] = append(p.attached[a], int32(t))
	}
	return p
}

// lca is the lowest common ancestor of two trie nodes (depth grows downwards).
func (s *Site) lca(a, b int32) int32 {
	for a != b {
		if s.nodes[a].depth >= s.nodes[b].depth {
			a = s.nodes[a].parent
		} else {
			b = s.nodes[b].parent
		}
	}
	return a
}

// span returns the range of URL indexes below node v.
func (s *Site) span(v int32) (lo, hi int) {
	if v == root {
		return 0, len(s.urls)
	}
	n := s.nodes[v]
	prefix := s.urls[n.rep][:n.depth]
	lo = sort.SearchStrings(s.urls, prefix)
	hi = lo + sort.Search(len(s.urls)-lo, func(i int) bool { return !strings.HasPrefix(s.urls[lo+i], prefix) })
	return lo, hi
}

func inRange(sorted []int32, lo, hi int) []int32 {
	i, _ := slices.BinarySearch(sorted, int32(lo))
	j, _ := slices.BinarySearch(sorted, int32(hi))
	return sorted[i:j]
}

// carries reports whether object o is listed with a tag of C.
func (p *tagState) carries(o int32, C []int32) bool {
	for _, t := range p.objTags[o] {
		if slices.Contains(C, t) {
			return true
		}
	}
	return false
}

// needs reports whether URL u must be covered in context C.
func (p *tagState) needs(u int32, C []int32) bool {
	for _, o := range p.urlObjs[u] {
		if !p.carries(o, C) {
			return true
		}
	}
	return false
}

// relevant keeps the tags of C listed with an object below v.
func (p *tagState) relevant(v int32, C []int32) []int32 {
	lo, hi := p.s.span(v)
	var out []int32
	for _, t := range C {
		if len(inRange(p.all[t], lo, hi)) > 0 {
			out = append(out, t)
		}
	}
	return out
}

func (p *tagState) anyNeed(v int32, C []int32) bool {
	lo, hi := p.s.span(v)
	for _, u := range inRange(p.needURLs, lo, hi) {
		if p.needs(u, C) {
			return true
		}
	}
	return false
}

// evicted counts the unchanged objects below v (or all listed with tag t when t >= 0)
// that no tag of C evicts already.
func (p *tagState) wildWeight(v int32, C []int32) int32 {
	lo, hi := p.s.span(v)
	seen := map[int32]bool{}
	for _, t := range C {
		for _, o := range inRange(p.unchanged[t], lo, hi) {
			seen[o] = true
		}
	}
	return p.weight(v) - int32(len(seen))
}

func (p *tagState) tagWeight(t int32, C []int32) int32 {
	n := int32(0)
	for _, o := range p.unchanged[t] {
		if !p.carries(o, C) {
			n++
		}
	}
	return n
}

// choice is a set of tags chosen at a node, its new collateral and the context below.
type choice struct {
	tags []int32
	coll int32
	ctx  []int32
}

// choices lists the useful subsets of the tags attached at v in context C (a tag that
// covers no changed object not covered already is never useful), the empty set first.
func (p *tagState) choices(v int32, C []int32) []choice {
	out := []choice{{ctx: C}}
	for _, t := range p.attached[v] {
		for _, c := range out {
			useful := false
			for _, o := range p.changedOf[t] {
				if !p.carries(o, c.ctx) {
					useful = true
					break
				}
			}
			if !useful {
				continue
			}
			ctx := append(slices.Clone(c.ctx), t)
			slices.Sort(ctx)
			out = append(out, choice{tags: append(slices.Clone(c.tags), t), coll: c.coll + p.tagWeight(t, c.ctx), ctx: ctx})
		}
	}
	return out
}

func memoKey(v int32, C []int32) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(int(v)))
	for _, t := range C {
		b.WriteByte(',')
		b.WriteString(strconv.Itoa(int(t)))
	}
	return b.String()
}

// combine is v's table without a wildcard at v, in context C (tags at v included).
func (p *tagState) combine(v int32, C []int32, keepPrefixes bool) (table, []table) {
	cur := unit()
	var pre []table
	for _, c := range p.kids[v] {
		if keepPrefixes {
			pre = append(pre, cur)
		}
		cur = merge(cur, p.tab(c, C), p.maxW, p.maxK)
	}
	if keepPrefixes {
		pre = append(pre, cur)
	}
	if u := p.s.nodes[v].url; u >= 0 && p.needs(u, C) {
		if exactOK(p.s.urls[u]) {
			cur = shiftK(cur, p.maxK)
		} else {
			cur = newTable(cur.w, cur.k)
		}
	}
	return cur, pre
}

// tab is node v's table in context C.
func (p *tagState) tab(v int32, C []int32) table {
	C = p.relevant(v, C)
	key := memoKey(v, C)
	if t, ok := p.memo[key]; ok {
		return t
	}
	best := unit()
	if p.anyNeed(v, C) {
		best = newTable(p.maxW, p.maxK)
		if p.s.nodes[v].cut > 0 && p.maxW >= 1 && p.maxK >= 1 {
			best.set(1, 1, p.wildWeight(v, C))
		}
		for _, ch := range p.choices(v, C) {
			t, _ := p.combine(v, ch.ctx, false)
			n := int32(len(ch.tags))
			for w := int32(0); w <= t.w && w+n <= p.maxW; w++ {
				for k := w; k <= t.k && k+n <= p.maxK; k++ {
					if x := t.at(w, k); x < inf {
						best.set(w+n, k+n, x+ch.coll)
					}
				}
			}
		}
	}
	p.memo[key] = best
	return best
}

func (p *tagState) solve(k, w int) (*tagSelection, error) {
	total := len(p.needURLs)
	p.maxK = int32(min(k, total))
	p.maxW = int32(min(w, total))
	tab := p.tab(root, nil)
	bestC, bestK, bestW := int32(inf), int32(0), int32(0)
	for kk := int32(0); kk <= tab.k; kk++ {
		for ww := int32(0); ww <= min(kk, tab.w); ww++ {
			if c := tab.at(ww, kk); c < bestC {
				bestC, bestK, bestW = c, kk, ww
			}
		}
	}
	if bestC == inf {
		return nil, fmt.Errorf("%d changed URLs with at most %d paths and %d wildcards and tags: %w", total, k, w, ErrInfeasible)
	}
	sel := &tagSelection{selection: selection{collateral: int(bestC)}}
	p.collect(root, nil, bestW, bestK, bestC, sel)
	return sel, nil
}

// collect rebuilds the plan behind tab(v, C) at (w, k) with value c, preferring, among
// equal plans, deeper items, then a wildcard at v, then tags at v.
func (p *tagState) collect(v int32, C []int32, w, k, c int32, sel *tagSelection) {
	C = p.relevant(v, C)
	if !p.anyNeed(v, C) {
		if w != 0 || k != 0 || c != 0 {
			panic(fmt.Sprintf("planner: inconsistent tag table at node %d", v))
		}
		return
	}
	wildOK := w == 1 && k == 1 && p.s.nodes[v].cut > 0 && p.wildWeight(v, C) == c
	for i, ch := range p.choices(v, C) {
		if i == 1 && wildOK {
			break // a path plan before an equal plan with tags: paths need no tagging
		}
		n := int32(len(ch.tags))
		t, pre := p.combine(v, ch.ctx, true)
		if w < n || k < n || t.at(w-n, k-n) >= inf || t.at(w-n, k-n)+ch.coll != c {
			continue
		}
		sel.tags = append(sel.tags, ch.tags...)
		w, k, c = w-n, k-n, c-ch.coll
		if u := p.s.nodes[v].url; u >= 0 && p.needs(u, ch.ctx) {
			sel.exact = append(sel.exact, u)
			k--
		}
		kids := p.kids[v]
		for i := len(kids) - 1; i >= 0; i-- {
			ct := p.tab(kids[i], ch.ctx)
			found := false
		search:
			for wi := int32(0); wi <= min(ct.w, w); wi++ {
				for ki := wi; ki <= min(ct.k, k); ki++ {
					x := ct.at(wi, ki)
					if x == inf || x > c {
						continue
					}
					if pre[i].at(w-wi, k-ki) == c-x {
						p.collect(kids[i], ch.ctx, wi, ki, x, sel)
						w, k, c = w-wi, k-ki, c-x
						found = true
						break search
					}
				}
			}
			if !found {
				panic(fmt.Sprintf("planner: no split at node %d", v))
			}
		}
		return
	}
	if !wildOK {
		panic(fmt.Sprintf("planner: inconsistent tag table at node %d", v))
	}
	sel.wild = append(sel.wild, v)
}
