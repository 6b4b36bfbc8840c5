package cli

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/edgeflush/edgeflush/internal/planner"
)

func init() { register(newPlanCmd) }

// planPricePerPath is CloudFront's price of one invalidation path past the free tier.
const planPricePerPath = 0.005

// planCostAssumption says how estimatedCostUSD is computed.
const planCostAssumption = "USD 0.005 per path (a wildcard counts as one path), assuming the account's 1,000 free paths of the month are used up"

type planOptions struct {
	allFile, changedFile string
	output               string
	planFlags
}

func newPlanCmd(a *app) *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan --all FILE --changed FILE [--max-paths K] [--max-wildcards W] [--output text|json]",
		Short: "Print the optimal invalidation paths for a change set",
		Long: `Plan the CloudFront invalidation paths for a change set: at most --max-paths paths,
of which at most --max-wildcards wildcards ("/prefix*"), that cover every URL of every
changed object and invalidate the fewest unchanged objects (the exact optimum; ties
go to fewer paths, then fewer wildcards).

--all holds every S3 key of the site after the deploy, --changed the keys added,
modified or deleted (deleted keys need not be in --all). One key per line, as the
object is named (not URL-encoded); a leading '/' is tolerated and blank lines are
ignored. "-" reads one of the files from stdin.

An index document "dir/index.html" is cached as "/dir/index.html" and "/dir/" (and
"/dir" with --dir-without-slash); "index.html" at the root also as "/". Both URLs of a
changed index page are covered.

Text output: the paths, one per line, URL-encoded as CloudFront expects. JSON adds the
number of unchanged objects invalidated (collateral), the billed path count and the
estimated cost (` + planCostAssumption + `).`,
		Example: `  edgeflush plan --all all.txt --changed changed.txt
  edgeflush plan --all all.txt --changed changed.txt --max-paths 8 --max-wildcards 8 --output json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runPlan(o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.allFile, "all", "", `file with every S3 key of the site, one per line ("-": stdin)`)
	f.StringVar(&o.changedFile, "changed", "", `file with the changed (and deleted) S3 keys, one per line ("-": stdin)`)
	o.planFlags.register(f, "")
	f.StringVar(&o.output, "output", "text", "output format: text or json")
	return cmd
}

// planOutput is the JSON document of `edgeflush plan`.
type planOutput struct {
	Paths            []string `json:"paths"`
	Wildcards        int      `json:"wildcards"`
	ChangedKeys      int      `json:"changedKeys"`
	ChangedURLs      int      `json:"changedUrls"`
	Collateral       int      `json:"collateral"`
	BilledPaths      int      `json:"billedPaths"`
	EstimatedCostUSD float64  `json:"estimatedCostUSD"`
	CostAssumption   string   `json:"costAssumption"`
	MaxPaths         int      `json:"maxPaths"`
	MaxWildcards     int      `json:"maxWildcards"`
}

func (a *app) runPlan(o *planOptions) error {
	if o.output != "text" && o.output != "json" {
		return usageErrorf("--output must be text or json, not %q", o.output)
	}
	switch {
	case o.allFile == "" || o.changedFile == "":
		return usageErrorf("--all and --changed are both required: every key of the site and the changed keys, one per line")
	case o.allFile == "-" && o.changedFile == "-":
		return usageErrorf("only one of --all and --changed can read stdin")
	}
	if err := o.planFlags.check(false); err != nil {
		return err
	}
	all, err := a.readKeyFile(o.allFile)
	if err != nil {
		return err
	}
	changed, err := a.readKeyFile(o.changedFile)
	if err != nil {
		return err
	}
	res, err := planner.Plan(o.planFlags.input(all, changed))
	if err != nil {
		var ie *planner.InputError
		if errors.As(err, &ie) {
			return fmt.Errorf("plan: %w", err)
		}
		if errors.Is(err, planner.ErrInfeasible) {
			return usageErrorf("plan: %v; raise --max-paths or allow wildcards", err)
		}
		return fmt.Errorf("plan: %w", err)
	}
	if o.output == "json" {
		return writePlanJSON(a.stdout, planOutput{
			Paths: res.Paths, Wildcards: res.Wildcards,
			ChangedKeys: countDistinctKeys(changed), ChangedURLs: res.ChangedURLs,
			Collateral: res.Collateral, BilledPaths: len(res.Paths),
			EstimatedCostUSD: float64(len(res.Paths)) * planPricePerPath, CostAssumption: planCostAssumption,
			MaxPaths: o.maxPaths, MaxWildcards: o.reportedWildcards(),
		})
	}
	w := bufio.NewWriter(a.stdout)
	for _, p := range res.Paths {
		fmt.Fprintln(w, p)
	}
	return w.Flush()
}

func countDistinctKeys(keys []string) int {
	seen := make(map[string]bool, len(keys))
	for _, k := range keys {
		seen[strings.TrimPrefix(k, "/")] = true
	}
	return len(seen)
}

// readKeyFile reads S3 keys, one per line, from name ("-": stdin). Keys are kept
// verbatim (spaces, '#' and '%' are legal in keys); only a trailing "\r" is dropped and
// blank lines are skipped.
func (a *app) readKeyFile(name string) ([]string, error) {
	lines, err := a.readLines(name, "keys")
	if err != nil {
		return nil, err
	}
	keys := lines[:0]
	for _, line := range lines {
		if strings.TrimSpace(line) != "" {
			keys = append(keys, line)
		}
	}
	return keys, nil
}

func writePlanJSON(w io.Writer, v planOutput) error {
	if v.Paths == nil {
		v.Paths = []string{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
