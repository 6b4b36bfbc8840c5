package cli

// release.go holds the release commands (releases, rollback) and the --release branch
// of deploy; deploy.go only registers the flags and hands over (see internal/release).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/cloudfrontkeyvaluestore"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/release"
	"github.com/edgeflush/edgeflush/internal/sitesync"
)

func init() {
	register(newReleasesCmd)
	register(newRollbackCmd)
}

// releaseFlags are the flags shared by deploy --release, releases and rollback.
type releaseFlags struct {
	kvsARN string
	keep   int
}

func addReleaseFlags(f *pflag.FlagSet, r *releaseFlags) {
	f.StringVar(&r.kvsARN, "kvs-arn", "", "ARN of the KeyValueStore the release function reads (edgeflush setup --release prints it)")
	f.IntVar(&r.keep, "keep", release.DefaultKeep, "keep this many releases; older ones are deleted after the grace period")
}

func (a *app) kvsClient(ctx context.Context) (*cloudfrontkeyvaluestore.Client, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return awsconf.NewKeyValueStore(cfg), nil
}

func checkReleaseFlags(bucket string, r releaseFlags) error {
	if bucket == "" {
		return usageErrorf("no bucket: give --bucket NAME (or set %s, or bucket: in %s)", envName("bucket"), defaultConfigFile)
	}
	if r.kvsARN == "" {
		return usageErrorf("no KeyValueStore: give --kvs-arn ARN (or set %s, or kvs-arn: in %s); `edgeflush setup --release` creates it", envName("kvs-arn"), defaultConfigFile)
	}
	if r.keep < 1 {
		return usageErrorf("--keep %d: keep at least 1 release", r.keep)
	}
	return nil
}

type releaseDeployOutput struct {
	Release    string    `json:"release"`
	Previous   string    `json:"previous,omitempty"`
	Bucket     string    `json:"bucket"`
	Prefix     string    `json:"prefix"`
	Files      int       `json:"files"`
	Bytes      int64     `json:"bytes"`
	Uploaded   int       `json:"uploaded"`
	Copied     int       `json:"copied"`
	Pruned     []string  `json:"pruned"`
	Writes     int       `json:"writes"`
	SwitchedAt time.Time `json:"switchedAt"`
}

// runReleaseDeploy is deploy --release: build the release, switch, prune.
func (a *app) runReleaseDeploy(ctx context.Context, dir string, o *deployOptions) error {
	if err := checkReleaseFlags(o.bucket, o.rel); err != nil {
		return err
	}
	if o.dryRun {
		return usageErrorf("--dry-run is not available with --release: a release is written under its own prefix and only the KeyValueStore switch makes it visible")
	}
	if o.noDelete {
		return usageErrorf("--no-delete has no meaning with --release: each release holds exactly DIR")
	}
	if len(o.tenants) > 0 {
		return usageErrorf("--tenant is not available with --release yet: the release function serves one distribution's default cache behavior")
	}
	if o.verify {
		return usageErrorf("--verify checks invalidated URLs; a release needs no invalidation (its id is in every cache key): drop --verify")
	}
	cfg, exclude, err := a.deployConfig(dir)
	if err != nil {
		return err
	}
	maxDeletes := o.maxDeletes
	if maxDeletes == 0 {
		maxDeletes = sitesync.DenyDeletes
	}
	level := slog.LevelWarn
	if o.debug {
		level = slog.LevelDebug
	}
	s3c, err := a.s3Client(ctx, o.bucket)
	if err != nil {
		return err
	}
	kc, err := a.kvsClient(ctx)
	if err != nil {
		return err
	}
	ro := release.Options{Bucket: o.bucket, Prefix: o.prefix, KvsARN: o.rel.kvsARN, Config: cfg, Exclude: exclude,
		MaxDeletes: maxDeletes, MaxDeletesName: "--max-deletes", Concurrency: o.concurrency, Keep: o.rel.keep,
		Logger: slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))}
	if o.output == "text" {
		ro.Progress = a.stderr
	}
	res, err := release.Deploy(ctx, s3c, kc, os.DirFS(dir), ro)
	if err != nil {
		return fmt.Errorf("release %s to s3://%s/%s: %w", dir, o.bucket, sitesync.NormalizePrefix(o.prefix), err)
	}
	out := releaseDeployOutput{Release: res.Release.ID, Previous: res.Previous, Bucket: o.bucket, Prefix: sitesync.NormalizePrefix(o.prefix),
		Files: res.Release.Files, Bytes: res.Release.Bytes, Uploaded: len(res.Uploaded), Copied: len(res.Copied),
		Pruned: append([]string{}, res.Pruned...), Writes: res.Writes, SwitchedAt: res.SwitchedAt}
	if o.output == "json" {
		return writeDeployJSON(a.stdout, out)
	}
	w := a.stdout
	fmt.Fprintf(w, "release %s: %d files, %d bytes; uploaded %d, copied %d (s3://%s/%s)\n", out.Release, out.Files, out.Bytes,
		out.Uploaded, out.Copied, o.bucket, release.Dir(o.prefix, out.Release))
	if out.Previous != "" {
		fmt.Fprintf(w, "current: %s (was %s); `edgeflush rollback` switches back\n", out.Release, out.Previous)
	} else {
		fmt.Fprintf(w, "current: %s\n", out.Release)
	}
	for _, p := range out.Pruned {
		fmt.Fprintf(w, "deleted old release %s\n", p)
	}
	if len(o.distributions) > 0 {
		fmt.Fprintln(w, "nothing to invalidate: the release id is part of every cache key")
	}
	return nil
}

type releasesOptions struct {
	bucket, prefix, output string
	rel                    releaseFlags
}

// register adds the site flags releases and rollback share.
func (o *releasesOptions) register(f *pflag.FlagSet) {
	f.StringVar(&o.bucket, "bucket", "", "S3 bucket of the site (required)")
	f.StringVar(&o.prefix, "prefix", "", "key prefix of the site in the bucket")
	addReleaseFlags(f, &o.rel)
}

// releaseSite returns the clients and options that releases and rollback read the
// site's releases with.
func (a *app) releaseSite(ctx context.Context, o *releasesOptions) (*s3.Client, *cloudfrontkeyvaluestore.Client, release.Options, error) {
	ro := release.Options{Bucket: o.bucket, Prefix: o.prefix, KvsARN: o.rel.kvsARN}
	s3c, err := a.s3Client(ctx, o.bucket)
	if err != nil {
		return nil, nil, ro, err
	}
	kc, err := a.kvsClient(ctx)
	return s3c, kc, ro, err
}

func newReleasesCmd(a *app) *cobra.Command {
	o := &releasesOptions{}
	cmd := &cobra.Command{
		Use:   "releases --bucket NAME --kvs-arn ARN [--prefix P]",
		Short: "List the site's releases (id, time, files, bytes, which one is current)",
		Long: `List the releases deploy --release made, oldest first, and mark the current one:
the release the KeyValueStore names, which the CloudFront Function serves.`,
		Example: `  edgeflush releases --bucket my-site --kvs-arn arn:aws:cloudfront::111122223333:key-value-store/a1b2...`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkReleaseFlags(o.bucket, o.rel); err != nil {
				return err
			}
			if o.output != "text" && o.output != "json" {
				return usageErrorf("--output %q: want text or json", o.output)
			}
			ctx := cmd.Context()
			s3c, kc, ro, err := a.releaseSite(ctx, o)
			if err != nil {
				return err
			}
			rs, err := release.List(ctx, s3c, kc, ro)
			if err != nil {
				return err
			}
			if o.output == "json" {
				type item struct {
					release.Release
					Current bool `json:"current"`
				}
				items := make([]item, 0, len(rs))
				for _, r := range rs {
					items = append(items, item{r, r.Current})
				}
				return writeDeployJSON(a.stdout, items)
			}
			if len(rs) == 0 {
				fmt.Fprintln(a.stdout, "no releases yet: edgeflush deploy DIR --release makes one")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCREATED\tFILES\tBYTES\tUPLOADED\tCOPIED\tCURRENT")
			for _, r := range rs {
				cur := ""
				if r.Current {
					cur = "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Created.UTC().Format(time.RFC3339), r.Files, r.Bytes, r.Uploaded, r.Copied, cur)
			}
			return tw.Flush()
		},
	}
	o.register(cmd.Flags())
	cmd.Flags().StringVar(&o.output, "output", "text", "output format: text or json")
	return cmd
}

func newRollbackCmd(a *app) *cobra.Command {
	o := &releasesOptions{}
	cmd := &cobra.Command{
		Use:   "rollback [ID] --bucket NAME --kvs-arn ARN [--prefix P]",
		Short: "Make an earlier release current again, in one KeyValueStore write",
		Long: `Switch the site back to release ID (default: the release before the current one).
Nothing is uploaded and nothing is invalidated: the release is still complete in the
bucket, and its objects are cached under their own URIs.`,
		Example: `  edgeflush rollback --bucket my-site --kvs-arn arn:aws:cloudfront::111122223333:key-value-store/a1b2...
  edgeflush rollback 20261207T061500Z-ab12cd --bucket my-site --kvs-arn ...`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("rollback takes at most one release ID, got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkReleaseFlags(o.bucket, o.rel); err != nil {
				return err
			}
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			ctx := cmd.Context()
			s3c, kc, ro, err := a.releaseSite(ctx, o)
			if err != nil {
				return err
			}
			r, prev, _, err := release.Rollback(ctx, s3c, kc, id, ro)
			if err != nil {
				return err
			}
			if r.ID == prev {
				fmt.Fprintf(a.stdout, "release %s is already current\n", r.ID)
				return nil
			}
			fmt.Fprintf(a.stdout, "current: %s (was %s)\n", r.ID, prev)
			return nil
		},
	}
	o.register(cmd.Flags())
	return cmd
}

// releaseSetupFlags are setup's and teardown's --release flags.
type releaseSetupFlags struct {
	on     bool
	name   string
	kvsARN string // set by the edge set-up for the pipeline part
}

func addReleaseSetupFlags(f *pflag.FlagSet, r *releaseSetupFlags) {
	f.BoolVar(&r.on, "release", false, "releases: the KeyValueStore and the CloudFront Function (deploy/edge/releases.js), published and associated with the distribution's default cache behavior")
	f.StringVar(&r.name, "release-name", "", "with --release: name of the function and the store (default edgeflush-releases-<distribution>)")
}

// runReleaseSetup is setup --release: it returns the store's ARN for the pipeline part.
func (a *app) runReleaseSetup(ctx context.Context, dists []string, r releaseSetupFlags, dryRun bool) (string, error) {
	if len(dists) != 1 {
		return "", usageErrorf("--release needs exactly one --distribution (got %d): the one whose default cache behavior serves the site", len(dists))
	}
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return "", err
	}
	res, err := release.SetupEdge(ctx, cloudfront.NewFromConfig(cfg), release.EdgeOptions{DistributionID: dists[0], Name: r.name, DryRun: dryRun})
	var conflict *release.AssociationConflictError
	if errors.As(err, &conflict) {
		return "", err
	}
	if err != nil {
		return "", fmt.Errorf("%w; rerun the same command to resume", err)
	}
	fmt.Fprintf(a.stdout, "releases on distribution %s:\n", dists[0])
	for _, c := range res.Changes {
		fmt.Fprintf(a.stdout, "  + %s\n", c)
	}
	switch {
	case len(res.Changes) == 0:
		fmt.Fprintln(a.stdout, "no changes: the release function is installed")
	case dryRun:
		fmt.Fprintf(a.stdout, "dry run: %d %s planned, nothing changed\n", len(res.Changes), setupPlural(len(res.Changes), "change"))
		return res.KvsARN, nil
	}
	fmt.Fprintf(a.stdout, "kvs-arn: %s\n", res.KvsARN)
	fmt.Fprintf(a.stdout, "add to %s:  release: true  and  kvs-arn: %s\n", defaultConfigFile, res.KvsARN)
	return res.KvsARN, nil
}

func (a *app) runReleaseTeardown(ctx context.Context, dists []string, r releaseSetupFlags, dryRun bool) error {
	if len(dists) != 1 {
		return usageErrorf("--release needs exactly one --distribution (got %d)", len(dists))
	}
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return err
	}
	res, err := release.TeardownEdge(ctx, cloudfront.NewFromConfig(cfg), release.EdgeOptions{DistributionID: dists[0], Name: r.name, DryRun: dryRun})
	fmt.Fprintf(a.stdout, "releases off distribution %s:\n", dists[0])
	for _, c := range res.Changes {
		fmt.Fprintf(a.stdout, "  - %s\n", c)
	}
	if err != nil {
		return fmt.Errorf("%w; rerun the same command to resume", err)
	}
	switch {
	case len(res.Changes) == 0:
		fmt.Fprintln(a.stdout, "no changes: nothing left to remove")
	case dryRun:
		fmt.Fprintf(a.stdout, "dry run: %d %s planned, nothing changed\n", len(res.Changes), setupPlural(len(res.Changes), "change"))
	default:
		fmt.Fprintln(a.stdout, "the releases stay in the bucket under _releases/; serve one again with deploy, or delete them")
	}
	return nil
}
