package planner

import (
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// The trie is a compressed trie (radix tree) over the bytes of the sorted URLs. Every
// node stands for the prefix of length depth shared by all URLs below it; a node is
// created where URLs branch or where a URL ends, so the URLs matched by any wildcard
// "/p*" are exactly the URLs below one node: the highest node whose prefix extends p.
// A prefix ending inside an edge (between a parent's depth and a child's depth)
// matches the same URLs as the child, so placing wildcards only at nodes loses
// nothing. The planner writes the wildcard at a valid cut on the edge (cut): one that
// does not end inside a UTF-8 character or contain '*' or a control character,
// preferring the longest cut right after a '/', else the longest valid cut.
type trie struct {
	u     *universe
	nodes []node
	// tables[v] is the DP table of node v (only nodes with cover > 0 get one).
	tables []table
}

type node struct {
	depth    int32   // length of the node's prefix
	rep      int32   // index of a URL below the node, to spell its prefix
	url      int32   // URL ending exactly here, or -1
	children []int32 // in sorted order
	cover    int32   // URLs below (or at) the node that must be covered
	weight   int32   // unchanged objects matched by a wildcard at this node
	cut      int32   // wildcard prefix length, 0 when no valid wildcard reaches this node
}

const root = 0

// buildTrie builds the compressed trie of u's sorted, distinct URLs with the usual
// stack walk over longest common prefixes of neighbours, and fills cover, weight and
// cut bottom-up as nodes are completed.
func buildTrie(u *universe) *trie {
	t := &trie{u: u, nodes: make([]node, 1, 2*len(u.urls)+1)}
	t.nodes[root] = node{url: -1, rep: 0}
	clean := make([]int32, len(u.urls))
	for i := range u.urls {
		clean[i] = int32(cleanLen(u.urls[i].s))
	}
	stack := []int32{root}
	// finish completes node v once all its children are complete; parentDepth is the
	// depth of the node it hangs from.
	finish := func(v int32, parentDepth int32) {
		n := &t.nodes[v]
		if n.url >= 0 {
			info := u.urls[n.url]
			n.weight += info.weight
			if info.cover {
				n.cover++
			}
		}
		for _, c := range n.children {
			n.cover += t.nodes[c].cover
			n.weight += t.nodes[c].weight
		}
		n.cut = 0
		if v != root {
			s := u.urls[n.rep].s
			c := min(n.depth, clean[n.rep])
			for c > 0 && int(c) < len(s) && !utf8.RuneStart(s[c]) {
				c--
			}
			if c > parentDepth {
				n.cut = c
				// Prefer a cut right after a '/' on the same edge: it matches the
				// same known URLs and reads as a directory ("/docs/a/*" rather
				// than "/docs/a/p*").
				for j := c; j > parentDepth; j-- {
					if s[j-1] == '/' {
						n.cut = j
						break
					}
				}
			}
		}
	}
	newNode := func(depth, rep, url int32) int32 {
		t.nodes = append(t.nodes, node{depth: depth, rep: rep, url: url})
		return int32(len(t.nodes) - 1)
	}
	prev := ""
	for i := range u.urls {
		s := u.urls[i].s
		l := int32(lcp(prev, s))
		last := int32(-1)
		for t.nodes[stack[len(stack)-1]].depth > l {
			last = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			// The popped node hangs from the new top when that is deeper than l too;
			// otherwise from a node at depth l: the new top itself, or the branch
			// node inserted below.
			finish(last, max(t.nodes[stack[len(stack)-1]].depth, l))
		}
		top := stack[len(stack)-1]
		if last >= 0 && t.nodes[top].depth < l {
			m := newNode(l, int32(i), -1)
			kids := t.nodes[top].children
			kids[len(kids)-1] = m // last was top's newest child
			t.nodes[m].children = []int32{last}
			stack = append(stack, m)
			top = m
		}
		leaf := newNode(int32(len(s)), int32(i), int32(i))
		t.nodes[top].children = append(t.nodes[top].children, leaf)
		stack = append(stack, leaf)
		prev = s
	}
	for len(stack) > 1 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		finish(v, t.nodes[stack[len(stack)-1]].depth)
	}
	finish(root, -1)
	return t
}

func lcp(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// inf marks an impossible table entry.
const inf = math.MaxInt32

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
			if va == inf {
				continue
			}
			for wb := int32(0); wb <= min(b.w, out.w-wa); wb++ {
				rowB := b.v[wb*(b.k+1) : (wb+1)*(b.k+1)]
				rowO := out.v[(wa+wb)*(out.k+1)+ka:]
				hi := min(b.k, out.k-ka)
				for kb := wb; kb <= hi; kb++ {
					vb := rowB[kb]
					if vb == inf {
						continue
					}
					if s := va + vb; s < rowO[kb] {
						rowO[kb] = s
					}
				}
			}
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

// coveredKids returns the children that hold URLs to cover; the others need no path.
func (t *trie) coveredKids(v int32) []int32 {
	var out []int32
	for _, c := range t.nodes[v].children {
		if t.nodes[c].cover > 0 {
			out = append(out, c)
		}
	}
	return out
}

// terminalNeeds reports whether node v's own URL must be covered, and whether an
// exact path can do it.
func (t *trie) terminalNeeds(v int32) (need, exact bool) {
	n := t.nodes[v]
	if n.url < 0 || !t.u.urls[n.url].cover {
		return false, false
	}
	return true, exactOK(t.u.urls[n.url].s)
}

// withoutWildcard is node v's table when no wildcard sits at v: its children's plans
// combined, plus an exact path for its own URL when that must be covered. It also
// returns the prefix combinations of the children (pre[i] combines kids[:i]) for
// the reconstruction.
func (t *trie) withoutWildcard(v int32, maxW, maxK int32, keepPrefixes bool) (table, []table) {
	kids := t.coveredKids(v)
	cur := unit()
	var pre []table
	for _, c := range kids {
		if keepPrefixes {
			pre = append(pre, cur)
		}
		cur = merge(cur, t.tables[c], maxW, maxK)
	}
	if keepPrefixes {
		pre = append(pre, cur)
	}
	if need, exact := t.terminalNeeds(v); need {
		if exact {
			cur = shiftK(cur, maxK)
		} else {
			cur = newTable(cur.w, cur.k) // only a wildcard above can cover it
		}
	}
	return cur, pre
}

// dp fills t.tables bottom-up over the nodes that hold URLs to cover.
func (t *trie) dp(v int32, maxW, maxK int32) {
	for _, c := range t.nodes[v].children {
		if t.nodes[c].cover > 0 {
			t.dp(c, maxW, maxK)
		}
	}
	cur, _ := t.withoutWildcard(v, maxW, maxK, false)
	n := t.nodes[v]
	if n.cut > 0 && maxW >= 1 && maxK >= 1 {
		cur = grow(cur, 1, 1)
		cur.set(1, 1, n.weight)
	}
	t.tables[v] = cur
}

// selection is a solved plan: the nodes holding a wildcard and the URLs sent exactly.
type selection struct {
	wild       []int32 // nodes
	exact      []int32 // URL indexes
	collateral int
}

// solve finds the optimal plan for budget (k, w).
func (t *trie) solve(k, w int) (*selection, error) {
	total := t.nodes[root].cover
	allExact := true
	for _, info := range t.u.urls {
		if info.cover && !exactOK(info.s) {
			allExact = false
			break
		}
	}
	if allExact && int64(k) >= int64(total) {
		return t.solveFree(int32(w)), nil
	}
	maxK := int32(min(k, int(total)))
	maxW := int32(min(w, int(total)))
	t.tables = make([]table, len(t.nodes))
	t.dp(root, maxW, maxK)
	tab := t.tables[root]
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
	t.collect(root, bestW, bestK, bestC, maxW, maxK, sel)
	return sel, nil
}

// collect rebuilds the plan behind t.tables[v] at (w, k) with value c.
func (t *trie) collect(v int32, w, k, c int32, maxW, maxK int32, sel *selection) {
	n := t.nodes[v]
	noWild, pre := t.withoutWildcard(v, maxW, maxK, true)
	if noWild.at(w, k) != c {
		// Only the wildcard at v can give this entry.
		if w != 1 || k != 1 || n.cut == 0 || n.weight != c {
			panic(fmt.Sprintf("planner: inconsistent table at node %d", v))
		}
		sel.wild = append(sel.wild, v)
		return
	}
	if need, _ := t.terminalNeeds(v); need {
		sel.exact = append(sel.exact, n.url)
		k--
	}
	kids := t.coveredKids(v)
	for i := len(kids) - 1; i >= 0; i-- {
		ct := t.tables[kids[i]]
		found := false
	search:
		for wi := int32(0); wi <= min(ct.w, w); wi++ {
			for ki := wi; ki <= min(ct.k, k); ki++ {
				x := ct.at(wi, ki)
				if x == inf || x > c {
					continue
				}
				if pre[i].at(w-wi, k-ki) == c-x {
					t.collect(kids[i], wi, ki, x, maxW, maxK, sel)
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
func (t *trie) solveFree(maxW int32) *selection {
	savings := make([][]int32, len(t.nodes))
	var fill func(v int32)
	fill = func(v int32) {
		cur := []int32{0}
		for _, c := range t.coveredKids(v) {
			fill(c)
			cur = mergeMax(cur, savings[c], maxW)
		}
		n := t.nodes[v]
		if n.cut > 0 && n.weight == 0 && maxW >= 1 && n.cover >= 2 {
			if len(cur) < 2 {
				cur = append(cur, -1)
			}
			cur[1] = max(cur[1], n.cover-1)
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
		n := t.nodes[v]
		kids := t.coveredKids(v)
		// Recompute the children's combination to find the split.
		pre := [][]int32{{0}}
		for _, c := range kids {
			pre = append(pre, mergeMax(pre[len(pre)-1], savings[c], maxW))
		}
		all := pre[len(pre)-1]
		if int(w) >= len(all) || all[w] != s {
			if w != 1 || n.cut == 0 || n.weight != 0 || n.cover-1 != s {
				panic(fmt.Sprintf("planner: inconsistent savings at node %d", v))
			}
			sel.wild = append(sel.wild, v)
			return
		}
		if need, _ := t.terminalNeeds(v); need {
			sel.exact = append(sel.exact, n.url)
		}
		for i := len(kids) - 1; i >= 0; i-- {
			cs := savings[kids[i]]
			found := false
			for wi := int32(0); wi < int32(len(cs)) && wi <= w; wi++ {
				if cs[wi] < 0 || int(w-wi) >= len(pre[i]) {
					continue
				}
				if p := pre[i][w-wi]; p >= 0 && p+cs[wi] == s {
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
func (s *selection) paths(t *trie) []string {
	out := make([]string, 0, len(s.wild)+len(s.exact))
	for _, v := range s.wild {
		n := t.nodes[v]
		out = append(out, t.u.urls[n.rep].s[:n.cut]+"*")
	}
	for _, i := range s.exact {
		out = append(out, t.u.urls[i].s)
	}
	slices.Sort(out)
	return out
}
