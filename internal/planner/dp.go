package planner

import (
	"fmt"
	"slices"

	"github.com/edgeflush/edgeflush/internal/invalidation"
)

// Plan computes the optimal plan for the changed keys against the site's keys with a
// budget of maxPaths paths and maxWildcards wildcards (0 and NoWildcards as in Input).
// Changed keys the site does not know (deleted objects) are added to the universe.
func (s *Site) Plan(changed []string, maxPaths, maxWildcards int) (res Result, err error) {
	defer func() {
		// The DP's consistency checks panic; a bug there must fail the plan, not
		// the process (the Lambda handler reports failures to CodePipeline).
		if r := recover(); r != nil {
			res, err = Result{}, fmt.Errorf("planner bug: %v", r)
		}
	}()
	k, w, err := budget(maxPaths, maxWildcards)
	if err != nil {
		return Result{}, err
	}
	var unknown []string
	urls := make([]int32, 0, len(changed))
	mains := make([]int32, 0, len(changed))
	for _, key := range changed {
		key = normKey(key)
		if err := checkKey(key); err != nil {
			return Result{}, err
		}
		i := s.lookup("/" + key)
		if i < 0 || !s.isMain[i] {
			unknown = append(unknown, key)
			continue
		}
		mains = append(mains, i)
		urls = append(urls, i)
		for _, a := range s.aliases(key) {
			urls = append(urls, s.lookup(a))
		}
	}
	if len(unknown) > 0 {
		// Deleted keys: plan on a site that includes them. The grown site knows
		// every changed key, so this recursion is one level deep.
		grown, err := newSite(append(slices.Clip(s.keys), unknown...), s.indexDocument, s.dirWithoutSlash)
		if err != nil {
			return Result{}, err
		}
		if len(grown.keys) == len(s.keys) {
			return Result{}, fmt.Errorf("planner bug: changed keys %q not found after adding them", unknown)
		}
		return grown.Plan(changed, maxPaths, maxWildcards)
	}
	slices.Sort(urls)
	urls = slices.Compact(urls)
	slices.Sort(mains)
	mains = slices.Compact(mains)
	if len(urls) == 0 {
		return Result{Paths: []string{}}, nil
	}
	// Every object changed (a first deploy): "/*" evicts nothing unchanged, and with two
	// or more URLs to cover no single exact path can do it, so it is the optimum. This
	// spares the tables of a change set as large as the site.
	if w >= 1 && len(urls) >= 2 && s.nodes[root].weight == int32(len(mains)) {
		return Result{Paths: []string{"/*"}, ChangedURLs: len(urls), Wildcards: 1}, nil
	}
	p := s.newPlanState(urls, mains)
	sel, err := p.solve(k, w)
	if err != nil {
		return Result{}, err
	}
	res = Result{ChangedURLs: len(urls), Collateral: sel.collateral}
	raw := sel.paths(s)
	res.Paths = make([]string, 0, len(raw))
	for _, path := range raw {
		if err := res.addPath(path); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// addPath checks a chosen path, counts it and adds it encoded. The trie offers only
// valid cuts; checking costs little and keeps a bug from reaching CloudFront.
func (res *Result) addPath(path string) error {
	if err := invalidation.ValidatePath(path); err != nil {
		return fmt.Errorf("planner bug: invalid path: %w", err)
	}
	if invalidation.IsWildcard(path) {
		res.Wildcards++
	}
	res.Paths = append(res.Paths, encodePath(path))
	return nil
}

// planState is one change set on a Site: which nodes hold URLs to cover, how many
// unchanged objects sit below them, and the DP tables. Only nodes on the paths from
// changed URLs to the root are ever touched, so everything is kept in maps.
type planState struct {
	s      *Site
	need   map[int32]bool    // URL index -> must be covered
	cover  map[int32]int32   // node -> URLs to cover below (or at) it
	sub    map[int32]int32   // node -> changed objects below: weight = nodes[v].weight - sub
	kids   map[int32][]int32 // node -> its children with cover > 0, in URL order
	tables map[int32]table   // node -> DP table
}

func (s *Site) newPlanState(urls, mains []int32) *planState {
	p := &planState{
		s:     s,
		need:  make(map[int32]bool, len(urls)),
		cover: make(map[int32]int32, 4*len(urls)),
		sub:   make(map[int32]int32, 4*len(urls)),
		kids:  make(map[int32][]int32, 2*len(urls)),
	}
	// URLs in sorted order, so that each node's covered children are appended in
	// the order of their first URL: the trie's own order.
	for _, u := range urls {
		p.need[u] = true
		for v := s.node[u]; v >= 0; v = s.nodes[v].parent {
			c := p.cover[v]
			p.cover[v] = c + 1
			if c == 0 && v != root {
				parent := s.nodes[v].parent
				p.kids[parent] = append(p.kids[parent], v)
			}
		}
	}
	for _, u := range mains {
		for v := s.node[u]; v >= 0; v = s.nodes[v].parent {
			p.sub[v]++
		}
	}
	return p
}

func (p *planState) weight(v int32) int32 { return p.s.nodes[v].weight - p.sub[v] }

// terminalNeeds reports whether node v's own URL must be covered, and whether an
// exact path can do it.
func (p *planState) terminalNeeds(v int32) (need, exact bool) {
	u := p.s.nodes[v].url
	if u < 0 || !p.need[u] {
		return false, false
	}
	return true, exactOK(p.s.urls[u])
}

// inf marks an impossible table entry. It is small enough that inf+inf fits an int32,
// so merge's inner loop adds without checking and clamps once per table.
const inf = 1 << 29

// maxObjects bounds the site size so that real collateral stays below inf.
const maxObjects = inf - 1

// table holds, for one subtree, the least collateral of covering every URL below it
// that must be covered, using exactly w wildcards and exactly k paths in total, at
// v[w*(k+1)+k]. Entries with k < w are impossible.
type table struct {
	w, k int32
	v    []int32
}

func newTable(w, k int32) table {
	t := table{w: w, k: k, v: make([]int32, (w+1)*(k+1))}
	for i := range t.v {
		t.v[i] = inf
	}
	return t
}

func (t table) at(w, k int32) int32 {
	if w < 0 || k < 0 || w > t.w || k > t.k {
		return inf
	}
	return t.v[w*(t.k+1)+k]
}

func (t table) set(w, k, x int32) {
	if i := w*(t.k+1) + k; x < t.v[i] {
		t.v[i] = x
	}
}

// unit is the table of an empty plan.
func unit() table { return table{v: []int32{0}} }

// merge is the min-plus convolution of two subtrees' tables, cut at the budget.
func merge(a, b table, maxW, maxK int32) table {
	out := newTable(min(maxW, a.w+b.w), min(maxK, a.k+b.k))
	for wa := int32(0); wa <= a.w; wa++ {
		for ka := wa; ka <= a.k; ka++ {
			va := a.v[wa*(a.k+1)+ka]
			if va >= inf {
				continue
			}
			for wb := int32(0); wb <= min(b.w, out.w-wa); wb++ {
				rowB := b.v[wb*(b.k+1) : (wb+1)*(b.k+1)]
				rowO := out.v[(wa+wb)*(out.k+1)+ka:]
				hi := min(b.k, out.k-ka)
				if hi < wb {
					continue
				}
				rowB, rowO = rowB[wb:hi+1], rowO[wb:hi+1]
				for i, vb := range rowB {
					if s := va + vb; s < rowO[i] {
						rowO[i] = s
					}
				}
			}
		}
	}
	for i, x := range out.v {
		if x > inf {
			out.v[i] = inf
		}
	}
	return out
}

// grow returns t with at least w wildcards and k paths of room.
func grow(t table, w, k int32) table {
	if t.w >= w && t.k >= k {
		return t
	}
	out := newTable(max(t.w, w), max(t.k, k))
	for i := int32(0); i <= t.w; i++ {
		copy(out.v[i*(out.k+1):], t.v[i*(t.k+1):(i+1)*(t.k+1)])
	}
	return out
}

// shiftK adds one exact path to every plan of t (dropping plans over the budget).
func shiftK(t table, maxK int32) table {
	out := newTable(t.w, min(maxK, t.k+1))
	for w := int32(0); w <= t.w; w++ {
		for k := w; k <= t.k && k+1 <= out.k; k++ {
			out.v[w*(out.k+1)+k+1] = t.v[w*(t.k+1)+k]
		}
	}
	return out
}

// withoutWildcard is node v's table when no wildcard sits at v: its children's plans
// combined, plus an exact path for its own URL when that must be covered. With
// keepPrefixes it also returns the partial combinations (pre[i] combines the first i
// covered children) for the reconstruction.
func (p *planState) withoutWildcard(v int32, maxW, maxK int32, keepPrefixes bool) (table, []table) {
	cur := unit()
	var pre []table
	for _, c := range p.kids[v] {
		if keepPrefixes {
			pre = append(pre, cur)
		}
		cur = merge(cur, p.tables[c], maxW, maxK)
	}
	if keepPrefixes {
		pre = append(pre, cur)
	}
	if need, exact := p.terminalNeeds(v); need {
		if exact {
			cur = shiftK(cur, maxK)
		} else {
			cur = newTable(cur.w, cur.k) // only a wildcard at or above v can cover it
		}
	}
	return cur, pre
}

// dp fills p.tables bottom-up over the nodes that hold URLs to cover.
func (p *planState) dp(v int32, maxW, maxK int32) {
	for _, c := range p.kids[v] {
		p.dp(c, maxW, maxK)
	}
	cur, _ := p.withoutWildcard(v, maxW, maxK, false)
	if p.s.nodes[v].cut > 0 && maxW >= 1 && maxK >= 1 {
		cur = grow(cur, 1, 1)
		cur.set(1, 1, p.weight(v))
	}
	p.tables[v] = cur
}

// selection is a solved plan: the nodes holding a wildcard and the URLs sent exactly.
type selection struct {
	wild       []int32 // nodes
	exact      []int32 // URL indexes
	collateral int
}

// solve finds the optimal plan for budget (k, w).
func (p *planState) solve(k, w int) (*selection, error) {
	total := p.cover[root]
	allExact := true
	for u := range p.need {
		if !exactOK(p.s.urls[u]) {
			allExact = false
			break
		}
	}
	if allExact && int64(k) >= int64(total) {
		return p.solveFree(int32(w)), nil
	}
	maxK := int32(min(k, int(total)))
	maxW := int32(min(w, int(total)))
	p.tables = make(map[int32]table, len(p.cover))
	p.dp(root, maxW, maxK)
	tab := p.tables[root]
	// Least collateral, then fewest paths, then fewest wildcards.
	bestC, bestK, bestW := int32(inf), int32(0), int32(0)
	for kk := int32(0); kk <= tab.k; kk++ {
		for ww := int32(0); ww <= min(kk, tab.w); ww++ {
			if c := tab.at(ww, kk); c < bestC {
				bestC, bestK, bestW = c, kk, ww
			}
		}
	}
	if bestC == inf {
		return nil, fmt.Errorf("%d changed URLs with at most %d paths and %d wildcards: %w", total, k, w, ErrInfeasible)
	}
	sel := &selection{collateral: int(bestC)}
	p.collect(root, bestW, bestK, bestC, maxW, maxK, sel)
	return sel, nil
}

// collect rebuilds the plan behind p.tables[v] at (w, k) with value c, preferring
// plans below v over a wildcard at v when both are optimal (the deeper wildcard is
// the more specific one).
func (p *planState) collect(v int32, w, k, c int32, maxW, maxK int32, sel *selection) {
	n := p.s.nodes[v]
	noWild, pre := p.withoutWildcard(v, maxW, maxK, true)
	if noWild.at(w, k) != c {
		// Only the wildcard at v can give this entry.
		if w != 1 || k != 1 || n.cut == 0 || p.weight(v) != c {
			panic(fmt.Sprintf("planner: inconsistent table at node %d", v))
		}
		sel.wild = append(sel.wild, v)
		return
	}
	if need, _ := p.terminalNeeds(v); need {
		sel.exact = append(sel.exact, n.url)
		k--
	}
	kids := p.kids[v]
	for i := len(kids) - 1; i >= 0; i-- {
		ct := p.tables[kids[i]]
		found := false
	search:
		for wi := int32(0); wi <= min(ct.w, w); wi++ {
			for ki := wi; ki <= min(ct.k, k); ki++ {
				x := ct.at(wi, ki)
				if x == inf || x > c {
					continue
				}
				if pre[i].at(w-wi, k-ki) == c-x {
					p.collect(kids[i], wi, ki, x, maxW, maxK, sel)
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
}

// solveFree handles a budget of at least one path per changed URL (all of which can
// be sent exactly): the collateral is then 0, and the plan saves paths only with
// wildcards over subtrees that hold no unchanged object. savings[v][w] is the most
// paths saved below v with exactly w such wildcards (-1: impossible).
func (p *planState) solveFree(maxW int32) *selection {
	savings := make(map[int32][]int32, len(p.cover))
	var fill func(v int32)
	fill = func(v int32) {
		cur := []int32{0}
		for _, c := range p.kids[v] {
			fill(c)
			cur = mergeMax(cur, savings[c], maxW)
		}
		if p.s.nodes[v].cut > 0 && p.weight(v) == 0 && maxW >= 1 && p.cover[v] >= 2 {
			if len(cur) < 2 {
				cur = append(cur, -1)
			}
			cur[1] = max(cur[1], p.cover[v]-1)
		}
		savings[v] = cur
	}
	fill(root)
	best := int32(0)
	for w, s := range savings[root] {
		if s > savings[root][best] {
			best = int32(w)
		}
	}
	sel := &selection{}
	var collect func(v, w, s int32)
	collect = func(v, w, s int32) {
		n := p.s.nodes[v]
		kids := p.kids[v]
		pre := [][]int32{{0}}
		for _, c := range kids {
			pre = append(pre, mergeMax(pre[len(pre)-1], savings[c], maxW))
		}
		all := pre[len(pre)-1]
		if int(w) >= len(all) || all[w] != s {
			if w != 1 || n.cut == 0 || p.weight(v) != 0 || p.cover[v]-1 != s {
				panic(fmt.Sprintf("planner: inconsistent savings at node %d", v))
			}
			sel.wild = append(sel.wild, v)
			return
		}
		if need, _ := p.terminalNeeds(v); need {
			sel.exact = append(sel.exact, n.url)
		}
		for i := len(kids) - 1; i >= 0; i-- {
			cs := savings[kids[i]]
			found := false
			for wi := int32(0); wi < int32(len(cs)) && wi <= w; wi++ {
				if cs[wi] < 0 || int(w-wi) >= len(pre[i]) {
					continue
				}
				if q := pre[i][w-wi]; q >= 0 && q+cs[wi] == s {
					collect(kids[i], wi, cs[wi])
					w, s = w-wi, s-cs[wi]
					found = true
					break
				}
			}
			if !found {
				panic(fmt.Sprintf("planner: no savings split at node %d", v))
			}
		}
	}
	collect(root, best, savings[root][best])
	return sel
}

// mergeMax is the max-plus convolution of two savings vectors, cut at maxW.
func mergeMax(a, b []int32, maxW int32) []int32 {
	n := min(int(maxW)+1, len(a)+len(b)-1)
	out := make([]int32, n)
	for i := range out {
		out[i] = -1
	}
	for i, x := range a {
		if x < 0 {
			continue
		}
		for j, y := range b {
			if y < 0 || i+j >= n {
				continue
			}
			out[i+j] = max(out[i+j], x+y)
		}
	}
	return out
}

// paths spells the selection as raw paths, sorted.
func (sel *selection) paths(s *Site) []string {
	out := make([]string, 0, len(sel.wild)+len(sel.exact))
	for _, v := range sel.wild {
		n := s.nodes[v]
		out = append(out, s.urls[n.rep][:n.cut]+"*")
	}
	for _, i := range sel.exact {
		out = append(out, s.urls[i])
	}
	slices.Sort(out)
	return out
}
