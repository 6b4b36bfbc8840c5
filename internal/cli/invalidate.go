package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/invalidation/budget"
	"github.com/edgeflush/edgeflush/internal/planner"
)

func init() { register(newInvalidateCmd) }

// invalidateOptions are the flags of `edgeflush invalidate`.
type invalidateOptions struct {
	distributions []string
	tenants       []string
	paths         []string
	pathsFrom     string
	changedFile   string
	allFile       string
	planFlags
	wait            bool
	timeout         time.Duration
	pollInterval    time.Duration
	dryRun          bool
	output          string
	callerReference string
	// With --changed: the keys are bucket keys mapped through each distribution's
	// configuration (urlmap.go).
	bucket, prefix, urlPrefix string
}

func newInvalidateCmd(a *app) *cobra.Command {
	o := &invalidateOptions{}
	cmd := &cobra.Command{
		Use:   "invalidate --distribution ID [--path P ...] [--paths-from FILE|-] [--changed FILE --all FILE]",
		Short: "Create one CloudFront invalidation per distribution (and optionally wait for it)",
		Long: `Create one CloudFront invalidation per distribution holding all the paths.

Paths come from --path (repeatable), --paths-from (one path per line, "-" for
stdin; blank lines and lines starting with '#' are skipped) and, with --changed and
--all, from the optimal planner (the same as "edgeflush plan"). With none of these,
the path is "/*". Paths are raw (as the objects are named, e.g. "/a b.html"): they are
validated and URL-encoded by CloudFront's rules before anything is sent. A '%' is a
literal percent sign and is sent as %25.`,
		Example: `  edgeflush invalidate --distribution E2EXAMPLE12345 --wait
  edgeflush invalidate --distribution E1 --distribution E2 --path /index.html --path '/img/*'
  git diff --name-only HEAD~1 -- public | sed 's|^public||' | edgeflush invalidate --distribution E1 --paths-from -
  edgeflush invalidate --distribution E1 --changed changed.txt --all all.txt --max-paths 15 --dry-run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runInvalidate(cmd.Context(), cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.distributions, "distribution", nil, "CloudFront distribution ID (repeatable, or comma-separated)")
	addTenantFlag(f, &o.tenants, "distribution tenant ID of a multi-tenant distribution (repeatable): invalidate that tenant's cache")
	f.StringArrayVar(&o.paths, "path", nil, "path to invalidate, raw (repeatable)")
	f.StringVar(&o.pathsFrom, "paths-from", "", `file with one path per line ("-" for stdin)`)
	f.StringVar(&o.changedFile, "changed", "", `file with the changed (and deleted) S3 keys, one per line ("-": stdin): invalidate the planned paths (needs --all)`)
	f.StringVar(&o.allFile, "all", "", `file with every S3 key of the site, one per line ("-": stdin; with --changed)`)
	o.planFlags.register(f, "with --changed: ")
	f.BoolVar(&o.wait, "wait", false, "wait until every invalidation is Completed")
	f.DurationVar(&o.timeout, "timeout", 10*time.Minute, "with --wait: give up after this long (0: no limit)")
	f.DurationVar(&o.pollInterval, "poll-interval", 0, "with --wait: fixed time between status checks (0: invalidation.PollDelay's schedule)")
	_ = f.MarkHidden("poll-interval")
	f.BoolVar(&o.dryRun, "dry-run", false, "validate and print the invalidations, create nothing")
	f.StringVar(&o.output, "output", "text", "output format: text or json")
	f.StringVar(&o.bucket, "bucket", "", "with --changed: the keys are keys of this bucket, mapped to the URLs each distribution serves them at (origin path, behaviors)")
	f.StringVar(&o.prefix, "prefix", "", "with --bucket: the site's key prefix in the bucket")
	addURLPrefixFlag(f, &o.urlPrefix)
	f.StringVar(&o.callerReference, "caller-reference", "", "idempotency key: the same key, distribution and paths never create a second invalidation (default: random, so every run creates one)")
	return cmd
}

// invalidationReport is one line of the output, in text and JSON.
type invalidationReport struct {
	Distribution string     `json:"distribution"`
	ID           string     `json:"id,omitempty"`
	Status       string     `json:"status"`
	CreateTime   *time.Time `json:"createTime,omitempty"`
	Paths        []string   `json:"paths"`
	Error        string     `json:"error,omitempty"`
}

// invalidateOutput is the JSON document printed by invalidate and wait.
type invalidateOutput struct {
	DryRun        bool                 `json:"dryRun,omitempty"`
	InProgress    *inProgressReport    `json:"inProgress,omitempty"`
	Invalidations []invalidationReport `json:"invalidations"`
}

// inProgressReport is what --changed/--all found in progress on the distributions
// (also in a dry run: the lookup only reads) and the budget it planned with.
type inProgressReport struct {
	FreeWildcards      int                      `json:"freeWildcards"` // on every distribution
	FreeExact          int                      `json:"freeExact"`
	RequestedPaths     int                      `json:"requestedPaths"`
	RequestedWildcards int                      `json:"requestedWildcards"`
	MaxPaths           int                      `json:"maxPaths"` // the budget planned with
	MaxWildcards       int                      `json:"maxWildcards"`
	Capped             bool                     `json:"capped"`
	Invalidations      []inProgressInvalidation `json:"invalidations"`
}

type inProgressInvalidation struct {
	Distribution string `json:"distribution"`
	ID           string `json:"id"`
	Wildcards    int    `json:"wildcards"`
	Exact        int    `json:"exact"`
}

// text is the report's line in the text output, e.g. "in progress: 1 invalidation
// (E1/I1: 12 wildcard, 0 exact paths); free on every distribution: 3 wildcard, 3000
// exact paths; planned with at most 30 paths, 3 wildcards (10 asked)".
func (r *inProgressReport) text() string {
	var b strings.Builder
	if len(r.Invalidations) == 0 {
		b.WriteString("in progress: none")
	} else {
		fmt.Fprintf(&b, "in progress: %d invalidations (", len(r.Invalidations))
		for i, inv := range r.Invalidations {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s/%s: %d wildcard, %d exact paths", inv.Distribution, inv.ID, inv.Wildcards, inv.Exact)
		}
		b.WriteString(")")
	}
	fmt.Fprintf(&b, "; free on every distribution: %d wildcard, %d exact paths; planned with at most %d paths, %d wildcards",
		r.FreeWildcards, r.FreeExact, r.MaxPaths, r.MaxWildcards)
	if r.Capped {
		fmt.Fprintf(&b, " (%d paths, %d wildcards asked)", r.RequestedPaths, r.RequestedWildcards)
	}
	return b.String()
}

func newInProgressReport(r budget.Report) *inProgressReport {
	out := &inProgressReport{
		FreeWildcards: r.Room.Wildcards, FreeExact: r.Room.Exact,
		RequestedPaths: r.RequestedPaths, RequestedWildcards: r.RequestedWildcards,
		MaxPaths: r.MaxPaths, MaxWildcards: r.MaxWildcards, Capped: r.Capped(),
		Invalidations: []inProgressInvalidation{},
	}
	for _, inv := range r.Room.Busy() {
		i := inProgressInvalidation{Distribution: inv.DistributionID, ID: inv.ID}
		i.Exact, i.Wildcards = invalidation.CountPaths(inv.Paths)
		out.Invalidations = append(out.Invalidations, i)
	}
	return out
}

func (a *app) runInvalidate(ctx context.Context, cmd *cobra.Command, o *invalidateOptions) error {
	if err := checkOutput(o.output); err != nil {
		return err
	}
	dists, err := targets(o.distributions, o.tenants)
	if err != nil {
		return err
	}
	if len(dists) == 0 {
		return usageErrorf("no distribution: give --distribution ID or --tenant ID (or set %s, or distribution: in %s)", envName("distribution"), defaultConfigFile)
	}
	if o.timeout < 0 {
		return usageErrorf("--timeout must be 0 (no limit) or more, not %s", o.timeout)
	}
	if o.changedFile != "" {
		if err := o.planFlags.check(true); err != nil {
			return err
		}
	}
	if (o.changedFile == "") != (o.allFile == "") {
		return usageErrorf("--changed and --all go together: the planner needs the changed keys and every key of the site")
	}
	stdinUsers := 0
	for _, name := range []string{o.pathsFrom, o.changedFile, o.allFile} {
		if name == "-" {
			stdinUsers++
		}
	}
	if stdinUsers > 1 {
		return usageErrorf("only one of --paths-from, --changed and --all can read stdin (-)")
	}
	paths, inProgress, err := a.invalidationPaths(ctx, cmd, o, dists)
	if err != nil {
		return err
	}
	if err := invalidation.CheckBatch(paths); err != nil {
		return &usageError{err}
	}
	if len(paths) == 0 {
		// An empty change set or an empty --paths-from file means there is nothing to
		// do; defaulting to "/*" here would evict the whole cache for nothing.
		if o.output == "json" {
			return writeJSON(a.stdout, invalidateOutput{DryRun: o.dryRun, InProgress: inProgress, Invalidations: []invalidationReport{}})
		}
		_, err := fmt.Fprintln(a.stdout, "nothing to invalidate: no paths")
		return err
	}

	if o.dryRun {
		out := invalidateOutput{DryRun: true, InProgress: inProgress}
		for _, d := range dists {
			out.Invalidations = append(out.Invalidations, invalidationReport{Distribution: d, Status: "DryRun", Paths: paths})
		}
		return a.printInvalidations(o.output, out)
	}

	client, err := a.cloudFront(ctx)
	if err != nil {
		return err
	}
	token := o.callerReference
	if token == "" {
		token = randomToken()
	}
	out := invalidateOutput{InProgress: inProgress}
	var failures []error
	created := 0
	for _, d := range dists {
		// The reference covers the distribution and the paths, so one --caller-reference
		// reused with other paths makes a new invalidation rather than CloudFront's
		// "caller reference already used" error.
		ref := invalidation.CallerReference(append([]string{"edgeflush-cli", token, d}, paths...)...)
		inv, err := invalidation.Create(ctx, client, d, paths, ref)
		if err != nil {
			err = explain("create invalidation for "+d, err)
			failures = append(failures, err)
			out.Invalidations = append(out.Invalidations, invalidationReport{Distribution: d, Status: "Failed", Paths: paths, Error: oneLine(err.Error())})
			continue
		}
		created++
		out.Invalidations = append(out.Invalidations, report(inv))
	}

	if o.wait {
		failures = append(failures, a.waitAll(ctx, client, out.Invalidations, o.timeout, o.pollInterval)...)
	}
	// When nothing was created, stderr's one line says it all; otherwise the output
	// lists what was created (and what failed) for scripts to act on.
	if created > 0 {
		if err := a.printInvalidations(o.output, out); err != nil {
			return err
		}
	}
	return joinFailures(failures)
}

// invalidationPaths gathers the prepared (validated, encoded, deduplicated) paths from
// --path, --paths-from and the planner; "/*" when no source is given at all. The
// planner's budget is capped by what is free on every distribution in dists (the
// returned report says what was found; nil without --changed).
func (a *app) invalidationPaths(ctx context.Context, cmd *cobra.Command, o *invalidateOptions, dists []string) ([]string, *inProgressReport, error) {
	raw := append([]string(nil), o.paths...)
	if o.pathsFrom != "" {
		lines, err := a.readLineFile(o.pathsFrom)
		if err != nil {
			return nil, nil, err
		}
		raw = append(raw, lines...)
	}
	given := cmd.Flags().Changed("path") || o.pathsFrom != "" || o.changedFile != ""
	if !given {
		raw = []string{"/*"}
	}
	prepared, err := invalidation.PreparePaths(raw)
	if err != nil {
		return nil, nil, &usageError{err}
	}
	if o.changedFile == "" {
		return prepared, nil, nil
	}
	// Keys are read as `edgeflush plan` reads them (verbatim but for blank lines), so
	// both commands plan the same paths.
	changed, err := a.readKeyFile(o.changedFile)
	if err != nil {
		return nil, nil, err
	}
	all, err := a.readKeyFile(o.allFile)
	if err != nil {
		return nil, nil, err
	}
	in := o.planFlags.input(all, changed)
	if o.bucket != "" || o.prefix != "" || o.urlPrefix != "" {
		paths, err := a.invalidateMapped(ctx, o, dists, in, prepared)
		return paths, nil, err
	}
	// The invalidations in progress are looked up in a dry run too: the lookup only
	// reads, and a dry run should show the paths a real run would send.
	cf, err := a.cloudFront(ctx)
	if err != nil {
		return nil, nil, err
	}
	res, rep, err := budget.Plan(ctx, cf, dists, in, prepared)
	var inProgress *inProgressReport
	if rep.RequestedPaths > 0 {
		inProgress = newInProgressReport(rep)
	}
	if err != nil {
		var ie *planner.InputError
		var be *budget.BusyError
		switch {
		case errors.As(err, &be):
			return nil, inProgress, busyError("plan paths: ", be)
		case errors.Is(err, planner.ErrInfeasible):
			return nil, nil, usageErrorf("plan paths: %v; raise --max-paths or allow wildcards", err)
		case errors.As(err, &ie):
			return nil, nil, &usageError{fmt.Errorf("plan paths: %w", err)}
		case errors.As(err, new(*budget.LookupError)):
			return nil, nil, explain("plan paths: look up the invalidations in progress", errors.Unwrap(err))
		}
		return nil, nil, fmt.Errorf("plan paths: %w", err)
	}
	// Planned paths are already encoded: merge them without encoding them again.
	return dedupe(append(res.Paths, prepared...)), inProgress, nil
}

// busyError tells a person what holds the room and how to wait for it.
func busyError(prefix string, be *budget.BusyError) error {
	msg := prefix + be.Error()
	if oldest, ok := be.Oldest(); ok {
		msg += fmt.Sprintf("; wait for them (edgeflush wait %s --id %s) and run again, or raise --max-paths", targetFlag(oldest.DistributionID), oldest.ID)
	}
	return &explainedError{msg: msg, err: be}
}

// planWithinInProgress is planner.Plan with the budget capped by the invalidations in
// progress on every distribution in dists (none: planner.Plan itself), so that the
// planned batch is accepted now; see budget.Plan. `edgeflush deploy` calls it in place
// of planner.Plan.
func (a *app) planWithinInProgress(ctx context.Context, dists []string, in planner.Input) (planner.Result, error) {
	if len(dists) == 0 {
		return planner.Plan(in)
	}
	cf, err := a.cloudFront(ctx)
	if err != nil {
		return planner.Result{}, err
	}
	res, _, err := budget.Plan(ctx, cf, dists, in, nil)
	var be *budget.BusyError
	switch {
	case errors.As(err, &be):
		return res, busyError("", be)
	case errors.As(err, new(*budget.LookupError)):
		return res, explain("look up the invalidations in progress", errors.Unwrap(err))
	}
	return res, err
}

// waitAll waits for every created invalidation in reports (updating them in place)
// within timeout, and returns one error per invalidation that did not complete.
func (a *app) waitAll(ctx context.Context, client invalidation.API, reports []invalidationReport, timeout, interval time.Duration) []error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var failures []error
	for i := range reports {
		r := &reports[i]
		if r.ID == "" {
			continue // creation failed, already reported
		}
		inv, err := invalidation.Wait(ctx, client, r.Distribution, r.ID, interval)
		if err == nil {
			*r = report(inv)
			continue
		}
		if !inv.CreateTime.IsZero() { // seen at least once: keep its latest state
			*r = report(inv)
		}
		{
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
				err = fmt.Errorf("invalidation %s for %s still %s after %s (it continues in CloudFront; check it with: edgeflush wait %s --id %s)",
					r.ID, r.Distribution, r.Status, timeout, targetFlag(r.Distribution), r.ID)
			} else {
				err = explain(fmt.Sprintf("wait for invalidation %s of %s", r.ID, r.Distribution), err)
			}
			r.Error = oneLine(err.Error())
			failures = append(failures, err)
		}
	}
	return failures
}

func report(inv invalidation.Invalidation) invalidationReport {
	r := invalidationReport{Distribution: inv.DistributionID, ID: inv.ID, Status: inv.Status, Paths: inv.Paths}
	if !inv.CreateTime.IsZero() {
		t := inv.CreateTime.UTC()
		r.CreateTime = &t
	}
	if r.Paths == nil {
		r.Paths = []string{}
	}
	return r
}

// printInvalidations writes the reports as JSON or as text: one line per invalidation
// ("DISTRIBUTION ID STATUS N paths"), then its paths indented.
func (a *app) printInvalidations(format string, out invalidateOutput) error {
	if format == "json" {
		if out.Invalidations == nil {
			out.Invalidations = []invalidationReport{}
		}
		return writeJSON(a.stdout, out)
	}
	w := bufio.NewWriter(a.stdout)
	if out.DryRun {
		fmt.Fprintln(w, "dry run: nothing created")
	}
	if ip := out.InProgress; ip != nil && (out.DryRun || ip.Capped) {
		// In a dry run always, to show that the budget came from a lookup; otherwise
		// only when what is in progress changed the plan.
		fmt.Fprintln(w, ip.text())
	}
	for _, r := range out.Invalidations {
		id := r.ID
		if id == "" {
			id = "-"
		}
		fmt.Fprintf(w, "%s %s %s %d paths\n", r.Distribution, id, r.Status, len(r.Paths))
		for _, p := range r.Paths {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	return w.Flush()
}

// explain shortens a CloudFront error for people ("NoSuchDistribution: The specified
// distribution does not exist.") and adds what to do about its kind. The SDK's own
// text (operation, status, request id) stays reachable through Unwrap.
func explain(what string, err error) error {
	msg := err.Error()
	var ae smithy.APIError
	if errors.As(err, &ae) {
		msg = ae.ErrorCode()
		if m := ae.ErrorMessage(); m != "" {
			msg += ": " + m
		}
		if ae.ErrorCode() == "EntityNotFound" {
			// The tenant operations' answer for an unknown tenant.
			return &explainedError{msg: what + ": " + msg + " (check the --tenant ID: the CloudFront console lists the tenants of a multi-tenant distribution)", err: err}
		}
	}
	if h := invalidation.Hint(invalidation.Classify(err)); h != "" {
		msg += " (" + h + ")"
	}
	return &explainedError{msg: what + ": " + msg, err: err}
}

type explainedError struct {
	msg string
	err error
}

func (e *explainedError) Error() string { return e.msg }
func (e *explainedError) Unwrap() error { return e.err }

// joinFailures returns nil, the one failure, or one error naming them all on one line.
func joinFailures(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = oneLine(e.Error())
	}
	return fmt.Errorf("%d failures: %s", len(errs), strings.Join(msgs, "; "))
}

// readLineFile reads one item per line from name ("-" for stdin), trimming spaces and
// skipping blank lines and lines starting with '#'.
func (a *app) readLineFile(name string) ([]string, error) {
	lines, err := a.readLines(name, "paths")
	if err != nil {
		return nil, err
	}
	out := lines[:0]
	for _, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out, nil
}

// readLines returns the lines of name ("-" for stdin) without their "\r\n" or "\n";
// what names the content in errors.
func (a *app) readLines(name, what string) ([]string, error) {
	var r io.Reader = a.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", what, err)
		}
		defer f.Close()
		r = f
	}
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		lines = append(lines, strings.TrimSuffix(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", what, name, err)
	}
	return lines, nil
}

func checkOutput(format string) error {
	if format != "text" && format != "json" {
		return usageErrorf("--output must be text or json, not %q", format)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// dedupe removes empty strings and duplicates, keeping the first occurrence's order.
func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	seen := map[string]bool{}
	for _, s := range in {
		if s = strings.TrimSpace(s); s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// randomToken makes every CLI run its own invalidation unless --caller-reference says
// otherwise: a person re-running the command after a new upload wants a new one.
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b)
}
