package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// planConfig is the config file runPlanCLI passes with --config.
var planConfig = "{}\n"

// runPlanCLI runs `edgeflush plan` with files holding all and changed, isolated from
// the environment, and returns the exit code, stdout and stderr.
func runPlanCLI(t *testing.T, all, changed string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	dir := t.TempDir()
	allPath, changedPath := filepath.Join(dir, "all.txt"), filepath.Join(dir, "changed.txt")
	if err := os.WriteFile(allPath, []byte(all), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(changedPath, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	full := []string{"plan", "--config", filepath.Join(dir, "none.yaml")}
	for _, a := range args {
		a = strings.ReplaceAll(a, "$ALL", allPath)
		a = strings.ReplaceAll(a, "$CHANGED", changedPath)
		full = append(full, a)
	}
	if err := os.WriteFile(filepath.Join(dir, "none.yaml"), []byte(planConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	a := newApp(strings.NewReader(stdin), &out, &errb)
	a.getenv = func(string) string { return "" }
	code := run(context.Background(), a, full)
	return code, out.String(), errb.String()
}

const planSite = `/index.html
docs/a/one.html
docs/a/two.html
docs/b/one.html
docs/b/two.html
docs/b/index.html

docs/a b.html
docs/100%.html
`

func TestPlanText(t *testing.T) {
	code, out, errOut := runPlanCLI(t, planSite, "docs/a/one.html\r\n/docs/a/two.html\n\ndocs/b/one.html\n", "",
		"--all", "$ALL", "--changed", "$CHANGED", "--max-paths", "2", "--max-wildcards", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "/docs/a/*\n/docs/b/one.html\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
}

func TestPlanJSON(t *testing.T) {
	code, out, errOut := runPlanCLI(t, planSite, "docs/a b.html\ndocs/100%.html\ndocs/b/index.html\n", "",
		"--all", "$ALL", "--changed", "$CHANGED", "--max-paths", "3", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got planOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	// Four URLs to cover (the index page is also cached as /docs/b/) with three
	// paths: one wildcard must cover two of them; /docs/b/* touches two unchanged
	// objects, /docs/* four. Exact paths come out URL-encoded.
	want := []string{"/docs/100%25.html", "/docs/a%20b.html", "/docs/b/*"}
	if !slices.Equal(got.Paths, want) || got.Collateral != 2 || got.Wildcards != 1 ||
		got.BilledPaths != 3 || got.ChangedKeys != 3 || got.ChangedURLs != 4 ||
		got.EstimatedCostUSD != 0.015 || got.CostAssumption == "" {
		t.Errorf("got %+v, want paths %q collateral 2, 3 billed paths costing 0.015", got, want)
	}
}

func TestPlanStdinAndNoWildcards(t *testing.T) {
	code, out, errOut := runPlanCLI(t, planSite, "", "docs/a/one.html\ndocs/a/two.html\n",
		"--all", "$ALL", "--changed", "-", "--max-wildcards", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "/docs/a/one.html\n/docs/a/two.html\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
}

func TestPlanErrors(t *testing.T) {
	for _, c := range []struct {
		name    string
		changed string
		args    []string
		code    int
		msg     string
	}{
		{"missing changed", "a", []string{"--all", "$ALL"}, 2, "--all and --changed are both required"},
		{"bad output", "a", []string{"--all", "$ALL", "--changed", "$CHANGED", "--output", "xml"}, 2, "--output must be text or json"},
		{"bad max paths", "a", []string{"--all", "$ALL", "--changed", "$CHANGED", "--max-paths", "0"}, 2, "--max-paths must be at least 1"},
		{"bad max wildcards", "a", []string{"--all", "$ALL", "--changed", "$CHANGED", "--max-wildcards", "-2"}, 2, "--max-wildcards must be at least 0"},
		{"no wildcards (-1)", "docs/a/one.html\ndocs/a/two.html\n", []string{"--all", "$ALL", "--changed", "$CHANGED", "--max-paths", "1", "--max-wildcards", "-1"}, 2, "no plan fits the budget"},
		{"infeasible", "docs/a/one.html\ndocs/a/two.html\n", []string{"--all", "$ALL", "--changed", "$CHANGED", "--max-paths", "1", "--max-wildcards", "0"}, 2, "no plan fits the budget"},
		{"missing file", "a", []string{"--all", "/nonexistent/all.txt", "--changed", "$CHANGED"}, 1, "read keys"},
		{"bad key", "a\xffb\n", []string{"--all", "$ALL", "--changed", "$CHANGED"}, 1, "not valid UTF-8"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runPlanCLI(t, planSite, c.changed, "", c.args...)
			if code != c.code || !strings.HasPrefix(errOut, "edgeflush: ") || !strings.Contains(errOut, c.msg) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("exit %d, stderr %q (stdout %q); want exit %d and one line with %q", code, errOut, out, c.code, c.msg)
			}
		})
	}
}

func TestPlanBudgetFromConfigFile(t *testing.T) {
	planConfig = "max-paths: 1\nmax-wildcards: 1\n"
	defer func() { planConfig = "{}\n" }()
	code, out, errOut := runPlanCLI(t, planSite, "docs/a/one.html\ndocs/b/one.html\n", "", "--all", "$ALL", "--changed", "$CHANGED")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "/docs/*\n"; out != want {
		t.Errorf("stdout %q, want %q (max-paths 1 from the config file)", out, want)
	}
	// A flag beats the config file.
	code, out, errOut = runPlanCLI(t, planSite, "docs/a/one.html\ndocs/b/one.html\n", "", "--all", "$ALL", "--changed", "$CHANGED", "--max-paths", "2")
	if code != 0 || out != "/docs/a/one.html\n/docs/b/one.html\n" {
		t.Errorf("exit %d, stdout %q, stderr %q; want the two exact paths", code, out, errOut)
	}
}

// Every command that plans declares the planner's flags through planFlags: the same
// names, defaults and types, so a config key or EDGEFLUSH_* variable means the same to
// each of them.
func TestPlanFlagsShared(t *testing.T) {
	root := newRootCmd(newApp(nil, io.Discard, io.Discard))
	names := []string{"max-paths", "max-wildcards", "index-document", "dir-without-slash"}
	for _, name := range names {
		var first *pflag.Flag
		for _, cmdName := range []string{"plan", "invalidate", "deploy"} {
			cmd, _, err := root.Find([]string{cmdName})
			if err != nil {
				t.Fatal(err)
			}
			f := cmd.Flags().Lookup(name)
			if f == nil {
				t.Errorf("%s has no --%s", cmdName, name)
				continue
			}
			if first == nil {
				first = f
				continue
			}
			if f.DefValue != first.DefValue || f.Value.Type() != first.Value.Type() {
				t.Errorf("%s --%s: default %q (%s), want %q (%s) as the others", cmdName, name, f.DefValue, f.Value.Type(), first.DefValue, first.Value.Type())
			}
		}
	}
}
