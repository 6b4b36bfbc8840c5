package ghaction

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.yaml.in/yaml/v3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/cli"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

const testVersion = "v0.0.0-actiontest"

var moto *testkit.Moto

func TestMain(m *testing.M) {
	code := func() int {
		var err error
		moto, err = testkit.NewMoto()
		if err != nil {
			fmt.Fprintln(os.Stderr, "ghaction:", err)
			return 1
		}
		defer moto.Close()
		defer testkit.CleanupBuilds()
		return m.Run()
	}()
	os.Exit(code)
}

// action is the part of action.yml the runner reads for a composite action.
type action struct {
	Inputs map[string]struct {
		Default string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			ID    string            `yaml:"id"`
			Shell string            `yaml:"shell"`
			Env   map[string]string `yaml:"env"`
			Run   string            `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

func loadAction(t *testing.T) action {
	t.Helper()
	root, err := testkit.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a action
	if err := yaml.Unmarshal(data, &a); err != nil {
		t.Fatalf("action.yml: %v", err)
	}
	if a.Runs.Using != "composite" || len(a.Runs.Steps) == 0 {
		t.Fatalf("action.yml: not a composite action with steps")
	}
	return a
}

// release is a file server holding a release laid out as GitHub serves one:
// /download/<version>/<asset> and /latest/download/<asset>.
type release struct {
	url  string
	dir  string
	mu   sync.Mutex
	gets []string
}

// runnerPlatform is RUNNER_OS and RUNNER_ARCH for this machine, and the asset name.
func runnerPlatform(t *testing.T) (runnerOS, runnerArch, asset string) {
	switch runtime.GOOS {
	case "linux":
		runnerOS = "Linux"
	case "darwin":
		runnerOS = "macOS"
	default:
		t.Skipf("the action's steps run with bash on linux and darwin here, not %s", runtime.GOOS)
	}
	switch runtime.GOARCH {
	case "amd64":
		runnerArch = "X64"
	case "arm64":
		runnerArch = "ARM64"
	default:
		t.Skipf("no release for %s", runtime.GOARCH)
	}
	return runnerOS, runnerArch, fmt.Sprintf("edgeflush-%s-%s", runtime.GOOS, runtime.GOARCH)
}

// newRelease builds the host's CLI as release/dist.sh does and serves it with its
// SHA256SUMS under version and latest. tamper changes the binary after summing.
func newRelease(t *testing.T, asset string, tamper bool) *release {
	t.Helper()
	bin, err := testkit.BuildWithFlags("./cmd/edgeflush", "-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -buildid= -X github.com/edgeflush/edgeflush/internal/cli.version="+testVersion+
			" -X github.com/edgeflush/edgeflush/internal/cli.commit=0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if tamper {
		data = append(data, 0)
	}
	r := &release{dir: t.TempDir()}
	for _, d := range []string{"download/" + testVersion, "latest/download"} {
		full := filepath.Join(r.dir, filepath.FromSlash(d))
		if err := os.MkdirAll(full, 0o755); err != nil {
			t.Fatal(err)
		}
		sums := fmt.Sprintf("%s  %s\n%s  edgeflush-lambda-arm64.zip\n", hex.EncodeToString(sum[:]), asset, strings.Repeat("0", 64))
		if err := os.WriteFile(filepath.Join(full, "SHA256SUMS"), []byte(sums), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(full, asset), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files := http.StripPrefix("/releases", http.FileServer(http.Dir(r.dir)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.gets = append(r.gets, req.URL.Path)
		r.mu.Unlock()
		files.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/releases"
	return r
}

// runner plays the GitHub runner for one job: a workspace, RUNNER_TEMP, the files
// behind GITHUB_OUTPUT, GITHUB_STEP_SUMMARY and GITHUB_PATH, and the environment.
type runner struct {
	t                   *testing.T
	workspace, temp     string
	summary, githubPath string
	env                 []string
}

func newRunner(t *testing.T, extraEnv ...string) *runner {
	t.Helper()
	runnerOS, runnerArch, _ := runnerPlatform(t)
	r := &runner{t: t, workspace: t.TempDir(), temp: t.TempDir()}
	r.summary = filepath.Join(r.temp, "step_summary.md")
	r.githubPath = filepath.Join(r.temp, "github_path")
	r.env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + r.temp,
		"RUNNER_OS=" + runnerOS, "RUNNER_ARCH=" + runnerArch, "RUNNER_TEMP=" + r.temp,
		"GITHUB_WORKSPACE=" + r.workspace, "GITHUB_STEP_SUMMARY=" + r.summary, "GITHUB_PATH=" + r.githubPath,
		"GITHUB_ACTIONS=true", "CI=true",
	}, extraEnv...)
	return r
}

var exprRE = regexp.MustCompile(`^\$\{\{\s*([a-z_]+)\.([A-Za-z0-9_.-]+)\s*\}\}$`)

// stepResult is what one run of the action produced.
type stepResult struct {
	failedStep string // "" when every step succeeded
	log        string
	outputs    map[string]string // the action's outputs, as its outputs section maps them
	steps      map[string]map[string]string
}

// use runs the action's steps as a workflow step `uses: edgeflush/edgeflush@ref` with
// `with: inputs` would: each step's env evaluated (inputs with their defaults,
// github.action_ref, earlier steps' outputs), its script run by
// `bash --noprofile --norc -eo pipefail`, in the workspace; the first failing step
// ends the run.
func (r *runner) use(a action, ref string, with map[string]string) stepResult {
	r.t.Helper()
	for k := range with {
		if _, ok := a.Inputs[k]; !ok {
			r.t.Fatalf("input %q is not declared in action.yml", k)
		}
	}
	res := stepResult{steps: map[string]map[string]string{}, outputs: map[string]string{}}
	var log strings.Builder
	eval := func(expr string) string {
		m := exprRE.FindStringSubmatch(expr)
		if m == nil {
			r.t.Fatalf("action.yml: expression %q is not one this test evaluates (keep them simple)", expr)
		}
		switch m[1] {
		case "inputs":
			if v, ok := with[m[2]]; ok {
				return v
			}
			in, ok := a.Inputs[m[2]]
			if !ok {
				r.t.Fatalf("action.yml: unknown input %q", m[2])
			}
			return in.Default
		case "github":
			if m[2] == "action_ref" {
				return ref
			}
		case "steps":
			id, out, ok := strings.Cut(m[2], ".outputs.")
			if ok {
				return res.steps[id][out]
			}
		}
		r.t.Fatalf("action.yml: expression %q is not one this test evaluates", expr)
		return ""
	}
	for i, step := range a.Runs.Steps {
		if step.Shell != "bash" {
			r.t.Fatalf("step %d: shell %q, want bash (it runs on every runner OS)", i, step.Shell)
		}
		out := filepath.Join(r.temp, fmt.Sprintf("output_%s_%d", step.ID, i))
		env := append(append([]string(nil), r.env...), "GITHUB_OUTPUT="+out)
		for k, v := range step.Env {
			env = append(env, k+"="+eval(v))
		}
		script := filepath.Join(r.temp, fmt.Sprintf("step_%d.sh", i))
		if err := os.WriteFile(script, []byte(step.Run), 0o644); err != nil {
			r.t.Fatal(err)
		}
		cmd := exec.Command("bash", "--noprofile", "--norc", "-eo", "pipefail", script)
		cmd.Dir, cmd.Env = r.workspace, env
		b, err := cmd.CombinedOutput()
		fmt.Fprintf(&log, "--- step %s ---\n%s", step.ID, b)
		res.steps[step.ID] = readOutputs(r.t, out)
		if err != nil {
			res.failedStep = step.ID
			break
		}
	}
	res.log = log.String()
	if res.failedStep == "" {
		for name, o := range a.Outputs {
			res.outputs[name] = eval(o.Value)
		}
	}
	return res
}

// readOutputs parses a GITHUB_OUTPUT file as the runner does (name=value, name<<DELIM).
func readOutputs(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
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
			t.Fatalf("%s: line %q is neither name=value nor a heredoc", path, line)
		}
		out[name] = val
	}
	return out
}

func (r *runner) writeSite(files map[string]string) {
	r.t.Helper()
	for p, c := range files {
		full := filepath.Join(r.workspace, "public", filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

func (r *runner) readSummary() string {
	b, _ := os.ReadFile(r.summary)
	return string(b)
}

func newBucket(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("action-%d", os.Getpid()) + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))
	name = strings.ReplaceAll(name, "_", "-")
	if len(name) > 60 {
		name = name[:60]
	}
	cfg := moto.Config(t)
	if _, err := awsconf.NewS3(cfg, func(o *s3.Options) { o.BaseEndpoint = aws.String(moto.URL) }).CreateBucket(context.Background(),
		&s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return name
}

// siteDistribution creates a distribution whose S3 origin reads bucket, as deploy
// requires before it writes anything.
func siteDistribution(t *testing.T, endpoint, bucket string) string {
	t.Helper()
	return testkit.CreateDistributionWith(t, endpoint, testkit.DistributionSpec{
		Origins: []testkit.DistributionOrigin{{ID: "site", DomainName: bucket + ".s3.amazonaws.com"}},
	})
}

// A deploy as the README's workflow runs it: the action's own tag picks the release,
// the binary is checked against SHA256SUMS, the site is synced and exactly the changed
// URLs invalidated and waited for; outputs and the job summary say what happened.
func TestActionDeploy(t *testing.T) {
	a := loadAction(t)
	_, _, asset := runnerPlatform(t)
	rel := newRelease(t, asset, false)
	cf := testkit.StartCloudFront(t, moto.URL, testkit.CloudFrontOptions{})
	bucket := newBucket(t)
	dist := siteDistribution(t, cf.URL, bucket)
	r := newRunner(t, append(moto.Env(), cf.Env()...)...)
	r.writeSite(map[string]string{
		"index.html": "<html>home</html>", "about/index.html": "<html>about</html>",
		"css/site.0a1b2c3d4e.css": "body{}", "docs/a b.html": "<html>a b</html>",
	})
	with := map[string]string{"dir": "public", "bucket": bucket, "distribution": dist, "wait": "true", "release-url": rel.url}

	res := r.use(a, testVersion, with)
	if res.failedStep != "" {
		t.Fatalf("step %s failed:\n%s", res.failedStep, res.log)
	}
	if res.outputs["version"] != testVersion || !strings.Contains(res.log, "edgeflush "+testVersion+" (commit 0123456789abcdef)") {
		t.Errorf("version output %q; log:\n%s", res.outputs["version"], res.log)
	}
	if got := rel.gets; len(got) != 2 || got[0] != "/releases/download/"+testVersion+"/SHA256SUMS" || got[1] != "/releases/download/"+testVersion+"/"+asset {
		t.Errorf("downloads %v, want the version's SHA256SUMS and %s", got, asset)
	}
	if res.outputs["uploaded"] != "4" || res.outputs["deleted"] != "0" || res.outputs["paths"] != "/*" {
		t.Errorf("first deploy outputs: %v", res.outputs)
	}
	ids := strings.Fields(res.outputs["invalidation-ids"])
	if len(ids) != 1 || !strings.Contains(res.outputs["invalidations"], `"status":"Completed"`) {
		t.Fatalf("invalidation outputs: %q %q", res.outputs["invalidation-ids"], res.outputs["invalidations"])
	}
	if invs := cf.Invalidations(dist); len(invs) != 1 || invs[0].ID != ids[0] {
		t.Errorf("CloudFront has %+v, want the one invalidation %s", invs, ids[0])
	}
	sum := r.readSummary()
	for _, frag := range []string{"### edgeflush deploy: s3://" + bucket + "/", "| uploaded | 4 |", "| invalidation paths | 1", "| estimated cost | $0.005", "| " + dist + " | " + ids[0] + " | Completed |"} {
		if !strings.Contains(sum, frag) {
			t.Errorf("job summary lacks %q:\n%s", frag, sum)
		}
	}
	if p, _ := os.ReadFile(r.githubPath); !strings.Contains(string(p), filepath.Join(r.temp, "edgeflush-"+testVersion)) {
		t.Errorf("GITHUB_PATH %q does not add the installed binary's folder", p)
	}

	// One page changed, no wildcards allowed: one upload, its two URLs, the binary reused.
	r.writeSite(map[string]string{"about/index.html": "<html>about, v2</html>"})
	with["max-wildcards"] = "0"
	res = r.use(a, testVersion, with)
	if res.failedStep != "" {
		t.Fatalf("step %s failed:\n%s", res.failedStep, res.log)
	}
	if res.outputs["uploaded"] != "1" || res.outputs["paths"] != "/about/\n/about/index.html" || res.outputs["estimated-cost"] != "0.010" {
		t.Errorf("second deploy outputs: %v", res.outputs)
	}
	if len(rel.gets) != 2 {
		t.Errorf("the installed release was downloaded again: %v", rel.gets)
	}
	if invs := cf.Invalidations(dist); len(invs) != 2 {
		t.Errorf("%d invalidations, want 2", len(invs))
	}

	// Dry run: nothing written, the summary says so.
	r.writeSite(map[string]string{"docs/a b.html": "<html>a b, v2</html>"})
	with["dry-run"] = "true"
	res = r.use(a, testVersion, with)
	if res.failedStep != "" || res.outputs["dry-run"] != "true" || res.outputs["uploaded"] != "1" || res.outputs["invalidation-ids"] != "" {
		t.Errorf("dry run: failed step %q, outputs %v\n%s", res.failedStep, res.outputs, res.log)
	}
	if !strings.Contains(r.readSummary(), "(dry run, nothing written)") || len(cf.Invalidations(dist)) != 2 {
		t.Errorf("dry run wrote or did not say so")
	}
}

// invalidate with paths, one per line, and several distributions; a branch ref takes
// the latest release.
func TestActionInvalidate(t *testing.T) {
	a := loadAction(t)
	_, _, asset := runnerPlatform(t)
	rel := newRelease(t, asset, false)
	cf := testkit.StartCloudFront(t, moto.URL, testkit.CloudFrontOptions{})
	d1, d2 := testkit.CreateDistribution(t, cf.URL), testkit.CreateDistribution(t, cf.URL)
	r := newRunner(t, append(moto.Env(), cf.Env()...)...)
	res := r.use(a, "main", map[string]string{
		"command": "invalidate", "distribution": d1 + ", " + d2, "paths": "/index.html\n/docs/a b.html\n\n", "release-url": rel.url,
	})
	if res.failedStep != "" {
		t.Fatalf("step %s failed:\n%s", res.failedStep, res.log)
	}
	if res.outputs["version"] != "latest" || rel.gets[0] != "/releases/latest/download/SHA256SUMS" {
		t.Errorf("version %q, downloads %v: a branch ref should take the latest release", res.outputs["version"], rel.gets)
	}
	if ids := strings.Fields(res.outputs["invalidation-ids"]); len(ids) != 2 {
		t.Errorf("invalidation-ids %q, want two", res.outputs["invalidation-ids"])
	}
	if res.outputs["paths"] != "/index.html\n/docs/a%20b.html" || res.outputs["estimated-cost"] != "0.020" {
		t.Errorf("outputs %v", res.outputs)
	}
	for _, d := range []string{d1, d2} {
		if invs := cf.Invalidations(d); len(invs) != 1 {
			t.Errorf("%s: %d invalidations, want 1", d, len(invs))
		}
	}
}

// A binary that does not match SHA256SUMS is never run; a bad input, missing
// credentials or an unknown command fail the step with one clear line.
func TestActionFailures(t *testing.T) {
	a := loadAction(t)
	_, _, asset := runnerPlatform(t)
	cf := testkit.StartCloudFront(t, moto.URL, testkit.CloudFrontOptions{})
	dist := testkit.CreateDistribution(t, cf.URL)

	bad := newRelease(t, asset, true)
	r := newRunner(t, append(moto.Env(), cf.Env()...)...)
	res := r.use(a, testVersion, map[string]string{"command": "invalidate", "distribution": dist, "release-url": bad.url})
	if res.failedStep != "install" || !strings.Contains(res.log, "::error::edgeflush: checksum mismatch for") {
		t.Errorf("tampered binary: failed step %q\n%s", res.failedStep, res.log)
	}
	if _, err := os.Stat(filepath.Join(r.temp, "edgeflush-"+testVersion+"-"+strings.TrimPrefix(asset, "edgeflush-"), "edgeflush")); err == nil {
		t.Error("the tampered binary was installed")
	}
	if len(cf.Invalidations(dist)) != 0 {
		t.Error("an invalidation was made with a tampered binary")
	}

	good := newRelease(t, asset, false)
	for name, c := range map[string]struct {
		with map[string]string
		env  []string
		want string
	}{
		"unknown command":    {map[string]string{"command": "sync"}, nil, "::error::edgeflush: command must be deploy or invalidate, not 'sync'"},
		"deploy without dir": {map[string]string{"bucket": "b"}, nil, "::error::edgeflush: command deploy needs the dir input"},
		"bad boolean":        {map[string]string{"command": "invalidate", "distribution": dist, "wait": "yes"}, nil, "::error::edgeflush: input wait: want true or false, not 'yes'"},
		"bad version":        {map[string]string{"command": "invalidate", "version": "../../etc"}, nil, "is not a release name"},
		"no credentials": {map[string]string{"command": "invalidate", "distribution": dist},
			[]string{"AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY=", "AWS_CONFIG_FILE=/nonexistent", "AWS_SHARED_CREDENTIALS_FILE=/nonexistent"},
			"edgeflush: no AWS credentials found: set AWS_ACCESS_KEY_ID"},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRunner(t, append(append(moto.Env(), cf.Env()...), c.env...)...)
			c.with["release-url"] = good.url
			res := r.use(a, testVersion, c.with)
			if res.failedStep == "" || !strings.Contains(res.log, c.want) {
				t.Errorf("failed step %q, want a failure saying %q:\n%s", res.failedStep, c.want, res.log)
			}
			if name == "no credentials" && !strings.Contains(r.readSummary(), "**Failed** (exit code 1)") {
				t.Errorf("summary does not say the step failed:\n%s", r.readSummary())
			}
		})
	}
	if len(cf.Invalidations(dist)) != 0 {
		t.Error("a failed run made an invalidation")
	}
}

// Every input but the action's own (command, dir, paths, version, release-url) is a
// flag of deploy or invalidate with the same name, so the CLI's docs describe it.
func TestInputsMirrorFlags(t *testing.T) {
	a := loadAction(t)
	flags := map[string]bool{}
	for _, cmd := range []string{"deploy", "invalidate"} {
		var out strings.Builder
		if code := cli.Main([]string{cmd, "--help"}, strings.NewReader(""), &out, io.Discard); code != 0 {
			t.Fatalf("%s --help: exit %d", cmd, code)
		}
		for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z][a-z-]*)`).FindAllStringSubmatch(out.String(), -1) {
			flags[m[1]] = true
		}
	}
	own := map[string]bool{"command": true, "dir": true, "paths": true, "version": true, "release-url": true}
	for name := range a.Inputs {
		if !own[name] && !flags[name] {
			t.Errorf("input %q is no flag of deploy or invalidate", name)
		}
	}
	for _, f := range []string{"bucket", "prefix", "distribution", "max-paths", "max-wildcards", "max-deletes", "dry-run", "wait", "role-arn", "verify", "base-url"} {
		if _, ok := a.Inputs[f]; !ok {
			t.Errorf("flag --%s has no input", f)
		}
	}
}

// verify: true checks the changed URLs at the edge (the edge emulator in front of the
// bucket, base-url) after the wait; the outputs and the summary carry the result.
func TestActionDeployVerify(t *testing.T) {
	a := loadAction(t)
	_, _, asset := runnerPlatform(t)
	rel := newRelease(t, asset, false)
	cf := testkit.StartCloudFront(t, moto.URL, testkit.CloudFrontOptions{})
	bucket := newBucket(t)
	dist, err := testkit.NewDistributionWith(context.Background(), moto.URL, testkit.DistributionSpec{
		Origins:           []testkit.DistributionOrigin{{ID: "site", DomainName: bucket + ".s3.amazonaws.com"}},
		DefaultRootObject: "index.html",
	})
	if err != nil {
		t.Fatal(err)
	}
	e := edge.Start(t, edge.Options{S3Endpoint: moto.URL, DistributionID: dist, Bucket: bucket})
	r := newRunner(t, append(moto.Env(), cf.Env()...)...)
	r.writeSite(map[string]string{"index.html": "<html>v1</html>", "css/site.css": "body{}"})
	with := map[string]string{"dir": "public", "bucket": bucket, "distribution": dist, "wait": "true",
		"verify": "true", "base-url": e.URL, "release-url": rel.url}
	res := r.use(a, testVersion, with)
	if res.failedStep != "" {
		t.Fatalf("step %s failed:\n%s", res.failedStep, res.log)
	}
	if res.outputs["verify"] != "passed" || !strings.Contains(r.readSummary(), "| verify at the edge | passed |") {
		t.Errorf("verify output %q, summary:\n%s", res.outputs["verify"], r.readSummary())
	}
}
