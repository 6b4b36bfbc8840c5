package cli

// ghreport.go is `edgeflush github-report`, the last step of the GitHub Action at the
// repository root (action.yml): it reads the JSON result of deploy or invalidate
// (--output json) and writes the step outputs ($GITHUB_OUTPUT) and the job summary
// ($GITHUB_STEP_SUMMARY). Doing it here rather than in the action's shell keeps the
// JSON parsing in Go (no jq on self-hosted runners) and under unit tests.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

func init() { register(newGitHubReportCmd) }

// reportListLimit bounds each list in the job summary (GitHub caps a summary at 1 MiB).
const reportListLimit = 200

type ghReportOptions struct {
	command, result, output, summary string
	exitCode                         int
}

func newGitHubReportCmd(a *app) *cobra.Command {
	o := &ghReportOptions{}
	cmd := &cobra.Command{
		Use:   "github-report --command deploy|invalidate --result FILE",
		Short: "Write GitHub Actions step outputs and a job summary from a JSON result (used by action.yml)",
		Long: `Read the JSON result of "edgeflush deploy" or "edgeflush invalidate" (--output json)
and append the step outputs to $GITHUB_OUTPUT (invalidation-ids, invalidations, paths,
uploaded, deleted, unchanged, estimated-cost, dry-run, verify) and a Markdown summary to
$GITHUB_STEP_SUMMARY. The repository's GitHub Action runs it after the command.`,
		Args:        cobra.NoArgs,
		Hidden:      true,
		Annotations: map[string]string{annotationNoConfig: "true"},
		RunE:        func(cmd *cobra.Command, _ []string) error { return a.runGitHubReport(o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.command, "command", "deploy", "the command that wrote the result: deploy or invalidate")
	f.StringVar(&o.result, "result", "", "the JSON result file (empty or missing: the command printed none)")
	f.StringVar(&o.output, "github-output", "", "step output file (default $GITHUB_OUTPUT)")
	f.StringVar(&o.summary, "summary", "", "job summary file (default $GITHUB_STEP_SUMMARY)")
	f.IntVar(&o.exitCode, "exit-code", 0, "the command's exit code, for the summary")
	return cmd
}

// actionResult is the union of deploy's and invalidate's JSON documents (deployOutput,
// invalidateOutput), plus the verify reports of `deploy --verify`.
type actionResult struct {
	DryRun        bool                 `json:"dryRun"`
	Bucket        string               `json:"bucket"`
	Prefix        string               `json:"prefix"`
	Uploads       []deployUpload       `json:"uploads"`
	Deletes       []string             `json:"deletes"`
	Unchanged     int                  `json:"unchanged"`
	Paths         []string             `json:"paths"`
	Collateral    int                  `json:"collateral"`
	EstimatedCost *float64             `json:"estimatedCostUSD"`
	Invalidations []invalidationReport `json:"invalidations"`
	Verify        []verifyResult       `json:"verify"`
}

// verifyResult is what the summary shows of a verify report.
type verifyResult struct {
	Distribution string `json:"distribution"`
	Checked      int    `json:"checked"`
	Fresh        int    `json:"fresh"`
	Stale        []struct {
		Path string `json:"path"`
	} `json:"stale"`
	Errors []json.RawMessage `json:"errors"`
}

func (a *app) runGitHubReport(o *ghReportOptions) error {
	if o.command != "deploy" && o.command != "invalidate" {
		return usageErrorf("--command %q: want deploy or invalidate", o.command)
	}
	if o.output == "" {
		o.output = a.getenv("GITHUB_OUTPUT")
	}
	if o.summary == "" {
		o.summary = a.getenv("GITHUB_STEP_SUMMARY")
	}
	var r actionResult
	have := false
	if o.result != "" {
		data, err := os.ReadFile(o.result)
		if err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("read the result: %w", err)
		}
		if len(strings.TrimSpace(string(data))) > 0 {
			if err := json.Unmarshal(data, &r); err != nil {
				return fmt.Errorf("result %s: not the JSON of edgeflush %s --output json: %w", o.result, o.command, err)
			}
			have = true
		}
	}
	if o.command == "invalidate" && len(r.Paths) == 0 {
		for _, inv := range r.Invalidations {
			r.Paths = append(r.Paths, inv.Paths...)
		}
		r.Paths = dedupe(r.Paths)
	}
	if o.output != "" {
		if err := appendFile(o.output, r.outputs()); err != nil {
			return fmt.Errorf("write the step outputs: %w", err)
		}
	}
	if o.summary != "" {
		if err := appendFile(o.summary, r.summary(o.command, have, o.exitCode)); err != nil {
			return fmt.Errorf("write the job summary: %w", err)
		}
	}
	return nil
}

func appendFile(name, text string) error {
	f, err := os.OpenFile(name, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// estimatedCost is deploy's estimate, or for invalidate the created paths at
// deployPricePerPath each.
func (r *actionResult) estimatedCost() float64 {
	if r.EstimatedCost != nil {
		return *r.EstimatedCost
	}
	n := 0
	for _, inv := range r.Invalidations {
		if inv.Error == "" {
			n += len(inv.Paths)
		}
	}
	return float64(n) * deployPricePerPath
}

// verifyStatus is "passed", "failed" or "" (not asked).
func (r *actionResult) verifyStatus() string {
	if len(r.Verify) == 0 {
		return ""
	}
	for _, v := range r.Verify {
		if len(v.Stale) > 0 || len(v.Errors) > 0 {
			return "failed"
		}
	}
	return "passed"
}

// outputs renders the step outputs in $GITHUB_OUTPUT's format; multi-line values use
// the heredoc form with a random delimiter, as GitHub documents.
func (r *actionResult) outputs() string {
	var ids []string
	type inv struct {
		Distribution string `json:"distribution"`
		ID           string `json:"id,omitempty"`
		Status       string `json:"status"`
	}
	invs := []inv{}
	for _, i := range r.Invalidations {
		if i.ID != "" {
			ids = append(ids, i.ID)
		}
		invs = append(invs, inv{i.Distribution, i.ID, i.Status})
	}
	invJSON, _ := json.Marshal(invs)
	var b strings.Builder
	put := func(name, value string) {
		if !strings.ContainsAny(value, "\r\n") {
			fmt.Fprintf(&b, "%s=%s\n", name, value)
			return
		}
		var d [8]byte
		_, _ = rand.Read(d[:])
		delim := "EDGEFLUSH_" + hex.EncodeToString(d[:])
		fmt.Fprintf(&b, "%s<<%s\n%s\n%s\n", name, delim, value, delim)
	}
	put("invalidation-ids", strings.Join(ids, " "))
	put("invalidations", string(invJSON))
	put("paths", strings.Join(r.Paths, "\n"))
	put("uploaded", strconv.Itoa(len(r.Uploads)))
	put("deleted", strconv.Itoa(len(r.Deletes)))
	put("unchanged", strconv.Itoa(r.Unchanged))
	put("estimated-cost", strconv.FormatFloat(r.estimatedCost(), 'f', 3, 64))
	put("dry-run", strconv.FormatBool(r.DryRun))
	put("verify", r.verifyStatus())
	return b.String()
}

// summary renders the job summary in GitHub-flavoured Markdown. Keys and paths go in
// <pre> blocks, HTML-escaped, so no name can break the table or the page.
func (r *actionResult) summary(command string, have bool, exitCode int) string {
	var b strings.Builder
	title := "edgeflush " + command
	if r.Bucket != "" {
		title += ": s3://" + r.Bucket + "/" + r.Prefix
	}
	if r.DryRun {
		title += " (dry run, nothing written)"
	}
	fmt.Fprintf(&b, "### %s\n\n", html.EscapeString(title))
	if exitCode != 0 {
		fmt.Fprintf(&b, "**Failed** (exit code %d): see the step's log for the one-line reason.\n\n", exitCode)
	}
	if !have {
		b.WriteString("No result was printed.\n\n")
		return b.String()
	}
	b.WriteString("| | |\n|---|---|\n")
	if command == "deploy" {
		verb := ""
		if r.DryRun {
			verb = "would be "
		}
		fmt.Fprintf(&b, "| %suploaded | %d |\n| %sdeleted | %d |\n| unchanged | %d |\n", verb, len(r.Uploads), verb, len(r.Deletes), r.Unchanged)
	}
	if len(r.Paths) > 0 {
		fmt.Fprintf(&b, "| invalidation paths | %d", len(r.Paths))
		if command == "deploy" {
			fmt.Fprintf(&b, " (%d unchanged objects invalidated too)", r.Collateral)
		}
		b.WriteString(" |\n")
		fmt.Fprintf(&b, "| estimated cost | $%.3f (at $%.3f a path beyond the 1,000 free paths a month) |\n", r.estimatedCost(), deployPricePerPath)
	} else {
		b.WriteString("| invalidation paths | none: nothing changed |\n")
	}
	if v := r.verifyStatus(); v != "" {
		fmt.Fprintf(&b, "| verify at the edge | %s |\n", v)
	}
	b.WriteString("\n")
	if len(r.Invalidations) > 0 {
		b.WriteString("| distribution | invalidation | status |\n|---|---|---|\n")
		for _, i := range r.Invalidations {
			status := i.Status
			if i.Error != "" {
				status += ": " + i.Error
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", cell(i.Distribution), cell(i.ID), cell(status))
		}
		b.WriteString("\n")
	}
	for _, v := range r.Verify {
		fmt.Fprintf(&b, "Verify on %s: %d of %d URLs fresh", cell(v.Distribution), v.Fresh, v.Checked)
		if len(v.Stale) > 0 {
			stale := make([]string, len(v.Stale))
			for i, s := range v.Stale {
				stale[i] = s.Path
			}
			fmt.Fprintf(&b, "; stale: %s", html.EscapeString(strings.Join(stale, ", ")))
		}
		if len(v.Errors) > 0 {
			fmt.Fprintf(&b, "; %d could not be checked", len(v.Errors))
		}
		b.WriteString("\n\n")
	}
	list := func(title string, items []string) {
		if len(items) == 0 {
			return
		}
		fmt.Fprintf(&b, "<details><summary>%s (%d)</summary>\n\n<pre>\n", html.EscapeString(title), len(items))
		for i, s := range items {
			if i == reportListLimit {
				fmt.Fprintf(&b, "… and %d more (the step's result JSON has them all)\n", len(items)-i)
				break
			}
			b.WriteString(html.EscapeString(s) + "\n")
		}
		b.WriteString("</pre>\n</details>\n\n")
	}
	list("Planned invalidation paths", r.Paths)
	uploads := make([]string, len(r.Uploads))
	for i, u := range r.Uploads {
		uploads[i] = fmt.Sprintf("%s (%s, %d bytes)", u.Key, u.Reason, u.Size)
	}
	sort.Strings(uploads)
	list("Uploaded", uploads)
	list("Deleted", r.Deletes)
	return b.String()
}

// cell makes a value safe inside a Markdown table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(html.EscapeString(s))
}
