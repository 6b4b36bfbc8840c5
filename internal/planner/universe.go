package planner

import (
	"slices"
	"strings"
)

// urlInfo is one cached URL of the universe.
type urlInfo struct {
	s string
	// cover: the URL belongs to a changed object, so the plan must invalidate it.
	cover bool
	// weight is the number of unchanged objects whose main URL ("/"+key) this is: what
	// a wildcard matching the URL adds to the collateral. Alias URLs ("/dir/") weigh
	// nothing because an alias is a prefix of its object's main URL, so whatever
	// matches the alias also matches the main URL, where the object is counted.
	weight int32
}

// universe is the sorted set of URLs that matter: every main URL and every URL of a
// changed object. (Alias URLs of unchanged objects can neither need covering nor add
// collateral, so they are left out.)
type universe struct {
	urls        []urlInfo
	changedURLs int
}

// normKey strips the one leading '/' the input may carry.
func normKey(k string) string { return strings.TrimPrefix(k, "/") }

// aliases returns the extra URLs under which the object key is cached by the index
// document rules (nil when none).
func (in Input) aliases(key string) []string {
	idx := in.IndexDocument
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
	if in.DirWithoutSlash {
		return []string{dir, dir[:len(dir)-1]}
	}
	return []string{dir}
}

func buildUniverse(in Input) (*universe, error) {
	changed := make(map[string]bool, len(in.Changed))
	for _, k := range in.Changed {
		k = normKey(k)
		if err := checkKey(k); err != nil {
			return nil, err
		}
		changed[k] = true
	}
	// index maps a URL to its position in urls while building.
	index := make(map[string]int32, len(in.All)+len(changed))
	var urls []urlInfo
	add := func(u string) *urlInfo {
		if i, ok := index[u]; ok {
			return &urls[i]
		}
		index[u] = int32(len(urls))
		urls = append(urls, urlInfo{s: u})
		return &urls[len(urls)-1]
	}
	seen := make(map[string]bool, len(in.All))
	for _, k := range in.All {
		k = normKey(k)
		if changed[k] || seen[k] {
			continue
		}
		if err := checkKey(k); err != nil {
			return nil, err
		}
		seen[k] = true
		add("/"+k).weight++
	}
	// Changed keys in a deterministic order (map iteration is random).
	keys := make([]string, 0, len(changed))
	for k := range changed {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		add("/" + k).cover = true
		for _, a := range in.aliases(k) {
			add(a).cover = true
		}
	}
	u := &universe{urls: urls}
	for i := range urls {
		if urls[i].cover {
			u.changedURLs++
		}
	}
	slices.SortFunc(u.urls, func(a, b urlInfo) int { return strings.Compare(a.s, b.s) })
	return u, nil
}
