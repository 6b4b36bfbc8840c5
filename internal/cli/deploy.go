package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/ledger"
	"github.com/edgeflush/edgeflush/internal/origin"
	"github.com/edgeflush/edgeflush/internal/planner"
	"github.com/edgeflush/edgeflush/internal/siteconfig"
	"github.com/edgeflush/edgeflush/internal/sitesync"
	"github.com/edgeflush/edgeflush/internal/verify"
)

func init() { register(newDeployCmd) }

// DefaultKeepRemoved is how long a removed non-page object stays in the bucket, so that
// pages still open in browsers (or cached at the edge) can load it.
const DefaultKeepRemoved = 24 * time.Hour

// deployPricePerPath is CloudFront's price per invalidation path beyond the first 1,000 paths
// a month per account.
const deployPricePerPath = 0.005

// deployGCPercent is the GOGC used while deploying (see runDeploy).
const deployGCPercent = 25

type deployOptions struct {
	bucket, prefix string
	distributions  []string
	tenants        []string
	maxDeletes     int
	keepRemoved    time.Duration
	noDelete       bool
	dryRun         bool
	wait           bool
	timeout        time.Duration
	pollInterval   time.Duration
	concurrency    int
	output         string
	planFlags
	partSize       int64
	multipartAbove int64
	debug          bool
	verbose        bool
	memProfile     string
	urlPrefix      string // --url-prefix (urlmap.go)
	verify         bool   // --verify: check the changed URLs at the edge after --wait (verify.go)
	baseURL        string // --base-url for --verify
	// release: deploy as a release (release.go).
	release bool
	rel     releaseFlags
}

func newDeployCmd(a *app) *cobra.Command {
	o := &deployOptions{}
	cmd := &cobra.Command{
		Use:   "deploy DIR --bucket NAME [--prefix P] [--distribution ID ...]",
		Short: "Sync a folder to S3 by content, then invalidate exactly what changed",
		Long: `Upload the files of DIR whose content or headers differ from the bucket, delete
the objects that no longer exist locally, then plan and create one CloudFront
invalidation per --distribution for exactly the changed and deleted URLs.

Files are compared by MD5, never by modification time, so a fresh build that
touched every file uploads only what really changed. Headers (Cache-Control,
Content-Type, Content-Encoding, Content-Disposition, Content-Language, metadata,
gzip precompression) come from the "rules" of the config file, first matching rule
wins; without rules, static-site defaults apply (see docs/deploy.md). The config file
is never uploaded.

Non-HTML files are uploaded first, then HTML, so a page never refers to an asset that
is missing. Removed pages are deleted once the invalidation covering them completed
(by this deploy with --wait, else by the next one); other removed objects are kept for
--keep-removed (default 24h) for the pages still open in browsers, then deleted by a
later deploy. More than --max-deletes deletes fails the deploy before anything is
written. What was changed and is not yet covered by a completed invalidation stays in
the site's ledger (<prefix>.edgeflush/ledger.json) and is covered by the next deploy,
from any machine. Nothing is invalidated when nothing changed.`,
		Example: `  edgeflush deploy public --bucket my-site --distribution E2EXAMPLE12345 --wait
  edgeflush deploy dist --bucket my-site --prefix docs --dry-run
  edgeflush deploy public --bucket my-site --max-deletes 1000 --output json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("deploy takes exactly one DIR argument, got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDeploy(cmd.Context(), args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.bucket, "bucket", "", "S3 bucket of the site (required)")
	f.StringVar(&o.prefix, "prefix", "", "key prefix of the site in the bucket")
	f.StringSliceVar(&o.distributions, "distribution", nil, "CloudFront distribution ID to invalidate (repeatable, or comma-separated)")
	addTenantFlag(f, &o.tenants, "distribution tenant ID to invalidate (repeatable)")
	addURLPrefixFlag(f, &o.urlPrefix)
	f.IntVar(&o.maxDeletes, "max-deletes", sitesync.DefaultMaxDeletes, "fail, deleting nothing, when more objects would be deleted (-1: no limit)")
	f.DurationVar(&o.keepRemoved, "keep-removed", DefaultKeepRemoved, "keep removed non-page objects this long, then delete them in a later deploy (0: once the invalidation completed)")
	f.BoolVar(&o.noDelete, "no-delete", false, "keep remote objects that no longer exist locally")
	f.BoolVar(&o.dryRun, "dry-run", false, "print the uploads, deletes, invalidation paths and cost; write nothing")
	f.BoolVar(&o.wait, "wait", false, "wait until every invalidation is Completed")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "with --wait: give up after this long (0: no limit)")
	f.DurationVar(&o.pollInterval, "poll-interval", 0, "with --wait: fixed time between status checks (0: invalidation.PollDelay's schedule)")
	_ = f.MarkHidden("poll-interval")
	o.planFlags.register(f, "")
	f.IntVar(&o.concurrency, "concurrency", sitesync.DefaultConcurrency, "parallel uploads (and hashes)")
	f.StringVar(&o.output, "output", "text", "output format: text or json")
	f.Int64Var(&o.multipartAbove, "multipart-threshold", sitesync.DefaultMultipartThreshold, "upload files larger than this many bytes in parts")
	f.Int64Var(&o.partSize, "part-size", sitesync.DefaultPartSize, "multipart part size in bytes (at least 5 MiB)")
	f.BoolVar(&o.verbose, "verbose", false, "print every upload and delete on stderr as it happens (default: a progress bar on a terminal, else a line every few seconds or 10 %)")
	addDeployVerifyFlags(f, o)
	f.BoolVar(&o.debug, "debug", false, "log the timing of each phase on stderr")
	_ = f.MarkHidden("debug")
	f.StringVar(&o.memProfile, "memprofile", "", "write a heap profile, taken when the live heap peaked, to this file (for bench/deploy)")
	_ = f.MarkHidden("memprofile")
	f.BoolVar(&o.release, "release", false, "deploy as a new release under <prefix>_releases/ and switch to it in one KeyValueStore write (docs/releases.md)")
	addReleaseFlags(f, &o.rel)
	_ = f.MarkHidden("multipart-threshold")
	_ = f.MarkHidden("part-size")
	return cmd
}

type deployUpload struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
	Size   int64  `json:"size"`
}

// deployWaiting is a removed object kept for now.
type deployWaiting struct {
	Key string `json:"key"`
	// Until is the end of its grace period (absent for a page).
	Until *time.Time `json:"until,omitempty"`
	// AfterInvalidation is set while an invalidation must complete first.
	AfterInvalidation bool `json:"afterInvalidation,omitempty"`
}

type deployInvalidation struct {
	Distribution string `json:"distribution"`
	ID           string `json:"id,omitempty"`
	Status       string `json:"status"`
	Error        string `json:"error,omitempty"`
}

// deployOutput is the report, printed as text or JSON.
type deployOutput struct {
	DryRun        bool                 `json:"dryRun,omitempty"`
	Bucket        string               `json:"bucket"`
	Prefix        string               `json:"prefix"`
	Uploads       []deployUpload       `json:"uploads"`
	Deletes       []string             `json:"deletes"`
	Kept          []string             `json:"kept,omitempty"`
	Waiting       []deployWaiting      `json:"waiting,omitempty"`
	DeletedAfter  []string             `json:"deletedAfterInvalidation,omitempty"`
	Unchanged     int                  `json:"unchanged"`
	Pending       []string             `json:"pending,omitempty"`
	Writes        int                  `json:"writes"`
	Paths         []string             `json:"paths"`
	Collateral    int                  `json:"collateral"`
	EstimatedCost float64              `json:"estimatedCostUSD"`
	Invalidations []deployInvalidation `json:"invalidations"`
	// PathsByDistribution is set when the targets serve the site at different URLs
	// (urlmap.go); NotServed lists changed keys a target does not serve from the bucket.
	PathsByDistribution map[string][]string `json:"pathsByDistribution,omitempty"`
	NotServed           []string            `json:"notServed,omitempty"`
	Verify              []*verify.Report    `json:"verify,omitempty"`
}

func (a *app) runDeploy(ctx context.Context, dir string, o *deployOptions) error {
	if o.output != "text" && o.output != "json" {
		return usageErrorf("--output %q: want text or json", o.output)
	}
	if o.bucket == "" {
		return usageErrorf("no bucket: give --bucket NAME (or set %s, or bucket: in %s)", envName("bucket"), defaultConfigFile)
	}
	if o.maxDeletes < -1 {
		return usageErrorf("--max-deletes %d: want -1 (no limit) or a count", o.maxDeletes)
	}
	if o.concurrency < 1 {
		return usageErrorf("--concurrency %d: want at least 1", o.concurrency)
	}
	if err := o.planFlags.check(true); err != nil {
		return err
	}
	if err := checkDeployVerify(o); err != nil {
		return err
	}
	if o.keepRemoved < 0 {
		return usageErrorf("--keep-removed %s: want 0 or a duration such as 24h", o.keepRemoved)
	}
	info, err := os.Stat(dir)
	if err != nil || !info.IsDir() {
		return usageErrorf("%s is not a directory", dir)
	}
	if o.release {
		return a.runReleaseDeploy(ctx, dir, o)
	}
	if err := a.checkDeploySites(ctx, o); err != nil {
		return err
	}
	// The deploy's heap is small (key names and digests) but allocates quickly; the
	// default GOGC=100 lets the heap reach twice the live data between collections.
	// Collecting earlier keeps the peak close to the live data for a few ms of CPU.
	defer debug.SetGCPercent(debug.SetGCPercent(deployGCPercent))
	if o.memProfile != "" {
		stop := watchHeapPeak(o.memProfile)
		defer func() {
			if perr := stop(); perr != nil {
				fmt.Fprintf(a.stderr, "edgeflush: %v\n", perr)
			}
		}()
	}
	cfg, exclude, err := a.deployConfig(dir)
	if err != nil {
		return err
	}
	dists, err := targets(o.distributions, o.tenants)
	if err != nil {
		return err
	}
	if o.verify && len(o.tenants) > 0 {
		return usageErrorf("--verify asks each distribution at its own domain and cannot check a --tenant's domain yet; run edgeflush verify --distribution MULTI-TENANT-DISTRIBUTION --base-url https://TENANT-DOMAIN after the deploy instead")
	}
	maxDeletes := o.maxDeletes
	if maxDeletes == 0 {
		maxDeletes = sitesync.DenyDeletes // on the command line 0 means none allowed
	}
	level := slog.LevelWarn
	if o.debug {
		level = slog.LevelDebug
	}
	opts := sitesync.Options{
		Bucket: o.bucket, Prefix: o.prefix, Config: cfg,
		MaxDeletes: maxDeletes, MaxDeletesName: "--max-deletes",
		NoDelete: o.noDelete, DryRun: o.dryRun, Concurrency: o.concurrency,
		Exclude: exclude, Progress: a.stderr, VerboseProgress: o.verbose,
		Logger:             slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level})),
		MultipartThreshold: o.multipartAbove, PartSize: o.partSize,
	}
	if o.dryRun || o.output == "json" {
		opts.Progress = nil
	}
	mapOpts, err := mapOptions(o.bucket, sitesync.NormalizePrefix(o.prefix), o.urlPrefix, o.indexDocument)
	if err != nil {
		return err
	}
	var sites *origin.Reader
	if len(dists) > 0 {
		// Before any write: a bucket the distributions do not read fails here.
		if sites, err = a.checkSite(ctx, dists, mapOpts); err != nil {
			return err
		}
	}
	tags, err := a.deployCacheTags(ctx, sites, dists)
	if err != nil {
		return err
	}
	if tags.Enabled() {
		opts.CacheTagMetadata = tags.Meta
	}
	client, err := a.s3Client(ctx, o.bucket)
	if err != nil {
		return err
	}
	plan, err := sitesync.Diff(ctx, client, os.DirFS(dir), opts)
	if err != nil {
		return fmt.Errorf("deploy %s to s3://%s/%s: %w", dir, o.bucket, sitesync.NormalizePrefix(o.prefix), err)
	}
	prefix := sitesync.NormalizePrefix(o.prefix)
	lg := &ledger.Deploy{
		Store:       ledger.Store{Client: client, Bucket: o.bucket, Prefix: prefix},
		RunID:       fmt.Sprintf("cli-%d-%d", time.Now().UnixNano(), os.Getpid()),
		Targets:     dists,
		KeepRemoved: o.keepRemoved,
		Wait:        o.wait,
		Log:         opts.Logger,
	}
	if len(dists) > 0 {
		// a.cloudFront routes a tenant target's GetInvalidation to the tenant operation.
		if lg.CloudFront, err = a.cloudFront(ctx); err != nil {
			return err
		}
	}
	if err := lg.Prepare(ctx, plan, prefix); err != nil {
		return fmt.Errorf("deploy %s to s3://%s/%s: %w", dir, o.bucket, prefix, err)
	}
	if err := plan.CheckDeletes(); err != nil {
		return err
	}
	out := deployOutput{DryRun: o.dryRun, Bucket: o.bucket, Prefix: prefix,
		Unchanged: len(plan.Unchanged), Pending: plan.Pending, Kept: plan.Kept,
		Uploads: []deployUpload{}, Deletes: []string{}, Paths: []string{}, Invalidations: []deployInvalidation{}}
	for _, w := range lg.Selection().Waiting {
		dw := deployWaiting{Key: w.Key, AfterInvalidation: w.ForInvalidation}
		if !w.Page {
			until := w.Until
			dw.Until = &until
		}
		out.Waiting = append(out.Waiting, dw)
	}
	res := plan.Result()
	// The paths are planned before any write, so that the ledger records them with the
	// keys they cover.
	if err := tags.Record(ctx, client, o.bucket, o.prefix, res); err != nil {
		return err
	}
	if len(res.Changed) > 0 {
		in := o.planFlags.input(res.All, res.Changed)
		var err error
		if sites != nil {
			err = a.deployPlanSite(ctx, sites, dists, mapOpts, in, tags.Func(ctx), &out)
		} else {
			var pr planner.Result
			pr, err = a.planWithinInProgress(ctx, dists, in)
			out.Paths, out.Collateral = pr.Paths, pr.Collateral
			out.EstimatedCost = float64(len(pr.Paths)*max(len(dists), 1)) * deployPricePerPath
		}
		if errors.Is(err, planner.ErrInfeasible) {
			return fmt.Errorf("plan the invalidation of %d changed keys: %w; raise --max-paths or --max-wildcards", len(res.Changed), err)
		}
		if err != nil {
			return fmt.Errorf("plan the invalidation of %d changed keys: %w", len(res.Changed), err)
		}
	}
	out.Uploads = make([]deployUpload, 0, len(plan.Uploads))
	if o.dryRun {
		for _, u := range plan.Uploads {
			out.Uploads = append(out.Uploads, deployUpload{Key: u.Key, Reason: u.Reason, Size: u.Size})
		}
		out.Deletes = append(out.Deletes, plan.Deletes...)
	} else {
		ledgerWrites := 0
		if len(res.Changed) > 0 || len(out.Waiting) > 0 || lg.Selection().Forgets() {
			// Targets that serve none of the changed keys get no invalidation: the
			// ledger records them as settled (pathsFor gives each its own list).
			if err := lg.Begin(ctx, res.Changed, out.Paths, out.pathsFor); err != nil {
				return fmt.Errorf("deploy %s to s3://%s/%s: %w (nothing was written)", dir, o.bucket, prefix, err)
			}
			ledgerWrites = 1
		}
		res, err = plan.Apply(ctx)
		out.Writes = res.Writes + ledgerWrites
		if err != nil {
			return fmt.Errorf("deploy %s to s3://%s/%s: %w", dir, o.bucket, out.Prefix, err)
		}
		// Apply succeeded, so every planned upload was made: report them by key (as
		// res.Uploaded is sorted) without a map from key to upload.
		for _, u := range plan.Uploads {
			out.Uploads = append(out.Uploads, deployUpload{Key: u.Key, Reason: u.Reason, Size: u.Size})
		}
		slices.SortFunc(out.Uploads, func(a, b deployUpload) int { return strings.Compare(a.Key, b.Key) })
		out.Deletes = append(out.Deletes, res.Deleted...)
	}

	var failures []error
	if len(dists) > 0 && len(out.Paths) > 0 {
		if o.dryRun {
			for _, d := range dists {
				out.Invalidations = append(out.Invalidations, deployInvalidation{Distribution: d, Status: "DryRun"})
			}
		} else {
			failures = a.deployInvalidate(ctx, o, dists, &out, lg)
		}
	}
	if !o.dryRun && o.wait && len(failures) == 0 && len(dists) > 0 && len(out.Paths) > 0 {
		// Every invalidation completed: the removed pages (and objects whose grace
		// period is over) that waited for it are deleted now.
		ids := map[string]string{}
		for _, inv := range out.Invalidations {
			ids[inv.Distribution] = inv.ID
		}
		deleted, err := lg.Complete(ctx, client, ids)
		out.DeletedAfter = deleted
		if err != nil {
			failures = append(failures, err)
		}
		// They are now waiting no more.
		out.Waiting = slices.DeleteFunc(out.Waiting, func(w deployWaiting) bool { return slices.Contains(deleted, w.Key) })
	}
	if !o.dryRun && o.verify && len(failures) == 0 && len(dists) > 0 && len(out.Paths) > 0 {
		// After the removed pages that waited for the invalidation are gone, so that
		// verify sees the site as visitors will (a deleted page answers 403/404) and its
		// requests do not put a page about to be deleted back into the caches.
		failures = a.deployVerify(ctx, o, dists, res.Changed, &out)
	}
	if !o.dryRun {
		if err := finishCacheTags(ctx, tags, client, o.bucket, o.prefix, &out); err != nil {
			failures = append(failures, err)
		}
	}
	if err := a.printDeploy(o, dists, out); err != nil {
		return err
	}
	return errors.Join(failures...)
}

// deployConfig loads the header rules from the config file config.go resolved (none:
// defaults) and excludes that file from the upload when it lies inside dir.
func (a *app) deployConfig(dir string) (*siteconfig.Config, []string, error) {
	if a.resolvedConfig == "" {
		return siteconfig.Default(), nil, nil
	}
	cfg, err := siteconfig.Load(a.resolvedConfig)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, usageErrorf("%v", err)
		}
		return nil, nil, &usageError{err}
	}
	var exclude []string
	absDir, err1 := filepath.Abs(dir)
	absCfg, err2 := filepath.Abs(a.resolvedConfig)
	if err1 == nil && err2 == nil {
		if rel, err := filepath.Rel(absDir, absCfg); err == nil && !strings.HasPrefix(rel, "..") {
			exclude = append(exclude, filepath.ToSlash(rel))
		}
	}
	return cfg, exclude, nil
}

// deployInvalidate creates one invalidation per distribution (and waits with --wait);
// it returns the failures, having recorded every outcome in out.
func (a *app) deployInvalidate(ctx context.Context, o *deployOptions, dists []string, out *deployOutput, lg *ledger.Deploy) []error {
	cf, err := a.cloudFront(ctx)
	if err != nil {
		return []error{err}
	}
	// A fresh reference per run: the same paths deployed again later must invalidate
	// again, which a reference derived from the paths alone would prevent.
	run := fmt.Sprintf("%d-%d", time.Now().UnixNano(), os.Getpid())
	var failures []error
	for _, d := range dists {
		paths := out.pathsFor(d)
		if len(paths) == 0 {
			continue // nothing this target serves changed
		}
		ref := invalidation.CallerReference(append([]string{"edgeflush-deploy", run, d}, paths...)...)
		inv, err := invalidation.Create(ctx, cf, d, paths, ref)
		if err != nil {
			out.Invalidations = append(out.Invalidations, deployInvalidation{Distribution: d, Status: "Failed", Error: err.Error()})
			failures = append(failures, fmt.Errorf("invalidate %s: %w", d, err))
			continue
		}
		out.Invalidations = append(out.Invalidations, deployInvalidation{Distribution: d, ID: inv.ID, Status: inv.Status})
		if err := lg.Invalidated(ctx, d, inv.ID, inv.Completed()); err != nil {
			// Not fatal: the next deploy, not finding the id, covers these keys again.
			fmt.Fprintf(a.stderr, "edgeflush: warning: %v\n", err)
		}
	}
	if !o.wait {
		return failures
	}
	wctx := ctx
	if o.timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	for i, r := range out.Invalidations {
		if r.ID == "" {
			continue
		}
		inv, err := invalidation.Wait(wctx, cf, r.Distribution, r.ID, o.pollInterval)
		if err != nil {
			failures = append(failures, fmt.Errorf("wait for invalidation %s on %s: %w", r.ID, r.Distribution, err))
			continue
		}
		out.Invalidations[i].Status = inv.Status
	}
	return failures
}

func (a *app) printDeploy(o *deployOptions, dists []string, out deployOutput) error {
	if o.output == "json" {
		return writeDeployJSON(a.stdout, out)
	}
	w := a.stdout
	target := fmt.Sprintf("s3://%s/%s", out.Bucket, out.Prefix)
	if out.DryRun {
		for _, u := range out.Uploads {
			fmt.Fprintf(w, "upload %s (%s, %d bytes)\n", u.Key, u.Reason, u.Size)
		}
		for _, k := range out.Deletes {
			fmt.Fprintf(w, "delete %s (now)\n", k)
		}
	}
	for _, k := range out.Kept {
		fmt.Fprintf(w, "kept %s (--no-delete)\n", k)
	}
	for _, k := range out.DeletedAfter {
		fmt.Fprintf(w, "deleted %s (its invalidation completed)\n", k)
	}
	for _, wt := range out.Waiting {
		fmt.Fprintf(w, "kept %s (removed; %s)\n", wt.Key, describeWaiting(wt))
	}
	if out.DryRun {
		fmt.Fprintf(w, "dry run: would upload %d, delete %d, leave %d unchanged, kept for now %d (%s); nothing written\n",
			len(out.Uploads), len(out.Deletes), out.Unchanged, len(out.Waiting), target)
	} else {
		fmt.Fprintf(w, "uploaded %d, deleted %d, unchanged %d, kept for now %d (%s)\n",
			len(out.Uploads), len(out.Deletes)+len(out.DeletedAfter), out.Unchanged, len(out.Waiting), target)
	}
	if len(out.Pending) > 0 {
		fmt.Fprintf(w, "%d keys changed by earlier deploys and not yet covered by a completed invalidation are invalidated too\n", len(out.Pending))
	}
	if len(out.Paths) == 0 {
		fmt.Fprintln(w, "nothing to invalidate: nothing changed")
		return nil
	}
	fmt.Fprintf(w, "invalidation paths (%d, %d unchanged objects invalidated too):\n", len(out.Paths), out.Collateral)
	for _, p := range out.Paths {
		fmt.Fprintf(w, "  %s\n", p)
	}
	for _, d := range dists {
		if p, ok := out.PathsByDistribution[d]; ok {
			fmt.Fprintf(w, "  on %s: %s\n", d, strings.Join(p, " "))
		}
	}
	for _, n := range out.NotServed {
		fmt.Fprintf(w, "not invalidated: %s\n", n)
	}
	if len(dists) == 0 {
		fmt.Fprintln(w, "no --distribution: nothing invalidated")
	}
	if out.DryRun {
		fmt.Fprintf(w, "estimated cost: %d paths x %d distribution(s) x $%.3f = $%.3f (the first 1,000 paths a month are free)\n",
			len(out.Paths), max(len(dists), 1), deployPricePerPath, out.EstimatedCost)
	}
	for _, r := range out.Invalidations {
		switch {
		case r.Error != "":
			fmt.Fprintf(w, "invalidation on %s failed: %s\n", r.Distribution, r.Error)
		case r.ID == "":
			fmt.Fprintf(w, "would invalidate %d paths on %s\n", len(out.Paths), r.Distribution)
		default:
			fmt.Fprintf(w, "invalidation %s on %s: %s\n", r.ID, r.Distribution, r.Status)
		}
	}
	for _, rep := range out.Verify {
		printVerify(w, rep)
	}
	return nil
}

// describeWaiting says until when a removed object is kept.
func describeWaiting(w deployWaiting) string {
	var parts []string
	if w.AfterInvalidation {
		parts = append(parts, "until the invalidation covering it completed")
	}
	if w.Until != nil {
		parts = append(parts, "until "+w.Until.UTC().Format(time.RFC3339)+" (--keep-removed)")
	}
	if len(parts) == 0 {
		return "deleted by the next deploy"
	}
	return strings.Join(parts, " and ") + ", then deleted by a deploy"
}

func writeDeployJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// watchHeapPeak samples the live heap (as of the last GC) every few milliseconds and
// keeps a heap profile of the moment it peaked; stop writes that profile to path. It
// shows where a deploy's per-key memory goes (go tool pprof -sample_index=inuse_space).
func watchHeapPeak(path string) (stop func() error) {
	// Sample finely: the default rate (one sample per 512 KiB) blurs a heap of a few MiB.
	runtime.MemProfileRate = 4096
	done := make(chan struct{})
	finished := make(chan struct{})
	var best bytes.Buffer
	go func() {
		defer close(finished)
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		var peak uint64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			metrics.Read(sample)
			if live := sample[0].Value.Uint64(); live > peak {
				peak = live
				best.Reset()
				_ = pprof.Lookup("heap").WriteTo(&best, 0)
			}
		}
	}()
	return func() error {
		close(done)
		<-finished
		if err := os.WriteFile(path, best.Bytes(), 0o644); err != nil {
			return fmt.Errorf("heap profile: %w", err)
		}
		return nil
	}
}

func uniqueStrings(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
