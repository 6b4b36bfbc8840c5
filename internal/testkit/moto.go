// Package testkit is edgeflush's local test kit: it starts moto_server, puts a CloudFront
// realism proxy in front of it (moto answers "COMPLETED" at once and never deduplicates
// caller references or enforces limits; real CloudFront does), stands in for CodePipeline's
// job API (which moto does not implement), plays CodePipeline as a driver of job chains, and
// builds and runs the real Lambda bootstrap under the AWS Lambda Runtime Interface Emulator.
//
// It imports only the standard library, the AWS SDK and its own package edge (the edge
// emulator, which imports nothing of the module), so that every package of the module
// can use it in its tests without import cycles. Everything listens on 127.0.0.1 free ports
// and is stopped in t.Cleanup (or by Close for TestMain and the demo).
package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
)

// Region is the region every emulator-backed configuration uses. CloudFront is global and
// signed for us-east-1, so using it everywhere keeps the signatures consistent.
const Region = "us-east-1"

// Dummy credentials understood by moto and the stand-ins. They are deliberately recognisable
// so that tests can assert that they never show up in logs.
const (
	AccessKeyID     = "AKIDTESTKITEXAMPLE"
	SecretAccessKey = "testkit-secret-access-key-do-not-log"
)

// MotoStartTimeout bounds how long NewMoto waits for moto_server to answer.
var MotoStartTimeout = 30 * time.Second

// Moto is a running moto_server.
type Moto struct {
	URL string // http://127.0.0.1:PORT

	cmd    *exec.Cmd
	logs   *SyncBuffer
	done   chan struct{}
	closed sync.Once
}

// StartMoto starts moto_server on a free loopback port and stops it when the test ends.
// It fails the test (with an install hint) when moto_server cannot be started.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	m, err := NewMoto()
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	t.Cleanup(m.Close)
	return m
}

// NewMoto starts moto_server on a free loopback port and waits until GET /moto-api/
// answers. The caller must call Close.
func NewMoto() (*Moto, error) {
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return nil, fmt.Errorf("moto_server not found on PATH (install it with: pip install 'moto[server]'): %w", err)
	}
	// A port picked by the kernel can in rare cases be taken again before moto binds it;
	// retry a few times rather than flake.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		m := &Moto{URL: "http://127.0.0.1:" + strconv.Itoa(port), logs: &SyncBuffer{}, done: make(chan struct{})}
		m.cmd = exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
		m.cmd.Stdout = m.logs
		m.cmd.Stderr = m.logs
		// Own process group so that Close also stops any worker moto forks.
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := m.cmd.Start(); err != nil {
			return nil, fmt.Errorf("start moto_server: %w", err)
		}
		go func() { _ = m.cmd.Wait(); close(m.done) }()
		if err := m.waitReady(MotoStartTimeout); err != nil {
			m.Close()
			lastErr = fmt.Errorf("%w; moto output:\n%s", err, m.logs.String())
			continue
		}
		return m, nil
	}
	return nil, lastErr
}

func (m *Moto) waitReady(timeout time.Duration) error {
	return waitHTTP(m.done, timeout, 100*time.Millisecond, m.URL+"/moto-api/", func(status int) bool { return status == http.StatusOK },
		"moto_server exited before it was ready", fmt.Sprintf("moto_server at %s not ready after %s", m.URL, timeout))
}

// waitHTTP polls url every interval until ready accepts an answer's status, the
// process behind done exits (exited) or timeout passes (late).
func waitHTTP(done <-chan struct{}, timeout, interval time.Duration, url string, ready func(status int) bool, exited, late string) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return errors.New(exited)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if ready(resp.StatusCode) {
				return nil
			}
		}
		time.Sleep(interval)
	}
	return errors.New(late)
}

// Close stops moto_server (and its process group). It is safe to call more than once.
func (m *Moto) Close() {
	m.closed.Do(func() {
		if m.cmd == nil || m.cmd.Process == nil {
			return
		}
		_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			<-m.done
		}
	})
}

// Logs returns what moto_server printed so far (useful in failure messages).
func (m *Moto) Logs() string { return m.logs.String() }

// Reset clears all of moto's state (POST /moto-api/reset).
func (m *Moto) Reset() error {
	resp, err := http.Post(m.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: HTTP %d", resp.StatusCode)
	}
	return nil
}

// Env returns the environment a child process needs to talk to moto with the SDK's
// default configuration: the endpoint, dummy credentials and the region.
func (m *Moto) Env() []string { return BaseEnv(m.URL) }

// BaseEnv is the environment for an SDK process whose every service is at endpoint.
// Service-specific endpoints (AWS_ENDPOINT_URL_CLOUDFRONT, ..._CODEPIPELINE) can be
// appended; the SDK prefers them over AWS_ENDPOINT_URL.
func BaseEnv(endpoint string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Config returns an SDK configuration pointed at moto with dummy credentials.
func (m *Moto) Config(t testing.TB) aws.Config {
	t.Helper()
	cfg, err := SDKConfig(context.Background(), m.URL)
	if err != nil {
		t.Fatalf("testkit: %v", err)
	}
	return cfg
}

// SDKConfig returns an SDK configuration whose every service is at endpoint, with dummy
// static credentials and region us-east-1. It ignores the caller's shared config files
// and profile so that a developer's real AWS settings never leak into a test.
func SDKConfig(ctx context.Context, endpoint string) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, "")),
		config.WithBaseEndpoint(endpoint),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
	)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load SDK config for %s: %w", endpoint, err)
	}
	return cfg, nil
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// SyncBuffer is a bytes.Buffer safe for a process or a logger writing while a test
// reads.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// mergeEnv returns base with the entries of extra added, an entry of extra replacing a
// base entry with the same name.
func mergeEnv(base, extra []string) []string {
	idx := map[string]int{}
	out := make([]string, 0, len(base)+len(extra))
	add := func(kv string) {
		name := kv
		if i := strings.IndexByte(kv, '='); i >= 0 {
			name = kv[:i]
		}
		if j, ok := idx[name]; ok {
			out[j] = kv
			return
		}
		idx[name] = len(out)
		out = append(out, kv)
	}
	for _, kv := range base {
		add(kv)
	}
	for _, kv := range extra {
		add(kv)
	}
	return out
}

// SharedMoto is one moto for a whole test package, started by the first test that needs
// it (starting one takes over a second) and stopped by the package's TestMain.
type SharedMoto struct {
	once sync.Once
	m    *Moto
	err  error
}

// Get returns the package's moto, starting it on the first call.
func (s *SharedMoto) Get(t testing.TB) *Moto {
	t.Helper()
	s.once.Do(func() { s.m, s.err = NewMoto() })
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.m
}

// Close stops moto if a test started it.
func (s *SharedMoto) Close() {
	if s.m != nil {
		s.m.Close()
	}
}
