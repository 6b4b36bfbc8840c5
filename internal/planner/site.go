package planner

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Site is a site's object keys prepared for planning: the compressed trie of every
// cached URL, built once. Plan builds one per call; a caller planning many change sets
// against the same keys (the benchmark, a deploy that plans per distribution) builds
// one with NewSite and calls its Plan. A Site is read-only after NewSite, so its Plan
// may be called concurrently.
//
// The trie is a compressed trie (radix tree) over the bytes of the sorted URLs. Every
// node stands for the prefix of length depth shared by all URLs below it; a node is
// created where URLs branch or where a URL ends, so the URLs matched by any wildcard
// "/p*" are exactly the URLs below one node: the highest node whose prefix extends p.
// A prefix ending inside an edge (between a parent's depth and a child's depth)
// matches the same URLs as the child, so placing wildcards only at nodes loses
// nothing. The planner writes the wildcard at a valid cut on the edge (cut): one that
// does not end inside a UTF-8 character or contain '*' or a control character,
// preferring the longest cut right after a '/', else the longest valid cut.
type Site struct {
	indexDocument   string
	dirWithoutSlash bool

	keys   []string // distinct keys, without the leading '/', sorted
	urls   []string // every cached URL, sorted, distinct
	isMain []bool   // urls[i] is "/"+key of some key
	node   []int32  // urls[i] ends at this trie node
	nodes  []node
}

type node struct {
	parent   int32
	depth    int32   // length of the node's prefix
	rep      int32   // index of a URL below the node, to spell its prefix
	url      int32   // URL ending exactly here, or -1
	children []int32 // in sorted order
	weight   int32   // objects whose main URL is below: a wildcard here matches them
	cut      int32   // wildcard prefix length, 0 when no valid wildcard reaches this node
}

const root = 0

// NewSite prepares the keys of a site (one leading '/' per key tolerated, duplicates
// ignored) with the index-document rules of Input.
func NewSite(keys []string, indexDocument string, dirWithoutSlash bool) (*Site, error) {
	norm := make([]string, 0, len(keys))
	for _, k := range keys {
		k = normKey(k)
		if err := checkKey(k); err != nil {
			return nil, err
		}
		norm = append(norm, k)
	}
	return newSite(norm, indexDocument, dirWithoutSlash)
}

// newSite builds a Site from keys already normalised and checked (normalising twice
// would strip a second leading '/': the key "/a" is not the key "a").
func newSite(keys []string, indexDocument string, dirWithoutSlash bool) (*Site, error) {
	s := &Site{indexDocument: indexDocument, dirWithoutSlash: dirWithoutSlash, keys: keys}
	// Sorting and merging instead of hashing: on 100,000 keys the maps cost more
	// than everything else together.
	slices.Sort(s.keys)
	s.keys = slices.Compact(s.keys)
	if len(s.keys) > maxObjects {
		return nil, &InputError{Reason: fmt.Sprintf("%d keys: the planner handles at most %d", len(s.keys), maxObjects)}
	}
	var aliases []string
	for _, k := range s.keys {
		aliases = append(aliases, s.aliases(k)...)
	}
	slices.Sort(aliases)
	aliases = slices.Compact(aliases)
	s.urls = make([]string, 0, len(s.keys)+len(aliases))
	s.isMain = make([]bool, 0, cap(s.urls))
	i, j := 0, 0
	for i < len(s.keys) || j < len(aliases) {
		var main string
		if i < len(s.keys) {
			main = "/" + s.keys[i]
		}
		switch {
		case j == len(aliases) || (i < len(s.keys) && main < aliases[j]):
			s.urls, s.isMain = append(s.urls, main), append(s.isMain, true)
			i++
		case i == len(s.keys) || aliases[j] < main:
			s.urls, s.isMain = append(s.urls, aliases[j]), append(s.isMain, false)
			j++
		default: // an alias that is also some key's main URL ("dir/" and "dir/index.html")
			s.urls, s.isMain = append(s.urls, main), append(s.isMain, true)
			i++
			j++
		}
	}
	s.buildTrie()
	return s, nil
}

// lookup returns the index of URL u, or -1.
func (s *Site) lookup(u string) int32 {
	if i, ok := slices.BinarySearch(s.urls, u); ok {
		return int32(i)
	}
	return -1
}

// normKey strips the one leading '/' the input may carry.
func normKey(k string) string { return strings.TrimPrefix(k, "/") }

// aliases returns the extra URLs under which the object key is cached by the index
// document rules (nil when none).
func (s *Site) aliases(key string) []string {
	idx := s.indexDocument
	switch idx {
	case "-":
		return nil
	case "":
		idx = "index.html"
	}
	if key == idx {
		return []string{"/"}
	}
	if !strings.HasSuffix(key, "/"+idx) {
		return nil
	}
	dir := "/" + key[:len(key)-len(idx)] // ends with '/'
	if s.dirWithoutSlash {
		return []string{dir, dir[:len(dir)-1]}
	}
	return []string{dir}
}

// buildTrie builds the compressed trie of the sorted, distinct URLs with the usual
// stack walk over longest common prefixes of neighbours, and fills weight and cut
// bottom-up as nodes are completed.
func (s *Site) buildTrie() {
	s.nodes = make([]node, 1, 2*len(s.urls)+1)
	s.nodes[root] = node{parent: -1, url: -1}
	s.node = make([]int32, len(s.urls))
	stack := []int32{root}
	// finish completes node v once all its children are complete; parentDepth is the
	// depth of the node it will hang from.
	finish := func(v int32, parentDepth int32) {
		n := &s.nodes[v]
		if n.url >= 0 && s.isMain[n.url] {
			n.weight++
		}
		for _, c := range n.children {
			n.weight += s.nodes[c].weight
			s.nodes[c].parent = v
		}
		if v == root {
			return
		}
		u := s.urls[n.rep]
		c := min(n.depth, int32(cleanLen(u)))
		for c > 0 && int(c) < len(u) && !utf8.RuneStart(u[c]) {
			c--
		}
		if c <= parentDepth {
			return
		}
		n.cut = c
		// Prefer a cut right after a '/' on the same edge: it matches the same
		// known URLs and reads as a directory ("/docs/a/*" rather than "/docs/a/p*").
		for j := c; j > parentDepth; j-- {
			if u[j-1] == '/' {
				n.cut = j
				break
			}
		}
	}
	newNode := func(depth, rep, url int32) int32 {
		s.nodes = append(s.nodes, node{depth: depth, rep: rep, url: url})
		return int32(len(s.nodes) - 1)
	}
	prev := ""
	for i, u := range s.urls {
		l := int32(lcp(prev, u))
		last := int32(-1)
		for s.nodes[stack[len(stack)-1]].depth > l {
			last = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			// The popped node hangs from the new top when that is deeper than l too;
			// otherwise from a node at depth l: the new top itself, or the branch
			// node inserted below.
			finish(last, max(s.nodes[stack[len(stack)-1]].depth, l))
		}
		top := stack[len(stack)-1]
		if last >= 0 && s.nodes[top].depth < l {
			m := newNode(l, int32(i), -1)
			kids := s.nodes[top].children
			kids[len(kids)-1] = m // last was top's newest child
			s.nodes[m].children = []int32{last}
			stack = append(stack, m)
			top = m
		}
		leaf := newNode(int32(len(u)), int32(i), int32(i))
		s.node[i] = leaf
		s.nodes[top].children = append(s.nodes[top].children, leaf)
		stack = append(stack, leaf)
		prev = u
	}
	for len(stack) > 1 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		finish(v, s.nodes[stack[len(stack)-1]].depth)
	}
	finish(root, -1)
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
