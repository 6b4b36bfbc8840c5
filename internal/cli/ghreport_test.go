package cli

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseGitHubOutput reads $GITHUB_OUTPUT as the runner does: name=value lines and
// name<<DELIM heredocs.
func parseGitHubOutput(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if name, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(name, "=") {
			var val []string
			for sc.Scan() && sc.Text() != delim {
				val = append(val, sc.Text())
			}
			out[name] = strings.Join(val, "\n")
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("GITHUB_OUTPUT line %q is neither name=value nor a heredoc", line)
		}
		out[name] = val
	}
	return out
}

func TestGitHubReport(t *testing.T) {
	dir := t.TempDir()
	result := filepath.Join(dir, "result.json")
	deployJSON := `{"bucket":"site","prefix":"docs/","uploads":[{"key":"docs/a|b <x>.html","reason":"content","size":12}],
"deletes":["docs/old.css"],"unchanged":7,"writes":3,"paths":["/docs/a%7Cb%20%3Cx%3E.html","/docs/old.css"],"collateral":0,
"estimatedCostUSD":0.01,"invalidations":[{"distribution":"E1","id":"I1","status":"Completed"},{"distribution":"E2","status":"Failed","error":"AccessDenied"}],
"verify":[{"distribution":"E1","checked":2,"fresh":1,"stale":[{"path":"/docs/old.css"}],"errors":[]}]}`
	if err := os.WriteFile(result, []byte(deployJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	out, sum := filepath.Join(dir, "output"), filepath.Join(dir, "summary")
	a := newApp(nil, io.Discard, io.Discard)
	a.getenv = func(k string) string {
		return map[string]string{"GITHUB_OUTPUT": out, "GITHUB_STEP_SUMMARY": sum}[k]
	}
	if code := run(context.Background(), a, []string{"github-report", "--command", "deploy", "--result", result, "--exit-code", "1"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	got := parseGitHubOutput(t, out)
	want := map[string]string{
		"invalidation-ids": "I1",
		"invalidations":    `[{"distribution":"E1","id":"I1","status":"Completed"},{"distribution":"E2","status":"Failed"}]`,
		"paths":            "/docs/a%7Cb%20%3Cx%3E.html\n/docs/old.css",
		"uploaded":         "1", "deleted": "1", "unchanged": "7",
		"estimated-cost": "0.010", "dry-run": "false", "verify": "failed",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("output %s = %q, want %q", k, got[k], v)
		}
	}
	s, _ := os.ReadFile(sum)
	for _, frag := range []string{
		"### edgeflush deploy: s3://site/docs/", "**Failed** (exit code 1)", "| uploaded | 1 |", "| deleted | 1 |",
		"| invalidation paths | 2 (0 unchanged objects invalidated too) |", "| estimated cost | $0.010",
		"| verify at the edge | failed |", "| E2 |  | Failed: AccessDenied |", "Verify on E1: 1 of 2 URLs fresh; stale: /docs/old.css",
		"docs/a|b &lt;x&gt;.html (content, 12 bytes)", "<summary>Planned invalidation paths (2)</summary>",
	} {
		if !strings.Contains(string(s), frag) {
			t.Errorf("summary lacks %q:\n%s", frag, s)
		}
	}

	// invalidate's document: paths come from the invalidations, cost from their count.
	os.Remove(out)
	invJSON := `{"invalidations":[{"distribution":"E1","id":"I9","status":"InProgress","paths":["/a","/b"]},{"distribution":"E2","id":"I8","status":"InProgress","paths":["/a","/b"]}]}`
	if err := os.WriteFile(result, []byte(invJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run(context.Background(), a, []string{"github-report", "--command", "invalidate", "--result", result}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	got = parseGitHubOutput(t, out)
	if got["invalidation-ids"] != "I9 I8" || got["paths"] != "/a\n/b" || got["estimated-cost"] != "0.020" || got["verify"] != "" {
		t.Errorf("invalidate outputs: %v", got)
	}

	// No result (the command failed before printing): the summary says so, outputs are empty.
	os.Remove(out)
	if code := run(context.Background(), a, []string{"github-report", "--command", "deploy", "--result", filepath.Join(dir, "none.json"), "--exit-code", "1"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if got = parseGitHubOutput(t, out); got["uploaded"] != "0" || got["invalidation-ids"] != "" {
		t.Errorf("outputs without a result: %v", got)
	}
	if s, _ := os.ReadFile(sum); !strings.Contains(string(s), "No result was printed.") {
		t.Errorf("summary without a result:\n%s", s)
	}

	if code := run(context.Background(), a, []string{"github-report", "--command", "plan"}); code != exitUsage {
		t.Errorf("--command plan: exit %d, want %d", code, exitUsage)
	}
}
