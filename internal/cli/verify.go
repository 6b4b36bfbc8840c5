package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/edgeflush/edgeflush/internal/origin"
	"github.com/edgeflush/edgeflush/internal/verify"
)

func init() { register(newVerifyCmd) }

type verifyOptions struct {
	distributions  []string
	bucket, prefix string
	baseURL        string
	paths          []string
	pathsFrom      string
	all            bool
	indexDocument  string
	concurrency    int
	requestTimeout time.Duration
	output         string
}

func newVerifyCmd(a *app) *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify --distribution ID --bucket NAME [--prefix P] (--path P ... | --paths-from FILE | --all)",
		Short: "Ask the distribution what it serves and compare it with the bucket",
		Long: `For each URL, GET it through the distribution and compare the answer with the
object the bucket holds now: the ETag, or without one (CloudFront drops it when it
compresses) the MD5 of the body, decompressed when the edge compressed it. A URL whose
object is gone must answer 403 or 404. An index document is also checked under its
directory URL where the distribution serves that ("/" through the default root object;
"/dir/" through an S3 website origin or a viewer-request function).

Before anything is fetched, the distribution's configuration is read: when the bucket
is not its origin, or its origin path is not --prefix, verify says so and stops. That
is the commonest reason a correct invalidation still leaves a site stale.

The answers come from ONE edge location, the one the network routes this machine to.
Other locations, and browsers' caches, may still hold other copies.

Exit status: 0 when every URL is fresh, 1 when any is stale or fails, 2 on a usage error.`,
		Example: `  edgeflush verify --distribution E2EXAMPLE12345 --bucket my-site --all
  edgeflush verify --distribution E2EXAMPLE12345 --bucket my-site --path /index.html --path /app.js
  edgeflush verify --distribution E2EXAMPLE12345 --bucket my-site --base-url https://www.example.com --paths-from urls.txt --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runVerify(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	// A list flag, as for invalidate, so that one config file (distribution: [E1])
	// serves every command; verify takes exactly one.
	f.StringSliceVar(&o.distributions, "distribution", nil, "CloudFront distribution ID")
	f.StringVar(&o.bucket, "bucket", "", "S3 bucket of the site (required)")
	f.StringVar(&o.prefix, "prefix", "", "key prefix of the site in the bucket (the distribution's origin path must read it)")
	f.StringVar(&o.baseURL, "base-url", "", "where to ask (default https:// + the distribution's domain name), e.g. https://www.example.com")
	f.StringArrayVar(&o.paths, "path", nil, `URL path to check (repeatable); a trailing "*" checks every object under it`)
	f.StringVar(&o.pathsFrom, "paths-from", "", `file with one URL path per line ("-" for stdin)`)
	f.BoolVar(&o.all, "all", false, "check every object of the site (command line only: in the environment and the config file, all names invalidate's keys file)")
	commandLineOnly(f, "all")
	f.StringVar(&o.indexDocument, "index-document", verify.DefaultIndex, `the directory index document ("-": none)`)
	f.IntVar(&o.concurrency, "concurrency", verify.DefaultConcurrency, "parallel requests")
	f.DurationVar(&o.requestTimeout, "request-timeout", verify.DefaultTimeout, "time limit of one request")
	f.StringVar(&o.output, "output", "text", "output format: text or json")
	return cmd
}

func (a *app) runVerify(ctx context.Context, o *verifyOptions) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	dists := dedupe(o.distributions)
	switch {
	case len(dists) == 0:
		return usageErrorf("no distribution: give --distribution ID")
	case len(dists) > 1:
		return usageErrorf("verify takes one --distribution, got %d (%v)", len(dists), dists)
	case o.bucket == "":
		return usageErrorf("no bucket: give --bucket NAME (or set %s, or bucket: in %s)", envName("bucket"), defaultConfigFile)
	case o.concurrency < 1:
		return usageErrorf("--concurrency %d: want at least 1", o.concurrency)
	case o.requestTimeout <= 0:
		return usageErrorf("--request-timeout must be more than 0, not %s", o.requestTimeout)
	}
	paths := append([]string(nil), o.paths...)
	if o.pathsFrom != "" {
		lines, err := a.readLineFile(o.pathsFrom)
		if err != nil {
			return &usageError{err}
		}
		paths = append(paths, lines...)
	}
	paths = dedupe(paths)
	switch {
	case o.all && (len(paths) > 0 || o.pathsFrom != ""):
		return usageErrorf("give either --all or --path/--paths-from, not both")
	case !o.all && len(paths) == 0 && o.pathsFrom == "":
		return usageErrorf("nothing to check: give --path P, --paths-from FILE or --all")
	case !o.all && len(paths) == 0:
		return usageErrorf("--paths-from %s holds no path", o.pathsFrom)
	}
	rep, err := a.verify(ctx, verify.Options{
		DistributionID: dists[0], Bucket: o.bucket, Prefix: o.prefix, BaseURL: o.baseURL,
		Paths: paths, All: o.all, IndexDocument: o.indexDocument,
		Concurrency: o.concurrency, Timeout: o.requestTimeout,
	})
	if err != nil {
		return err
	}
	if o.output == "json" {
		if err := writeJSON(a.stdout, rep); err != nil {
			return err
		}
	} else {
		printVerify(a.stdout, rep)
	}
	return verifyFailure(rep)
}

// verify runs verify.Check with the CLI's AWS clients (so --role-arn applies).
func (a *app) verify(ctx context.Context, o verify.Options) (*verify.Report, error) {
	cf, err := a.cloudFront(ctx)
	if err != nil {
		return nil, err
	}
	r := origin.NewReader(cf)
	siteErr := func(err error) error {
		var nao *origin.NotAnOriginError
		var ope *origin.OriginPathError
		if errors.As(err, &nao) || errors.As(err, &ope) {
			return fmt.Errorf("verify: nothing checked: %w", err)
		}
		return explain("verify", err)
	}
	// The distribution first: a bucket that is not its origin is the mistake to name,
	// before the bucket's region is looked up (which fails for a missing bucket).
	d, err := r.Distribution(ctx, o.DistributionID)
	if err == nil {
		_, err = d.Site(o.Bucket, o.Prefix)
	}
	if err != nil {
		return nil, siteErr(err)
	}
	s3c, err := a.s3Client(ctx, o.Bucket)
	if err != nil {
		return nil, err
	}
	rep, err := verify.Check(ctx, r, s3c, o)
	if err != nil {
		return nil, siteErr(err)
	}
	return rep, nil
}

// verifyFailure is the command's error when any URL is stale or failed (exit 1).
func verifyFailure(rep *verify.Report) error {
	if rep.OK() {
		return nil
	}
	return fmt.Errorf("verify: %d of %d URLs not fresh at the edge (%d stale, %d failed)", len(rep.Stale)+len(rep.Errors), rep.Checked, len(rep.Stale), len(rep.Errors))
}

func printVerify(w io.Writer, rep *verify.Report) {
	for _, s := range rep.Stale {
		fmt.Fprintf(w, "STALE %s\n", s)
	}
	for _, f := range rep.Errors {
		fmt.Fprintf(w, "FAILED %s\n", f)
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "skipped %s: %s\n", s.Path, s.Reason)
	}
	fmt.Fprintf(w, "checked %d URLs through %s (distribution %s): %d fresh, %d stale, %d failed\n",
		rep.Checked, rep.BaseURL, rep.Distribution, rep.Fresh, len(rep.Stale), len(rep.Errors))
	fmt.Fprintln(w, "(one edge location answered, the one nearest this machine; other locations and browsers' caches are not seen)")
}

// addDeployVerifyFlags adds deploy's --verify and --base-url.
func addDeployVerifyFlags(f *pflag.FlagSet, o *deployOptions) {
	f.BoolVar(&o.verify, "verify", false, "with --wait: then check the changed URLs at the edge (as edgeflush verify) and fail when any is stale")
	f.StringVar(&o.baseURL, "base-url", "", "with --verify: where to ask (default https:// + the distribution's domain name)")
}

func checkDeployVerify(o *deployOptions) error {
	switch {
	case !o.verify && o.baseURL != "":
		return usageErrorf("--base-url only applies with --verify")
	case !o.verify:
		return nil
	case !o.wait && !o.dryRun:
		return usageErrorf("--verify needs --wait: the edge may serve old copies until the invalidation is Completed")
	case len(uniqueStrings(o.distributions)) == 0:
		return usageErrorf("--verify needs a --distribution to ask")
	case o.baseURL != "" && len(uniqueStrings(o.distributions)) > 1:
		return usageErrorf("--base-url names one distribution's address, but %d distributions are given; verify them one at a time with edgeflush verify", len(uniqueStrings(o.distributions)))
	}
	return nil
}

// checkDeploySites runs before deploy --verify writes anything: every distribution must
// read the bucket at the prefix, or the check after the deploy could only fail.
func (a *app) checkDeploySites(ctx context.Context, o *deployOptions) error {
	if !o.verify {
		return nil
	}
	cf, err := a.cloudFront(ctx)
	if err != nil {
		return err
	}
	r := origin.NewReader(cf)
	for _, id := range uniqueStrings(o.distributions) {
		d, err := r.Distribution(ctx, id)
		if err != nil {
			return explain("--verify", err)
		}
		if _, err := d.Site(o.bucket, o.prefix); err != nil {
			return fmt.Errorf("--verify: nothing deployed: %w", err)
		}
	}
	return nil
}

// deployVerify checks the changed keys' URLs on every distribution after deploy --wait,
// recording the reports in out; it returns a failure per distribution that is not fresh.
func (a *app) deployVerify(ctx context.Context, o *deployOptions, dists, changed []string, out *deployOutput) []error {
	if len(changed) == 0 {
		return nil
	}
	paths := make([]string, len(changed))
	for i, k := range changed {
		// Encoded, so that a key with a literal '%' keeps its name through verify's decoding.
		paths[i] = (&url.URL{Path: "/" + k}).EscapedPath()
	}
	var failures []error
	for _, d := range dists {
		rep, err := a.verify(ctx, verify.Options{DistributionID: d, Bucket: o.bucket, Prefix: o.prefix, BaseURL: o.baseURL,
			Paths: paths, IndexDocument: o.indexDocument, Concurrency: o.concurrency})
		if err != nil {
			failures = append(failures, fmt.Errorf("verify %s: %w", d, err))
			continue
		}
		out.Verify = append(out.Verify, rep)
		if err := verifyFailure(rep); err != nil {
			failures = append(failures, fmt.Errorf("%s: %w", d, err))
		}
	}
	return failures
}
