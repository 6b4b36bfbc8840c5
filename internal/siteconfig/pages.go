package siteconfig

import (
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// FixedNameGlob matches the files browsers and crawlers fetch by a fixed name (sitemaps,
// feeds, robots.txt, manifests, service workers): the second rule of Default, which
// revalidates them like pages.
const FixedNameGlob = "**/{sitemap*.xml,robots.txt,*.webmanifest,manifest.json,sw.js,service-worker.js,feed.xml,rss.xml,atom.xml,index.xml}"

// IsPage reports whether a key relative to the site's root is a page: HTML, or a file
// fetched by a fixed name (FixedNameGlob). A deploy deletes a removed page only once the
// invalidation covering the pages that named it has completed, without the grace
// period of other removed objects, which old pages still open in browsers may load.
func IsPage(rel string) bool {
	k := strings.ToLower(rel)
	if strings.HasSuffix(k, ".html") || strings.HasSuffix(k, ".htm") {
		return true
	}
	ok, _ := doublestar.Match(FixedNameGlob, rel)
	return ok
}
