package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// result is what one Main call produced.
type result struct {
	code           int
	stdout, stderr string
}

// edgeflush runs Main with args and stdin, in the current process environment.
func edgeflush(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, strings.NewReader(stdin), &out, &errb)
	return result{code, out.String(), errb.String()}
}

// useMoto points the SDK's default configuration (what Main uses) at the shared moto,
// optionally with CloudFront going through a realism proxy at cfURL.
func useMoto(t *testing.T, cfURL string) *testkit.Moto {
	t.Helper()
	m := moto(t)
	for _, kv := range m.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	// Never read the developer's own AWS files.
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	if cfURL != "" {
		t.Setenv("AWS_ENDPOINT_URL_CLOUDFRONT", cfURL)
	}
	t.Chdir(t.TempDir()) // no stray .edgeflush.yaml
	return m
}

func listInvalidations(t *testing.T, endpoint, dist string) int {
	t.Helper()
	n, err := countInvalidations(endpoint, dist)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// wantFailure checks the exit code and that stderr is exactly one "edgeflush: " line
// containing every part of want.
func wantFailure(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit code %d, want %d; stdout %q stderr %q", r.code, code, r.stdout, r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "edgeflush: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one 'edgeflush: ' line: %q", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not mention %q", r.stderr, w)
		}
	}
}

func decode(t *testing.T, s string) invalidateOutput {
	t.Helper()
	var out invalidateOutput
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, s)
	}
	return out
}

func TestInvalidateJSONAndWait(t *testing.T) {
	m := useMoto(t, "")
	d1 := testkit.CreateDistribution(t, m.URL)
	d2 := testkit.CreateDistribution(t, m.URL)

	r := edgeflush(t, "", "invalidate", "--distribution", d1+","+d2, "--path", "/les-misérables.webp",
		"--path", "/a b.html", "--path", "/docs/*", "--path", "/a b.html", "--wait", "--poll-interval", "10ms", "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if r.stderr != "" {
		t.Errorf("stderr on success: %q", r.stderr)
	}
	out := decode(t, r.stdout)
	if len(out.Invalidations) != 2 || out.DryRun {
		t.Fatalf("want 2 invalidations, got %+v", out)
	}
	wantPaths := "/les-mis%C3%A9rables.webp /a%20b.html /docs/*"
	for i, inv := range out.Invalidations {
		if inv.Distribution != []string{d1, d2}[i] || inv.ID == "" || inv.CreateTime == nil {
			t.Errorf("invalidation %d = %+v", i, inv)
		}
		if !(invalidation.Invalidation{Status: inv.Status}).Completed() {
			t.Errorf("status %q after --wait", inv.Status)
		}
		if got := strings.Join(inv.Paths, " "); got != wantPaths {
			t.Errorf("paths %q, want %q", got, wantPaths)
		}
	}
	for _, d := range []string{d1, d2} {
		if n := listInvalidations(t, m.URL, d); n != 1 {
			t.Errorf("%s has %d invalidations, want 1", d, n)
		}
	}
}

func TestInvalidateTextDefaultsToEverything(t *testing.T) {
	m := useMoto(t, "")
	d := testkit.CreateDistribution(t, m.URL)
	r := edgeflush(t, "", "invalidate", "--distribution", d)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	fields := strings.Fields(lines[0])
	if len(lines) != 2 || len(fields) != 5 || fields[0] != d || fields[3]+" "+fields[4] != "1 paths" || lines[1] != "  /*" {
		t.Errorf("text output:\n%s", r.stdout)
	}
}

func TestInvalidateUnknownDistribution(t *testing.T) {
	useMoto(t, "")
	r := edgeflush(t, "", "invalidate", "--distribution", "ENOSUCHDIST", "--path", "/index.html")
	wantFailure(t, r, 1, "ENOSUCHDIST", "NoSuchDistribution", "check the distribution id")
}

func TestInvalidateDryRunCreatesNothing(t *testing.T) {
	m := useMoto(t, "")
	d := testkit.CreateDistribution(t, m.URL)
	r := edgeflush(t, "/from-stdin.html\n\n# comment\n/b c/*\n", "invalidate", "--distribution", d,
		"--path", "/index.html", "--paths-from", "-", "--dry-run", "--output", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	out := decode(t, r.stdout)
	if !out.DryRun || len(out.Invalidations) != 1 || out.Invalidations[0].ID != "" {
		t.Fatalf("dry run output %+v", out)
	}
	if got := strings.Join(out.Invalidations[0].Paths, " "); got != "/index.html /from-stdin.html /b%20c/*" {
		t.Errorf("paths %q", got)
	}
	if n := listInvalidations(t, m.URL, d); n != 0 {
		t.Errorf("dry run created %d invalidations", n)
	}
}

func TestInvalidateBadPathSendsNothing(t *testing.T) {
	m := useMoto(t, "")
	d := testkit.CreateDistribution(t, m.URL)
	r := edgeflush(t, "", "invalidate", "--distribution", d, "--path", "/ok.html", "--path", "/a*/b")
	wantFailure(t, r, 2, `"/a*/b"`, "last character")
	if n := listInvalidations(t, m.URL, d); n != 0 {
		t.Errorf("a bad path still created %d invalidations", n)
	}
}

func TestInvalidateTooManyPathsSendsNothing(t *testing.T) {
	m := useMoto(t, "")
	d := testkit.CreateDistribution(t, m.URL)
	var b strings.Builder
	for i := 0; i < 16; i++ {
		fmt.Fprintf(&b, "/dir%d/*\n", i)
	}
	r := edgeflush(t, b.String(), "invalidate", "--distribution", d, "--paths-from", "-")
	wantFailure(t, r, 2, "16 wildcard paths", "at most 3000 exact and 15 wildcard")
	if n := listInvalidations(t, m.URL, d); n != 0 {
		t.Errorf("an impossible batch still created %d invalidations", n)
	}
}

func TestInvalidateEmptyPathsFileDoesNothing(t *testing.T) {
	m := useMoto(t, "")
	d := testkit.CreateDistribution(t, m.URL)
	r := edgeflush(t, "\n# nothing changed\n", "invalidate", "--distribution", d, "--paths-from", "-")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to invalidate") {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
	if n := listInvalidations(t, m.URL, d); n != 0 {
		t.Errorf("an empty path list created %d invalidations", n)
	}
}

func TestInvalidateCallerReferenceIsIdempotent(t *testing.T) {
	m := useMoto(t, "")
	cf := testkit.StartCloudFront(t, m.URL, testkit.CloudFrontOptions{})
	t.Setenv("AWS_ENDPOINT_URL_CLOUDFRONT", cf.URL)
	d := testkit.CreateDistribution(t, cf.URL)
	var ids []string
	for i := 0; i < 2; i++ {
		r := edgeflush(t, "", "invalidate", "--distribution", d, "--path", "/x", "--caller-reference", "build-42", "--output", "json")
		if r.code != 0 {
			t.Fatalf("run %d: exit %d: %s", i, r.code, r.stderr)
		}
		ids = append(ids, decode(t, r.stdout).Invalidations[0].ID)
	}
	if ids[0] != ids[1] {
		t.Errorf("same --caller-reference created two invalidations: %v", ids)
	}
	// Without it every run is a new invalidation.
	if r := edgeflush(t, "", "invalidate", "--distribution", d, "--path", "/x"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	if n := cf.Creations(d); n != 2 {
		t.Errorf("moto holds %d invalidations, want 2", n)
	}
}

func TestInvalidateWaitTimeout(t *testing.T) {
	m := useMoto(t, "")
	cf := testkit.StartCloudFront(t, m.URL, testkit.CloudFrontOptions{CompleteAfter: time.Hour})
	t.Setenv("AWS_ENDPOINT_URL_CLOUDFRONT", cf.URL)
	d := testkit.CreateDistribution(t, cf.URL)
	r := edgeflush(t, "", "invalidate", "--distribution", d, "--wait", "--timeout", "200ms", "--poll-interval", "20ms", "--output", "json")
	wantFailure(t, r, 1, "still InProgress after 200ms", "edgeflush wait --distribution "+d)
	out := decode(t, r.stdout)
	if len(out.Invalidations) != 1 || out.Invalidations[0].Status != "InProgress" || out.Invalidations[0].ID == "" {
		t.Errorf("output after timeout: %+v", out)
	}
}

func TestWaitUntilCompleted(t *testing.T) {
	m := useMoto(t, "")
	cf := testkit.StartCloudFront(t, m.URL, testkit.CloudFrontOptions{CompleteAfter: 300 * time.Millisecond})
	t.Setenv("AWS_ENDPOINT_URL_CLOUDFRONT", cf.URL)
	d := testkit.CreateDistribution(t, cf.URL)
	cfg, err := testkit.SDKConfig(context.Background(), cf.URL)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := invalidation.Create(context.Background(), cloudfront.NewFromConfig(cfg), d, []string{"/a"}, "ref-1")
	if err != nil {
		t.Fatal(err)
	}
	if inv.Completed() {
		t.Fatal("proxy completed at once; the test would not test waiting")
	}
	r := edgeflush(t, "", "wait", "--distribution", d, "--id", inv.ID, "--poll-interval", "20ms")
	returned := time.Now()
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// Judged against the proxy's own completion time rather than a duration measured
	// from here (on a busy machine the creation can be long before this line).
	if invs := cf.Invalidations(d); len(invs) != 1 || returned.Before(invs[0].CompleteAt) {
		t.Errorf("wait returned before the invalidation completed")
	}
	if want := d + " " + inv.ID + " Completed 1 paths\n  /a\n"; r.stdout != want {
		t.Errorf("stdout %q, want %q", r.stdout, want)
	}
	if n := cf.Requests(testkit.OpGetInvalidation); n < 3 {
		t.Errorf("only %d GetInvalidation calls", n)
	}

	r = edgeflush(t, "", "wait", "--distribution", d, "--id", "INOSUCH", "--poll-interval", "20ms")
	wantFailure(t, r, 1, "INOSUCH")
}

func TestUsageErrors(t *testing.T) {
	useMoto(t, "")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"invalidate"}, "no distribution"},
		{[]string{"invalidate", "--distribution", "E1", "--output", "yaml"}, "--output must be text or json"},
		{[]string{"invalidate", "--distribution", "E1", "--nope"}, "unknown flag: --nope"},
		{[]string{"invalidate", "--distribution", "E1", "extra"}, "unknown command"},
		{[]string{"invalidate", "--distribution", "E1", "--changed", "c.txt"}, "--changed and --all go together"},
		{[]string{"invalidate", "--distribution", "E1", "--path", "index.html"}, `write "/index.html"`},
		{[]string{"wait", "--distribution", "E1"}, "--id"},
		{[]string{"wait", "--distribution", "E1,E2", "--id", "I1"}, "one --distribution"},
		{[]string{"invalidate", "--distribution", "E1", "--changed", "-", "--all", "-"}, "only one of --paths-from, --changed and --all can read stdin"},
		{[]string{"invalidate", "--distribution", "E1", "--changed", "c", "--all", "a", "--max-paths", "0"}, "--max-paths must be at least 1"},
		{[]string{"nosuchcommand"}, "unknown command"},
		{[]string{"verify", "--bucket", "b", "--all"}, "give --distribution"},
		{[]string{"verify", "--distribution", "E1", "--all"}, "give --bucket"},
		{[]string{"verify", "--distribution", "E1", "--bucket", "b"}, "give --path P, --paths-from FILE or --all"},
		{[]string{"verify", "--distribution", "E1", "--bucket", "b", "--all", "--path", "/a"}, "either --all or --path"},
		{[]string{"verify", "--distribution", "E1", "--bucket", "b", "--all", "--concurrency", "0"}, "--concurrency 0"},
		{[]string{"verify", "--distribution", "E1", "--bucket", "b", "--paths-from", "missing.txt"}, "missing.txt"},
		{[]string{"invalidate", "--distribution", "E1", "--timeout", "soon"}, "invalid argument"},
	}
	for _, tt := range tests {
		r := edgeflush(t, "", tt.args...)
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) { wantFailure(t, r, 2, tt.want) })
	}
}

func TestVersion(t *testing.T) {
	r := edgeflush(t, "", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "edgeflush ") {
		t.Fatalf("version: %+v", r)
	}
	oldVersion, oldCommit := version, commit
	version = "v9.8.7"
	t.Cleanup(func() { version, commit = oldVersion, oldCommit })
	platform := " " + runtime.GOOS + "/" + runtime.GOARCH + " " + runtime.Version() + "\n"
	if r := edgeflush(t, "", "version"); r.stdout != "edgeflush v9.8.7"+platform {
		t.Errorf("with -X version: %q", r.stdout)
	}
	commit = "0123456789abcdef"
	if r := edgeflush(t, "", "version"); r.stdout != "edgeflush v9.8.7 (commit 0123456789abcdef)"+platform {
		t.Errorf("with -X version and -X commit: %q", r.stdout)
	}
}

// dryRunPaths runs an invalidate dry run and returns distribution -> paths.
func dryRun(t *testing.T, args ...string) (map[string][]string, result) {
	t.Helper()
	r := edgeflush(t, "", append([]string{"invalidate", "--dry-run", "--output", "json"}, args...)...)
	if r.code != 0 {
		return nil, r
	}
	got := map[string][]string{}
	for _, inv := range decode(t, r.stdout).Invalidations {
		got[inv.Distribution] = inv.Paths
	}
	return got, r
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestConfigPrecedence(t *testing.T) {
	useMoto(t, "") // also moves to an empty directory
	writeFile(t, ".edgeflush.yaml", `
distribution: [EFILE1, EFILE2]
path: /from-file
max-paths: 30
rules:
  - match: "**/*.html"
    headers: {Cache-Control: no-cache}
`)
	// The config file alone; a YAML list feeds a list flag, a scalar one item.
	got, r := dryRun(t)
	if r.code != 0 || len(got) != 2 || strings.Join(got["EFILE1"], ",") != "/from-file" {
		t.Fatalf("file only: %v %+v", got, r)
	}
	// The environment beats the file; comma-separated lists.
	t.Setenv("EDGEFLUSH_DISTRIBUTION", "EENV1, EENV2")
	t.Setenv("EDGEFLUSH_PATH", "/env-a,/env b")
	got, r = dryRun(t)
	if r.code != 0 || len(got) != 2 || strings.Join(got["EENV2"], ",") != "/env-a,/env%20b" {
		t.Fatalf("env: %v %+v", got, r)
	}
	// A flag beats both.
	got, r = dryRun(t, "--distribution", "EFLAG", "--path", "/flag")
	if r.code != 0 || len(got) != 1 || strings.Join(got["EFLAG"], ",") != "/flag" {
		t.Fatalf("flag: %v %+v", got, r)
	}
	// An empty variable counts as unset.
	t.Setenv("EDGEFLUSH_DISTRIBUTION", "")
	got, r = dryRun(t)
	if r.code != 0 || got["EFILE2"] == nil {
		t.Fatalf("empty env: %v %+v", got, r)
	}
}

func TestConfigFileSelection(t *testing.T) {
	useMoto(t, "")
	writeFile(t, "other.yaml", "distribution: EOTHER\n")
	writeFile(t, ".edgeflush.yaml", "distribution: EDEFAULT\n")
	got, _ := dryRun(t, "--config", "other.yaml")
	if got["EOTHER"] == nil {
		t.Errorf("--config other.yaml: %v", got)
	}
	t.Setenv("EDGEFLUSH_CONFIG", "other.yaml")
	got, _ = dryRun(t)
	if got["EOTHER"] == nil {
		t.Errorf("EDGEFLUSH_CONFIG=other.yaml: %v", got)
	}
	t.Setenv("EDGEFLUSH_CONFIG", "")
	got, _ = dryRun(t)
	if got["EDEFAULT"] == nil {
		t.Errorf("default .edgeflush.yaml: %v", got)
	}
	_, r := dryRun(t, "--config", "missing.yaml")
	wantFailure(t, r, 2, "missing.yaml")
}

func TestConfigErrors(t *testing.T) {
	useMoto(t, "")
	tests := []struct{ file, want string }{
		{"distribution: [E1]\ndistributon: E2\n", `unknown key(s) distributon`},
		{"distribution: [E1]\ntimeout: soon\n", `key "timeout"`},
		{"distribution: [E1]\nwait: [true]\n", "want a single value"},
		{"distribution: [E1\n", ".edgeflush.yaml"},
	}
	for _, tt := range tests {
		writeFile(t, ".edgeflush.yaml", tt.file)
		_, r := dryRun(t)
		wantFailure(t, r, 2, tt.want)
	}
	// A bad environment value names the variable.
	writeFile(t, ".edgeflush.yaml", "distribution: [E1]\n")
	t.Setenv("EDGEFLUSH_WAIT", "maybe")
	_, r := dryRun(t)
	wantFailure(t, r, 2, "EDGEFLUSH_WAIT")
	// version ignores the config file entirely.
	writeFile(t, ".edgeflush.yaml", "bogus: 1\n")
	for _, args := range [][]string{{"version"}, {"help"}, {"help", "invalidate"}, {"invalidate", "--help"}} {
		if r := edgeflush(t, "", args...); r.code != 0 {
			t.Errorf("%q with a broken config: %+v", args, r)
		}
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{"max-paths": "EDGEFLUSH_MAX_PATHS", "region": "EDGEFLUSH_REGION", "role-arn": "EDGEFLUSH_ROLE_ARN"} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine("a\nb\r\n c \n"); got != "a; b; c" {
		t.Errorf("oneLine = %q", got)
	}
}

func TestRoleARNAssumesRoleForCloudFront(t *testing.T) {
	m := useMoto(t, "")
	// Count the STS calls on their way to moto.
	var mu sync.Mutex
	var stsBodies []string
	target, _ := url.Parse(m.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	sts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		stsBodies = append(stsBodies, string(body))
		mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r)
	}))
	defer sts.Close()
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)

	d := testkit.CreateDistribution(t, m.URL)
	r := edgeflush(t, "", "invalidate", "--distribution", d, "--role-arn", "arn:aws:iam::123456789012:role/site-invalidator", "--external-id", "ext-42")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(stsBodies) != 1 || !strings.Contains(stsBodies[0], "Action=AssumeRole") ||
		!strings.Contains(stsBodies[0], "site-invalidator") || !strings.Contains(stsBodies[0], "ExternalId=ext-42") {
		t.Errorf("STS calls: %q, want one AssumeRole of the role with the external id", stsBodies)
	}
	if n := listInvalidations(t, m.URL, d); n != 1 {
		t.Errorf("%d invalidations, want 1", n)
	}
}

func TestGlobalFlagsFromEnvAndConfig(t *testing.T) {
	t.Chdir(t.TempDir())
	writeFile(t, ".edgeflush.yaml", "region: eu-west-3\nrole-arn: arn:aws:iam::111122223333:role/from-file\n")
	var out, errb bytes.Buffer
	a := newApp(strings.NewReader(""), &out, &errb)
	env := map[string]string{"EDGEFLUSH_EXTERNAL_ID": "ext-env", "EDGEFLUSH_REGION": "ap-northeast-1"}
	a.getenv = func(k string) string { return env[k] }
	var seen []string
	a.awsConfig = func(context.Context) (aws.Config, error) {
		seen = []string{a.region, a.roleARN, a.externalID}
		return aws.Config{}, errors.New("stop here")
	}
	code := run(context.Background(), a, []string{"invalidate", "--distribution", "E1"})
	if code != 1 || !strings.Contains(errb.String(), "stop here") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	want := []string{"ap-northeast-1", "arn:aws:iam::111122223333:role/from-file", "ext-env"}
	if strings.Join(seen, " ") != strings.Join(want, " ") {
		t.Errorf("region, role, external id = %q, want %q", seen, want)
	}
}

// TestSharedFlagNamesAgree guards the one config file and the EDGEFLUSH_* variables that
// every command reads: a flag name used by several commands must take the same kind of
// value in each, or one command's setting breaks another command. A flag that differs
// must be read from the command line alone.
func TestSharedFlagNamesAgree(t *testing.T) {
	root := newRootCmd(newApp(strings.NewReader(""), io.Discard, io.Discard))
	type seen struct{ typ, cmd string }
	first := map[string]seen{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if f.Annotations[annotationCommandLineOnly] != nil {
				return
			}
			typ := f.Value.Type()
			if s, ok := first[f.Name]; ok && s.typ != typ {
				t.Errorf("--%s is a %s in %q but a %s in %q: one config key cannot serve both (mark one commandLineOnly or rename it)",
					f.Name, s.typ, s.cmd, typ, c.CommandPath())
				return
			}
			first[f.Name] = seen{typ, c.CommandPath()}
		})
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}

func TestCommandLineOnlyFlagIgnoresConfig(t *testing.T) {
	useMoto(t, "")
	// all: names invalidate's keys file; verify must not read it as its --all switch.
	writeFile(t, ".edgeflush.yaml", "all: keys.txt\n")
	t.Setenv("EDGEFLUSH_ALL", "keys.txt")
	r := edgeflush(t, "", "verify", "--distribution", "E1", "--bucket", "b")
	if strings.Contains(r.stderr, "all") && strings.Contains(r.stderr, "keys.txt") {
		t.Fatalf("verify read invalidate's all setting: %+v", r)
	}
	wantFailure(t, r, 2, "--path")
}
