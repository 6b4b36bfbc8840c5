package visitor

import (
	"strings"
	"time"
)

// Deploy is one step of the timeline the caller gives the judge: what was deployed and
// when.
type Deploy struct {
	Version int
	// Started is when the deploy began writing; Succeeded when it reported success (the
	// pipeline turned green, the CLI returned). Zero Succeeded: it never did.
	Started, Succeeded time.Time
	// Files maps every URL path the deployed site serves ("/", "/a/b.html",
	// "/assets/app-1f2e.js") to the version marker its content carries in this version
	// (the version that last changed it). A path missing here does not exist in the version.
	Files map[string]int
}

// Judged is a load with the judge's findings.
type Judged struct {
	Load
	// Step is the index in the timeline of the latest deploy started before the load was
	// sent, -1 before the first; During reports that this deploy had not yet reported
	// success then.
	Step   int
	During bool
	// Broken: an asset (eager or lazy) answered non-2xx or not at all.
	Broken bool
	// Stale: sent after a deploy reported success, the response carries an older version
	// than that deploy gave the path (paths the green deploy removed are not judged: an
	// open page may still legitimately load an old chunk).
	Stale bool
	// Mixed: the page and the asset, as served, belong to no single deployed version,
	// e.g. the v2 page with the v1 image of the same name.
	Mixed bool
	// PageError: a page answered non-2xx or not at all (reported apart from Broken, which
	// the issue defines for referenced assets).
	PageError bool
}

// Judge judges every load against the timeline, in the loads' order. Loads are placed in
// time by their Start (when the request was sent): a request sent after the deploy reported
// success must get the new version, whatever the edge had cached.
func Judge(loads []Load, timeline []Deploy) []Judged {
	out := make([]Judged, 0, len(loads))
	for _, l := range loads {
		j := Judged{Load: l, Step: -1}
		green := -1
		for i, d := range timeline {
			if !d.Started.After(l.Start) {
				j.Step = i
				j.During = d.Succeeded.IsZero() || d.Succeeded.After(l.Start)
			}
			if !d.Succeeded.IsZero() && !d.Succeeded.After(l.Start) {
				green = i
			}
		}
		ok := l.Status >= 200 && l.Status <= 299
		path := stripQuery(l.URL)
		switch {
		case l.Kind == KindPage && !ok:
			j.PageError = true
		case l.Kind != KindPage && !ok:
			j.Broken = true
		}
		if ok && green >= 0 && l.Version > 0 {
			if want, exists := timeline[green].Files[path]; exists && l.Version < want {
				j.Stale = true
			}
		}
		if ok && l.Kind != KindPage && l.Version > 0 && l.PageVersion > 0 {
			j.Mixed = !consistent(timeline, stripQuery(l.Page), l.PageVersion, path, l.Version)
		}
		out = append(out, j)
	}
	return out
}

// consistent reports whether some deployed version served the page at pageVersion and the
// asset at assetVersion together. A page or asset version no deploy of the timeline
// carries (content from before it) cannot be judged and counts as consistent.
func consistent(timeline []Deploy, page string, pageVersion int, asset string, assetVersion int) bool {
	pageKnown, assetKnown := false, false
	for _, d := range timeline {
		pv, pok := d.Files[page]
		av, aok := d.Files[asset]
		pageKnown = pageKnown || (pok && pv == pageVersion)
		assetKnown = assetKnown || (aok && av == assetVersion)
		if pok && aok && pv == pageVersion && av == assetVersion {
			return true
		}
	}
	return !pageKnown || !assetKnown
}

func stripQuery(p string) string {
	if i := strings.IndexByte(p, '?'); i >= 0 {
		return p[:i]
	}
	return p
}

// Counts sums judged loads.
type Counts struct {
	Loads, Pages, Assets, Lazy int
	Broken, BrokenLazy         int // BrokenLazy: of Broken, lazy loads of open pages
	Stale, Mixed, PageErrors   int
}

func (c *Counts) add(j Judged) {
	c.Loads++
	switch j.Kind {
	case KindPage:
		c.Pages++
	case KindLazy:
		c.Lazy++
	default:
		c.Assets++
	}
	if j.Broken {
		c.Broken++
		if j.Kind == KindLazy {
			c.BrokenLazy++
		}
	}
	if j.Stale {
		c.Stale++
	}
	if j.Mixed {
		c.Mixed++
	}
	if j.PageError {
		c.PageErrors++
	}
}

// StepCounts are the counts of one deploy of the timeline: loads sent while it ran
// (During) and after it reported success until the next deploy started (After).
type StepCounts struct {
	Step          int
	During, After Counts
}

// Summarize counts the judged loads per step of a timeline of n deploys. Loads sent
// before the first deploy started are not counted.
func Summarize(judged []Judged, n int) []StepCounts {
	out := make([]StepCounts, n)
	for i := range out {
		out[i].Step = i
	}
	for _, j := range judged {
		if j.Step < 0 || j.Step >= n {
			continue
		}
		if j.During {
			out[j.Step].During.add(j)
		} else {
			out[j.Step].After.add(j)
		}
	}
	return out
}

// SiteFiles is the Files of a Deploy for a site given as S3 keys and contents: each key is
// served at "/"+key with the version its marker carries (HTML meta for .html/.htm, text
// marker otherwise); an index.html is also served at its directory URL ("/", "/docs/"),
// as the default root object or a pretty-URL set-up serves it. Keys are used as URL paths
// as they are: give keys that need no percent-encoding.
func SiteFiles(files map[string][]byte) map[string]int {
	out := make(map[string]int, len(files))
	for key, body := range files {
		var v int
		if strings.HasSuffix(key, ".html") || strings.HasSuffix(key, ".htm") {
			v = htmlVersion(body)
		} else {
			v = TextVersion(body)
		}
		out["/"+key] = v
		if key == "index.html" || strings.HasSuffix(key, "/index.html") {
			out["/"+strings.TrimSuffix(key, "index.html")] = v
		}
	}
	return out
}
