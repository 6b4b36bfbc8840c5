package testkit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RIEInstallHint tells how to install the emulator; the module's Makefile does it with
// `make tools`.
const RIEInstallHint = "install it with: go install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d (or `make tools`)"

// LambdaPackage is the package path of the real Lambda bootstrap.
const LambdaPackage = "./cmd/edgeflush-lambda"

var builds struct {
	sync.Mutex
	dir  string
	bins map[string]string
}

// BuildBootstrap builds the real Lambda bootstrap (./cmd/edgeflush-lambda) the way the
// Lambda zip is built (CGO_ENABLED=0, -tags lambda.norpc). It is built once per test
// binary; see CleanupBuilds.
func BuildBootstrap(t testing.TB) string {
	t.Helper()
	return BuildPackage(t, LambdaPackage)
}

// BuildPackage builds a main package of the module (a path relative to the module root)
// as a Lambda bootstrap, once per test binary.
func BuildPackage(t testing.TB, pkg string) string {
	t.Helper()
	bin, err := Build(pkg)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return bin
}

// Build builds pkg (relative to the module root) with CGO_ENABLED=0 -tags lambda.norpc
// into a process-wide temporary directory and returns the binary's path.
func Build(pkg string) (string, error) { return BuildWithFlags(pkg) }

// ReleaseFlags are the extra flags of the deployed Lambda zip (`make lambda-zip`).
var ReleaseFlags = []string{"-trimpath", "-ldflags=-s -w"}

// BuildWithFlags is Build with extra `go build` flags (e.g. ReleaseFlags), once per
// package and flag set.
func BuildWithFlags(pkg string, flags ...string) (string, error) {
	builds.Lock()
	defer builds.Unlock()
	key := strings.Join(append([]string{pkg}, flags...), "\x00")
	if bin, ok := builds.bins[key]; ok {
		return bin, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "edgeflush-testkit-build-")
		if err != nil {
			return "", fmt.Errorf("create build directory: %w", err)
		}
		builds.dir = dir
		builds.bins = map[string]string{}
	}
	out := filepath.Join(builds.dir, strconv.Itoa(len(builds.bins)), "bootstrap")
	args := append([]string{"build", "-tags", "lambda.norpc", "-o", out}, flags...)
	cmd := exec.Command("go", append(args, pkg)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkg, err, msg)
	}
	builds.bins[key] = out
	return out, nil
}

// CleanupBuilds removes the binaries Build made; call it at the end of TestMain.
func CleanupBuilds() {
	builds.Lock()
	defer builds.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
		builds.dir, builds.bins = "", nil
	}
}

// ModuleRoot returns the directory of the main module's go.mod, found with `go env GOMOD`
// so that tests of any package (and the demo) build from the right place.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside a Go module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// FindRIE locates aws-lambda-rie on PATH or in $(go env GOPATH)/bin.
func FindRIE() (string, error) {
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "aws-lambda-rie")
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				return p, nil
			}
		}
	}
	return "", errors.New("aws-lambda-rie not found on PATH or in $(go env GOPATH)/bin; " + RIEInstallHint)
}

// RIE is a running Lambda Runtime Interface Emulator with a bootstrap.
type RIE struct {
	URL string // http://127.0.0.1:P1, the invoke endpoint's base

	cmd    *exec.Cmd
	logs   *SyncBuffer
	done   chan struct{}
	closed sync.Once
	client *http.Client
}

// StartRIE runs bootstrap under the emulator with env added to a minimal environment
// (PATH, HOME and the caller's env; the test process's AWS settings are not inherited).
// It is stopped when the test ends. A missing emulator fails the test with an install hint.
func StartRIE(t testing.TB, bootstrap string, env []string) *RIE {
	t.Helper()
	r, err := NewRIE(bootstrap, env)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// NewRIE is StartRIE without a test; the caller must call Close.
func NewRIE(bootstrap string, env []string) (*RIE, error) {
	bin, err := FindRIE()
	if err != nil {
		return nil, err
	}
	p1, err := FreePort()
	if err != nil {
		return nil, err
	}
	p2, err := FreePort()
	if err != nil {
		return nil, err
	}
	r := &RIE{
		URL:    "http://127.0.0.1:" + strconv.Itoa(p1),
		logs:   &SyncBuffer{},
		done:   make(chan struct{}),
		client: &http.Client{},
	}
	r.cmd = exec.Command(bin,
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(p1),
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(p2),
		bootstrap)
	r.cmd.Dir = filepath.Dir(bootstrap)
	base := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.TempDir(),
		"AWS_LAMBDA_FUNCTION_NAME=edgeflush",
		"AWS_LAMBDA_FUNCTION_TIMEOUT=300",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
	}
	r.cmd.Env = mergeEnv(base, env)
	r.cmd.Stdout = r.logs
	r.cmd.Stderr = r.logs
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Do not wait forever for output pipes a stray grandchild may hold open.
	r.cmd.WaitDelay = 2 * time.Second
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	if err := r.waitListening(15 * time.Second); err != nil {
		r.Close()
		return nil, fmt.Errorf("%w; emulator output:\n%s", err, r.logs.String())
	}
	return r, nil
}

func (r *RIE) waitListening(timeout time.Duration) error {
	// Any HTTP answer (even 404/405) means the emulator listens.
	return waitHTTP(r.done, timeout, 20*time.Millisecond, r.URL+"/2015-03-31/functions/function/ping", func(int) bool { return true },
		"aws-lambda-rie exited at start", fmt.Sprintf("aws-lambda-rie at %s not listening after %s", r.URL, timeout))
}

// Close stops the emulator and the bootstrap. Safe to call twice. The emulator starts the
// bootstrap in a process group of its own, so the bootstrap is signalled explicitly.
func (r *RIE) Close() { r.stop(syscall.SIGTERM, 3*time.Second) }

// Kill stops the emulator and the function at once (SIGKILL), as a crashed or timed-out
// Lambda execution environment disappears.
func (r *RIE) Kill() { r.stop(syscall.SIGKILL, 0) }

func (r *RIE) stop(sig syscall.Signal, grace time.Duration) {
	r.closed.Do(func() {
		if r.cmd == nil || r.cmd.Process == nil {
			return
		}
		if child := r.BootstrapPID(); child != 0 {
			_ = syscall.Kill(-child, sig)
			_ = syscall.Kill(child, sig)
		}
		_ = syscall.Kill(-r.cmd.Process.Pid, sig)
		select {
		case <-r.done:
		case <-time.After(grace):
			if child := r.BootstrapPID(); child != 0 {
				_ = syscall.Kill(child, syscall.SIGKILL)
			}
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			<-r.done
		}
	})
}

// Exited reports whether the emulator process has ended (killed, crashed or closed).
func (r *RIE) Exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// Logs returns everything the emulator and the function printed so far.
func (r *RIE) Logs() string { return r.logs.String() }

// FunctionError is the error a function invocation ended with.
type FunctionError struct {
	Type, Message string
}

func (e *FunctionError) Error() string { return "function error " + e.Type + ": " + e.Message }

// Invoke posts payload to the emulator's invoke endpoint and returns the function's answer.
// A handler error is answered HTTP 200 with {"errorMessage","errorType"}; Invoke returns it
// as a *FunctionError along with the body.
func (r *RIE) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("build invoke request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke function: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read invoke answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("invoke function: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	var fe struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	}
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) && json.Unmarshal(body, &fe) == nil && (fe.ErrorType != "" || fe.ErrorMessage != "") {
		return body, &FunctionError{Type: fe.ErrorType, Message: fe.ErrorMessage}
	}
	return body, nil
}

// Invoker adapts Invoke to the driver.
func (r *RIE) Invoker() Invoker {
	return func(ctx context.Context, payload []byte) error {
		_, err := r.Invoke(ctx, payload)
		return err
	}
}

// BootstrapPID returns the pid of the function process (the emulator's child), or 0 when
// it is not running (the emulator starts it on the first invocation).
func (r *RIE) BootstrapPID() int {
	if r.cmd == nil || r.cmd.Process == nil {
		return 0
	}
	return childPID(r.cmd.Process.Pid)
}

func childPID(parent int) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", parent))
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(field); err == nil {
				return pid
			}
		}
	}
	return 0
}

// BootstrapMaxRSS returns the function process's peak resident set (VmHWM) in bytes.
func (r *RIE) BootstrapMaxRSS() (int64, error) {
	pid := r.BootstrapPID()
	if pid == 0 {
		return 0, errors.New("the function process is not running")
	}
	return ProcMaxRSS(pid)
}

// ProcMaxRSS reads a process's peak resident set size (VmHWM) from /proc, in bytes.
func ProcMaxRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read status of process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmHWM of process %d: %w", pid, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
