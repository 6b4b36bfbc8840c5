// Package edge holds the CloudFront Function edgeflush ships for releases
// (releases.js), embedded so that the binaries deploy, and the tests run, the very
// same source.
package edge

import (
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// ReleasesJS is the source of the releases function (JavaScript runtime 2.0).
//
//go:embed releases.js
var ReleasesJS []byte

// Runtime is the CloudFront Functions runtime the source is written for.
const Runtime = "cloudfront-js-2.0"

// CurrentKey is the KeyValueStore key whose value is the current release id.
const CurrentKey = "current"

// ReleasesDir is the folder under the site's prefix that holds the releases (the
// function's ROOT; sitesync.ReleasesDir is the same name, which plain deploys leave alone).
const ReleasesDir = "_releases/"

// MetaRelease is the user-metadata key (x-amz-meta-edgeflush-release) every HTML object
// of a release carries; the function's viewer-response half turns it into the cookie.
const MetaRelease = "edgeflush-release"

// MaxSize is CloudFront's limit on a function's code.
const MaxSize = 10 * 1024

var graceRE = regexp.MustCompile(`(?m)^const GRACE_SECONDS = ([0-9]+);$`)

// Grace is how long the function keeps sending an open page's assets from the page's
// release (the cookie's Max-Age): read from the source, so the retention in Go and the
// cookie in JavaScript cannot disagree.
func Grace() time.Duration {
	m := graceRE.FindSubmatch(ReleasesJS)
	if m == nil {
		panic("deploy/edge: releases.js lost its GRACE_SECONDS constant")
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		panic(fmt.Sprintf("deploy/edge: GRACE_SECONDS: %v", err))
	}
	return time.Duration(n) * time.Second
}

// ValidID reports whether id can name a release (what the function accepts).
func ValidID(id string) bool { return idRE.MatchString(id) }

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
