// Command releases is the release benchmark of issue 12 (bench/releases/RESULTS.md): a
// generated site goes v1 -> v2 -> v3 and back to v2 as releases under continuous visitor
// load (internal/testkit/releasesim: moto, the KeyValueStore stand-in with a propagation
// delay per location, the edge emulator running deploy/edge/releases.js, the visitor
// simulation with a cookie jar per visitor), and the same versions are deployed the
// invalidation way (sitesync + the planner) into another prefix to compare what each writes
// and costs.
//
// Run from the repository root: go run ./bench/releases -out bench/releases/RESULTS.md
// (about a minute; needs moto_server on PATH).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing/fstest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/planner"
	"github.com/edgeflush/edgeflush/internal/sitesync"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/releasesim"
	"github.com/edgeflush/edgeflush/internal/testkit/visitor"
)

// Prices (USD) used for the cost per release, from the AWS price pages at the time of
// writing (us-east-1): S3 PUT/COPY/POST/LIST requests, CloudFront invalidation paths beyond
// the first 1,000 a month, CloudFront Functions invocations.
const (
	pricePerS3Write    = 0.005 / 1000
	pricePerPath       = 0.005
	pricePerInvocation = 0.10 / 1e6
)

func main() {
	out := flag.String("out", "", "write the report here (default stdout)")
	pages := flag.Int("pages", 120, "pages per section (three sections)")
	images := flag.Int("images", 60, "images that never change")
	locations := flag.Int("locations", 4, "edge locations")
	visitors := flag.Int("visitors", 16, "visitors (half of them readers)")
	flag.Parse()
	if err := run(*out, *pages, *images, *locations, *visitors); err != nil {
		fmt.Fprintln(os.Stderr, "bench/releases:", err)
		os.Exit(1)
	}
}

// site is version v: pages in three sections name v's bundle and lazy chunk; the logo
// changes under its own name in every version; the images never change.
func site(pages, images int) func(v int) map[string][]byte {
	return func(v int) map[string][]byte {
		files := map[string][]byte{}
		page := func(title string) []byte {
			return fmt.Appendf(nil, `<!doctype html><html><head>%s<title>%s</title><link rel="stylesheet" href="/assets/app-%d.css"></head>
<body><img src="/img/logo.svg"><img src="/img/pic-%d.svg"><div data-lazy="/assets/chunk-%d.js"></div></body></html>`, visitor.HTMLMarker(v), title, v, len(title)%max(images, 1), v)
		}
		files["index.html"] = page("home")
		for _, sec := range []string{"docs", "blog", "guide"} {
			for i := range pages {
				files[fmt.Sprintf("%s/p%03d/index.html", sec, i)] = page(fmt.Sprintf("%s %d", sec, i))
			}
		}
		files[fmt.Sprintf("assets/app-%d.css", v)] = fmt.Appendf(nil, "/* %s */ h1 { background: url(../img/bg.svg) }", visitor.TextMarker(v))
		files[fmt.Sprintf("assets/chunk-%d.js", v)] = fmt.Appendf(nil, "// %s", visitor.TextMarker(v))
		files["img/logo.svg"] = fmt.Appendf(nil, "<svg><!-- %s --></svg>", visitor.TextMarker(v))
		files["img/bg.svg"] = fmt.Appendf(nil, "<svg><!-- %s --></svg>", visitor.TextMarker(1))
		for i := range images {
			files[fmt.Sprintf("img/pic-%d.svg", i)] = fmt.Appendf(nil, "<svg><!-- %s %d --></svg>", visitor.TextMarker(1), i)
		}
		return files
	}
}

type invStep struct {
	writes, paths, files int
}

// invalidationFlow deploys the same versions with sitesync into a prefix of its own and
// plans the invalidation of what changed, as `edgeflush deploy` does.
func invalidationFlow(ctx context.Context, motoURL string, gen func(int) map[string][]byte, versions []int) ([]invStep, error) {
	cfg, err := testkit.SDKConfig(ctx, motoURL)
	if err != nil {
		return nil, err
	}
	c := awsconf.NewS3(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("inv")}); err != nil {
		return nil, err
	}
	var out []invStep
	for _, v := range versions {
		fsys := fstest.MapFS{}
		for k, b := range gen(v) {
			fsys[k] = &fstest.MapFile{Data: b}
		}
		res, err := sitesync.Sync(ctx, c, fsys, sitesync.Options{Bucket: "inv", Prefix: "site", MaxDeletes: sitesync.NoDeleteLimit})
		if err != nil {
			return nil, err
		}
		st := invStep{writes: res.Writes, files: len(res.All)}
		if len(res.Changed) > 0 {
			pr, err := planner.Plan(planner.Input{All: res.All, Changed: res.Changed, MaxPaths: planner.DefaultMaxPaths, IndexDocument: "index.html"})
			if err != nil {
				return nil, err
			}
			st.paths = len(pr.Paths)
		}
		out = append(out, st)
	}
	return out, nil
}

func run(outPath string, pages, images, locations, visitors int) error {
	ctx := context.Background()
	start := time.Now()
	var load [3]float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscan(string(b), &load[0], &load[1], &load[2])
	}
	moto, err := testkit.NewMoto()
	if err != nil {
		return err
	}
	defer moto.Close()
	gen := site(pages, images)
	delays := make([]time.Duration, locations)
	for i := range delays {
		delays[i] = time.Duration(i+1) * 500 * time.Millisecond // the last location sees a write after locations*0.5 s
	}
	steps := []releasesim.Step{{Version: 1}, {Version: 2}, {Version: 3}, {Version: 2, Rollback: true}}
	rep, err := releasesim.Run(ctx, releasesim.Options{MotoURL: moto.URL, Bucket: "rel", Site: gen, Steps: steps,
		Pages: []string{"/", "/docs/p000/", "/blog/p001/", "/guide/p002/", "/docs/p010/"}, Locations: locations, Delays: delays,
		Visitors: visitors, Readers: visitors / 2, LazyDelay: 3 * time.Second, Think: 50 * time.Millisecond,
		Warm: 2 * time.Second, Settle: 4 * time.Second})
	if err != nil {
		return err
	}
	inv, err := invalidationFlow(ctx, moto.URL, gen, []int{1, 2, 3, 2})
	if err != nil {
		return err
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Releases: atomic switch and rollback under load\n\n")
	fmt.Fprintf(&b, "Generated by `go run ./bench/releases -out bench/releases/RESULTS.md` on %s UTC (%s/%s, %d CPUs, load average %.2f %.2f %.2f at the start; the machine is shared, so times are noisy); the run took %.1f s.\n\n",
		start.UTC().Format("2006-01-02 15:04"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), load[0], load[1], load[2], time.Since(start).Seconds())
	nfiles := len(gen(1))
	fmt.Fprintf(&b, "A generated site (%d pages in three sections, a bundle and a lazy chunk renamed in every version, `img/logo.svg` changed under its own name in every version, %d images that never change; %d files) is deployed v1 → v2 → v3 with `internal/release` and then rolled back to v2, into moto, behind the edge emulator (%d locations) running `deploy/edge/releases.js` in goja; the KeyValueStore stand-in shows a write to location i after (i+1) × 0.5 s, so the last location switches %s after the write. %d visitors (%d readers, who keep each page open 3 s and then load its lazy chunk) load pages and every asset they name, each with its own cookie jar, from 2 s before the first switch until 4 s after the last location has the last one. A step's success is the moment every location has the switch.\n\n",
		3*pages+1, images, nfiles, locations, delays[len(delays)-1], visitors, visitors/2)

	b.WriteString("| step | start → KVS write | write → every location serves it (probe) | objects uploaded | objects copied | S3 writes | page views during / after | broken | mixed | stale after success (pages, assets of new pages) | wrong version after success |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range rep.Steps {
		name := fmt.Sprintf("v%d", s.Version)
		switch {
		case s.Rollback:
			name = fmt.Sprintf("rollback to v%d", s.Version)
		case s.Version == 1:
			name = "v1 (initial, before the visitors)"
		}
		sw := "–"
		if s.SwitchTime >= 0 && !(s.Version == 1 && !s.Rollback) {
			sw = fmt.Sprintf("%.2f s", s.SwitchTime.Seconds())
		}
		fmt.Fprintf(&b, "| %s | %.2f s | %s | %d | %d | %d | %d / %d | %d | %d | %d | %d |\n", name, s.Duration.Seconds(), sw, s.Uploaded, s.Copied, s.Writes,
			s.During.Pages, s.After.Pages, s.During.Broken+s.After.Broken, s.During.Mixed+s.After.Mixed, s.StaleAfter, s.WrongPagesAfter)
	}
	during, after := rep.Total()
	staleAfter, openAssets := 0, 0
	for _, s := range rep.Steps[1:] {
		staleAfter += s.StaleAfter
		openAssets += s.OpenPageAssetsAfter
	}
	fmt.Fprintf(&b, "\nOver v2, v3 and the rollback: %d loads (%d page views, %d assets, %d lazy chunks of open pages); broken %d, mixed %d, page errors %d, stale after success %d (pages, and assets of new pages). The edge answered %d requests, %.0f %% from a cache; visitor loads per location:",
		during.Loads+after.Loads, during.Pages+after.Pages, during.Assets+after.Assets, during.Lazy+after.Lazy,
		during.Broken+after.Broken, during.Mixed+after.Mixed, during.PageErrors+after.PageErrors, staleAfter,
		rep.EdgeRequests, 100*float64(rep.EdgeHits)/float64(max(rep.EdgeRequests, 1)))
	for _, l := range []string{"EMU0", "EMU1", "EMU2", "EMU3", "EMU4", "EMU5", "EMU6", "EMU7"} {
		if n, ok := rep.Locations[l]; ok {
			fmt.Fprintf(&b, " %s %d", l, n)
		}
	}
	b.WriteString(".\n\n")
	fmt.Fprintf(&b, "The visitor judge counts %d more loads as stale after success: assets of a page opened just before its location switched, sent after every location had the switch, and served from that page's release by the cookie, as designed (page and assets of one release: not mixed). They are the page-open case `docs/releases.md` describes, not stale pages.\n\n", openAssets)
	b.WriteString("The stale loads *during* the rollback (judged against v3, the release then current) are the rollback itself reaching the locations one by one; once every location had it, no page view got v3.\n\n")

	b.WriteString("### Cost per release beside the invalidation flow\n\n")
	b.WriteString("The same four versions deployed the invalidation way (`sitesync` + the planner, what `edgeflush deploy` does) into a prefix of their own: S3 writes are PUTs, DELETEs and edgeflush's manifest/journal writes; a release's are PUTs, server-side COPYs, its index and manifest writes. Prices (us-east-1, at the time of writing): S3 PUT/COPY/LIST $0.005 per 1,000; invalidation paths $0.005 each beyond the first 1,000 a month per account (shown as if past them); a KeyValueStore switch is 3 calls (DescribeKeyValueStore, GetKey, PutKey), priced apart by CloudFront and not included here.\n\n")
	b.WriteString("| step | release: S3 writes (+1 KVS write) | release: cost | invalidation flow: S3 writes | paths | invalidation flow: cost (past the free 1,000 paths) |\n|---|---|---|---|---|---|\n")
	for i, s := range rep.Steps {
		name := fmt.Sprintf("v%d", s.Version)
		if s.Rollback {
			name = fmt.Sprintf("back to v%d", s.Version)
		}
		rc := float64(s.Writes) * pricePerS3Write
		ic := float64(inv[i].writes)*pricePerS3Write + float64(inv[i].paths)*pricePerPath
		fmt.Fprintf(&b, "| %s | %d | $%.5f | %d | %d | $%.5f |\n", name, s.Writes, rc, inv[i].writes, inv[i].paths, ic)
	}
	fmt.Fprintf(&b, "\nThe running cost of releases is the function: it runs twice per request (viewer-request and viewer-response), $%.2f per million requests at $0.10 per million invocations, plus the function's KeyValueStore reads. The invalidation flow has no per-request cost but pays per path and waits for the invalidation; going back is a full deploy and another invalidation, where a rollback here is one KeyValueStore write.\n",
		2*pricePerInvocation*1e6)

	if outPath == "" {
		_, err := os.Stdout.WriteString(b.String())
		return err
	}
	return os.WriteFile(outPath, []byte(b.String()), 0o644)
}
