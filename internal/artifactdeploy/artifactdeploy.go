// Package artifactdeploy implements the Lambda action's deploy mode
// (codepipeline.Deployer): it fetches the job's input artifact (a zip in the pipeline's
// artifact bucket) with the job's artifactCredentials, streaming it to a temporary file
// so memory stays bounded whatever the artifact's size, opens it as an fs.FS, syncs it
// to the site bucket with sitesync, and plans the invalidation of what changed.
//
// The site's ledger (internal/ledger) is read first and written before the first write:
// the keys earlier deploys changed and no completed invalidation covers yet (a stage
// that failed after its uploads and is retried, a run that did not wait) are covered
// by this deploy's plan; the first delivery stores its planned paths under its job id,
// so that a redelivered event, which finds nothing left to upload, sends the very same
// batch under the same caller reference. Removed pages are deleted once the
// invalidation completed (Track), other removed objects after KeepRemoved.
package artifactdeploy

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"runtime/debug"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	edgefn "github.com/edgeflush/edgeflush/deploy/edge"
	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/invalidation/budget"
	"github.com/edgeflush/edgeflush/internal/ledger"
	"github.com/edgeflush/edgeflush/internal/planner"
	"github.com/edgeflush/edgeflush/internal/release"
	"github.com/edgeflush/edgeflush/internal/siteconfig"
	"github.com/edgeflush/edgeflush/internal/siteplan"
	"github.com/edgeflush/edgeflush/internal/sitesync"
)

// Deployer is the codepipeline.Deployer of the Lambda function.
type Deployer struct {
	// Config is the function's own SDK configuration (region, endpoints, retryer,
	// execution-role credentials).
	Config aws.Config
	// TempDir holds the downloaded artifact; "" means os.TempDir() (/tmp on Lambda,
	// 512 MB by default: raise the function's ephemeral storage for bigger sites).
	TempDir string
	// Concurrency bounds parallel uploads; 0 means sitesync.DefaultConcurrency.
	Concurrency int
	// MultipartThreshold and PartSize tune multipart uploads (0: sitesync defaults).
	MultipartThreshold, PartSize int64
	// MaxBytesInFlight bounds the upload buffers (0: sitesync.DefaultMaxBytesInFlight).
	MaxBytesInFlight int64
	Logger           *slog.Logger
}

// New returns a Deployer using the function's configuration.
func New(cfg aws.Config, log *slog.Logger) *Deployer {
	return &Deployer{Config: cfg, Logger: log}
}

var _ codepipeline.Deployer = (*Deployer)(nil)

// Deploy syncs the artifact to Params.Bucket/Prefix and returns the prepared paths of
// the changed and deleted keys (none when nothing changed).
func (d *Deployer) Deploy(ctx context.Context, req codepipeline.DeployRequest) (codepipeline.DeployResult, error) {
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := req.Params
	// As in the CLI: collect early, so the heap stays near the live key metadata.
	defer debug.SetGCPercent(debug.SetGCPercent(25))
	zipPath, err := d.download(ctx, req)
	if err != nil {
		return codepipeline.DeployResult{}, err
	}
	defer os.Remove(zipPath)
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return codepipeline.DeployResult{}, &codepipeline.ConfigError{Key: "Bucket",
			Message: fmt.Sprintf("the input artifact s3://%s/%s is not a zip file (%v): deploy mode needs the build output as the action's input artifact", req.Artifact.Bucket, req.Artifact.Key, err)}
	}
	defer zr.Close()

	cfg, exclude, err := siteConfig(zr, p.Config)
	if err != nil {
		return codepipeline.DeployResult{}, err
	}
	set, err := applySettings(cfg, &p)
	if err != nil {
		return codepipeline.DeployResult{}, err
	}
	siteCfg := d.siteConfig(p, req.JobID)
	// Routes a tenant target's calls to the tenant operations (planning, the ledger's
	// checks of earlier invalidations).
	cf := invalidation.NewClient(cloudfront.NewFromConfig(siteCfg))
	// Before any write: every distribution must read the site (urlmap.go).
	sites, mapOpts, err := checkSite(ctx, cloudfront.NewFromConfig(siteCfg), p)
	if err != nil {
		return codepipeline.DeployResult{}, err
	}
	tags, err := siteplan.NewCacheTags(ctx, sites, p.DistributionIDs)
	if err != nil {
		return codepipeline.DeployResult{}, err
	}
	var tagMeta []string
	if tags.Enabled() {
		tagMeta = tags.Meta
	}
	if tags != nil {
		for _, s := range tags.Skipped {
			log.Warn("cache tags not written", slog.String("reason", s))
		}
	}
	if set.indexDocument != "" {
		mapOpts.IndexDocument = set.indexDocument // the artifact's index-document
	}
	client, err := awsconf.NewS3ForBucket(ctx, siteCfg, p.Bucket)
	if err != nil {
		return codepipeline.DeployResult{}, &codepipeline.ConfigError{Key: "Bucket", Message: err.Error()}
	}
	if p.Release {
		return d.deployRelease(ctx, log, client, awsconf.NewKeyValueStore(siteCfg), zr, cfg, exclude, req)
	}
	prefix := sitesync.NormalizePrefix(p.Prefix)
	concurrency := d.Concurrency
	if set.concurrency > 0 {
		concurrency = set.concurrency
	}
	plan, err := sitesync.Diff(ctx, client, zr, sitesync.Options{
		CacheTagMetadata:   tagMeta,
		Bucket:             p.Bucket,
		Prefix:             p.Prefix,
		Config:             cfg,
		MaxDeletes:         maxDeletes(p.MaxDeletes),
		MaxDeletesName:     "MaxDeletes",
		Concurrency:        concurrency,
		Exclude:            exclude,
		MultipartThreshold: d.MultipartThreshold,
		PartSize:           d.PartSize,
		MaxBytesInFlight:   d.MaxBytesInFlight,
		StopAt:             req.StopAt,
		Logger:             log,
	})
	if err != nil {
		return codepipeline.DeployResult{}, fmt.Errorf("compare the artifact with s3://%s/%s: %w", p.Bucket, prefix, err)
	}
	lg := &ledger.Deploy{
		Store:       ledger.Store{Client: client, Bucket: p.Bucket, Prefix: prefix},
		CloudFront:  cf,
		RunID:       req.JobID,
		Targets:     p.DistributionIDs,
		KeepRemoved: p.KeepRemoved,
		Wait:        p.Wait,
		Log:         log,
	}
	if err := lg.Prepare(ctx, plan, prefix); err != nil {
		return codepipeline.DeployResult{}, err
	}
	var guard *sitesync.DeleteGuardError
	if err := plan.CheckDeletes(); errors.As(err, &guard) {
		return codepipeline.DeployResult{}, &codepipeline.ConfigError{Key: "MaxDeletes", Message: guard.Error()}
	}
	res := plan.Result()
	if err := tags.Record(ctx, client, p.Bucket, p.Prefix, res); err != nil {
		return codepipeline.DeployResult{}, err
	}
	var paths []string
	if g, ok := lg.Redelivered(); ok {
		// The same job delivered again: the same batch, whatever is in progress now.
		paths = g.Paths
		log.Info("redelivered event: reusing the first delivery's planned paths", slog.Int("paths", len(paths)))
	} else if len(res.Changed) > 0 {
		pr, rep, err := d.planSite(ctx, log, sites, mapOpts, cf, p.DistributionIDs,
			planner.Input{All: res.All, Changed: res.Changed, MaxPaths: p.MaxPaths, IndexDocument: set.indexDocument, DirWithoutSlash: set.dirWithoutSlash}, tags.Func(ctx))
		if err != nil {
			var ie *planner.InputError
			if errors.As(err, &ie) {
				return codepipeline.DeployResult{}, &codepipeline.ConfigError{Key: "MaxPaths", Message: err.Error()}
			}
			return codepipeline.DeployResult{}, fmt.Errorf("plan the invalidation of %d changed keys: %w", len(res.Changed), err)
		}
		paths = pr.Paths
		log.Info("deploy planned", slog.Int("changed", len(res.Changed)), slog.Int("pending", len(res.Pending)),
			slog.Int("kept", len(res.Waiting)), slog.Int("paths", len(pr.Paths)), slog.Int("wildcards", pr.Wildcards),
			slog.Int("collateral", pr.Collateral), slog.Int("max_wildcards", rep.MaxWildcards), slog.Bool("capped_by_in_progress", rep.Capped()))
	}
	if len(res.Changed) > 0 || len(res.Waiting) > 0 || lg.Selection().Forgets() {
		// One batch for every target (the union of their plans, urlmap.go).
		if err := lg.Begin(ctx, res.Changed, paths, nil); err != nil {
			return codepipeline.DeployResult{}, err
		}
	}
	res, err = plan.Apply(ctx)
	out := codepipeline.DeployResult{Uploaded: len(res.Uploaded), Deleted: len(res.Deleted), Paths: paths}
	if err != nil {
		return out, fmt.Errorf("sync the artifact: %w", err)
	}
	if res.Remaining > 0 {
		// Out of time for this invocation: the next job goes on (the ledger has the
		// keys and the paths under the first job's id).
		out.Continue = true
		out.Percent = 100 * len(res.Uploaded) / (len(res.Uploaded) + res.Remaining)
	}
	// The tag ledger is written once the last slice is up: a slice records as tagged
	// every upload it planned, also those a later slice makes, and a copy of an untagged
	// object cached meanwhile must never count as tagged. (Objects a slice did upload
	// are then unchanged for the next slice and stay unrecorded: their tags go unused,
	// which costs paths, never freshness.) The job invalidates these paths on every
	// target; a "/*" is recorded as the targets' full invalidation: the handler creates
	// it (waiting for room if need be) or fails the job, and every object was uploaded,
	// tagged, before this point.
	if !out.Continue {
		var full []string
		if slices.Contains(paths, "/*") {
			full = p.DistributionIDs
		}
		if err := tags.Finish(ctx, client, p.Bucket, p.Prefix, full); err != nil {
			log.Warn("cache tag ledger not written: tags stay unused for this deploy's objects", slog.String("error", err.Error()))
		}
	}
	return out, nil
}

// deployRelease is release mode: the artifact becomes a release named after the job, made
// current in one KeyValueStore write; nothing is invalidated. A redelivered job finds its
// release already built and only makes sure it is current.
func (d *Deployer) deployRelease(ctx context.Context, log *slog.Logger, s3c release.S3API, kc release.KVSAPI, src fs.FS,
	cfg *siteconfig.Config, exclude []string, req codepipeline.DeployRequest) (codepipeline.DeployResult, error) {
	p := req.Params
	ro := release.Options{Bucket: p.Bucket, Prefix: p.Prefix, KvsARN: p.KvsARN, Config: cfg, Exclude: exclude,
		MaxDeletes: p.MaxDeletes, MaxDeletesName: "MaxDeletes", Concurrency: d.Concurrency, Logger: log, ID: "job-" + req.JobID}
	if !edgefn.ValidID(ro.ID) {
		ro.ID = "" // a job id no release id can carry: a generated id (a redelivery then builds it again)
	}
	if ro.ID != "" {
		rs, err := release.List(ctx, s3c, kc, ro)
		if err != nil {
			return codepipeline.DeployResult{}, err
		}
		for _, r := range rs {
			if r.ID == ro.ID {
				if _, _, _, err := release.Rollback(ctx, s3c, kc, ro.ID, ro); err != nil {
					return codepipeline.DeployResult{}, fmt.Errorf("make the redelivered job's release %s current: %w", ro.ID, err)
				}
				log.Info("release current (redelivered job)", slog.String("release", ro.ID))
				return codepipeline.DeployResult{}, nil
			}
		}
	}
	res, err := release.Deploy(ctx, s3c, kc, src, ro)
	var guard *sitesync.DeleteGuardError
	if errors.As(err, &guard) {
		return codepipeline.DeployResult{}, &codepipeline.ConfigError{Key: "MaxDeletes", Message: guard.Error()}
	}
	if err != nil {
		return codepipeline.DeployResult{Uploaded: len(res.Uploaded)}, err
	}
	log.Info("release current", slog.String("release", res.Release.ID), slog.String("previous", res.Previous),
		slog.Int("uploaded", len(res.Uploaded)), slog.Int("copied", len(res.Copied)), slog.Int("pruned", len(res.Pruned)))
	return codepipeline.DeployResult{Uploaded: len(res.Uploaded)}, nil
}

// Track records the invalidations the handler created for a deploy in the site's
// ledger and, once they all completed, deletes the removed objects that waited for them
// (codepipeline.DeployTracker).
func (d *Deployer) Track(ctx context.Context, pr codepipeline.DeployProgress) error {
	p := pr.Params
	client, err := awsconf.NewS3ForBucket(ctx, d.siteConfig(p, pr.FirstJobID), p.Bucket)
	if err != nil {
		return err
	}
	store := ledger.Store{Client: client, Bucket: p.Bucket, Prefix: sitesync.NormalizePrefix(p.Prefix)}
	if pr.Completed {
		ids := make(map[string]string, len(pr.Distributions))
		for i, dist := range pr.Distributions {
			ids[dist] = pr.IDs[i]
		}
		deleted, err := ledger.Complete(ctx, store, client, pr.FirstJobID, ids, p.KeepRemoved, time.Now())
		if len(deleted) > 0 && d.Logger != nil {
			d.Logger.Info("removed objects deleted after the invalidation completed", slog.Int("deleted", len(deleted)))
		}
		return err
	}
	var errs []error
	for i, dist := range pr.Distributions {
		if pr.IDs[i] != "" {
			errs = append(errs, ledger.Invalidated(ctx, store, pr.FirstJobID, dist, pr.IDs[i], false))
		}
	}
	return errors.Join(errs...)
}

var _ codepipeline.DeployTracker = (*Deployer)(nil)

// siteConfig is the SDK configuration that writes the site bucket: the function's own,
// or RoleArn's.
func (d *Deployer) siteConfig(p codepipeline.Params, jobID string) aws.Config {
	if p.RoleARN != "" {
		return awsconf.AssumeRole(d.Config, p.RoleARN, p.ExternalID, codepipeline.SessionName(jobID))
	}
	return d.Config
}

// maxDeletes maps the action's MaxDeletes (0 none, -1 no limit) to sitesync's.
func maxDeletes(n int) int {
	switch n {
	case 0:
		return sitesync.DenyDeletes
	case -1:
		return sitesync.NoDeleteLimit
	}
	return n
}

// plan plans the invalidation within the wildcard (and exact) paths free on every
// distribution (budget.Plan), so that CloudFront accepts it at once. When the
// invalidations in progress leave no room for any plan, or cannot be listed, it plans
// with the budget as asked instead: the handler then keeps the creation pending while
// CloudFront answers TooManyInvalidationsInProgress, until they complete or
// MaxWaitMinutes runs out, which beats failing a deploy whose upload already happened.
func (d *Deployer) plan(ctx context.Context, log *slog.Logger, api budget.API, dists []string, in planner.Input) (planner.Result, budget.Report, error) {
	res, rep, err := budget.Plan(ctx, api, dists, in, nil)
	var busy *budget.BusyError
	var lookup *budget.LookupError
	switch {
	case errors.As(err, &busy):
		log.Warn("no plan fits what CloudFront has free now; planning as asked, the invalidation will wait for room",
			slog.String("in_progress", busy.Report.Room.Describe()))
	case errors.As(err, &lookup):
		log.Warn("cannot list the invalidations in progress; planning as asked", slog.String("error", lookup.Err.Error()))
	default:
		return res, rep, err
	}
	res, err = planner.Plan(in)
	return res, budget.Report{}, err
}

// download streams the artifact into a temporary file and returns its name.
func (d *Deployer) download(ctx context.Context, req codepipeline.DeployRequest) (string, error) {
	acfg := d.Config.Copy()
	acfg.Credentials = credentials.StaticCredentialsProvider{Value: req.ArtifactCredentials}
	client := awsconf.NewS3(acfg)
	src := fmt.Sprintf("s3://%s/%s", req.Artifact.Bucket, req.Artifact.Key)
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(req.Artifact.Bucket), Key: aws.String(req.Artifact.Key)},
		func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	if err != nil {
		return "", fmt.Errorf("get the input artifact %s: %w", src, err)
	}
	defer out.Body.Close()
	f, err := os.CreateTemp(d.TempDir, "edgeflush-artifact-*.zip")
	if err != nil {
		return "", fmt.Errorf("store the input artifact: %w", err)
	}
	if _, err := io.Copy(f, out.Body); err != nil {
		f.Close()
		os.Remove(f.Name())
		return "", fmt.Errorf("download the input artifact %s to %s: %w", src, f.Name(), err)
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("store the input artifact: %w", err)
	}
	return f.Name(), nil
}

// siteConfig reads the header rules from the artifact: the "Config" parameter's path,
// else .edgeflush.yaml at the artifact's root when present, else the defaults. The
// file read is excluded from the upload.
func siteConfig(fsys fs.FS, name string) (*siteconfig.Config, []string, error) {
	explicit := name != ""
	if !explicit {
		name = siteconfig.FileName
	}
	clean := path.Clean("/" + name)[1:]
	if !fs.ValidPath(clean) || clean == "" || clean == "." {
		return nil, nil, &codepipeline.ConfigError{Key: "Config", Message: fmt.Sprintf("%q is not a path inside the artifact (write e.g. \"site/.edgeflush.yaml\")", name)}
	}
	f, err := fsys.Open(clean)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return siteconfig.Default(), nil, nil
	}
	if err != nil {
		return nil, nil, &codepipeline.ConfigError{Key: "Config", Message: fmt.Sprintf("cannot read %s from the input artifact: %v", clean, err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, siteconfig.MaxSize+1))
	if err != nil {
		return nil, nil, &codepipeline.ConfigError{Key: "Config", Message: fmt.Sprintf("cannot read %s from the input artifact: %v", clean, err)}
	}
	cfg, err := siteconfig.Parse(data)
	if err != nil {
		return nil, nil, &codepipeline.ConfigError{Key: "Config", Message: fmt.Sprintf("%s in the input artifact: %v", clean, err)}
	}
	return cfg, []string{clean}, nil
}
