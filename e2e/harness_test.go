package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

// Polling knobs for the bootstrap: poll every 100 ms and hand over to a continuation job
// after 500 ms, so a 3 s invalidation takes several jobs.
var fastPolling = []string{
	"EDGEFLUSH_POLL_INTERVAL=100ms",
	"EDGEFLUSH_POLL_BUDGET=500ms",
	"EDGEFLUSH_SAFETY_MARGIN=2s",
	"AWS_LAMBDA_FUNCTION_TIMEOUT=30",
}

// stack is one test's CloudFront proxy, job API and emulated function.
type stack struct {
	t    *testing.T
	cf   *testkit.CloudFront
	jobs *testkit.JobAPI
	env  []string

	mu      sync.Mutex
	rie     *testkit.RIE
	oldLogs []string // logs of emulators that were killed and replaced
	starts  int
	killed  bool // the current emulator was killed; the next invocation starts a new one
}

// newStack starts a proxy (with o), a job API and the bootstrap under the emulator. The
// function's logs are checked for credentials when the test ends.
func newStack(t *testing.T, o testkit.CloudFrontOptions, extraEnv ...string) *stack {
	t.Helper()
	s := &stack{t: t}
	s.cf = testkit.StartCloudFront(t, moto.URL, o)
	s.jobs = testkit.StartJobAPI(t)
	s.env = append(append(append(moto.Env(), s.cf.Env()...), s.jobs.Env()...), fastPolling...)
	s.env = append(s.env, extraEnv...)
	s.startRIE()
	t.Cleanup(func() {
		logs := s.logs()
		for _, secret := range testkit.Secrets() {
			if strings.Contains(logs, secret) {
				t.Errorf("a credential (%.8s...) appears in the function's logs", secret)
			}
		}
		if t.Failed() {
			t.Logf("function logs:\n%s", logs)
		}
	})
	return s
}

func (s *stack) startRIE() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rie != nil {
		s.oldLogs = append(s.oldLogs, s.rie.Logs())
	}
	s.rie = testkit.StartRIE(s.t, bootstrap, s.env)
	s.starts++
	s.killed = false
}

// kill kills the running function and emulator (SIGKILL), as a crashed execution
// environment disappears.
func (s *stack) kill() {
	s.mu.Lock()
	r := s.rie
	s.killed = true
	s.mu.Unlock()
	r.Kill()
}

// invoker delivers events to the emulator, starting a fresh one (a new execution
// environment, cold) when the previous one was killed.
func (s *stack) invoker() testkit.Invoker {
	return func(ctx context.Context, payload []byte) error {
		s.mu.Lock()
		dead := s.killed || s.rie.Exited()
		s.mu.Unlock()
		if dead {
			s.startRIE()
		}
		s.mu.Lock()
		r := s.rie
		s.mu.Unlock()
		_, err := r.Invoke(ctx, payload)
		return err
	}
}

func (s *stack) logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.oldLogs, "") + s.rie.Logs()
}

// logLines returns the function's JSON log lines.
func (s *stack) logLines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.logs()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func (s *stack) dist() string { return testkit.CreateDistribution(s.t, s.cf.URL) }

// siteDist creates a distribution whose origin reads bucket (deploy mode checks that
// before writing).
func (s *stack) siteDist(bucket string) string {
	return testkit.CreateDistributionWith(s.t, s.cf.URL, testkit.DistributionSpec{Origins: []testkit.DistributionOrigin{{ID: "site", DomainName: bucket + ".s3.amazonaws.com"}}})
}

func (s *stack) driver(userParameters string) *testkit.Driver {
	return &testkit.Driver{
		Jobs:           s.jobs,
		Invoke:         s.invoker(),
		UserParameters: userParameters,
		Delay:          50 * time.Millisecond,
		ResultTimeout:  20 * time.Second,
		MaxJobs:        100,
	}
}

// run plays a whole chain and fails the test when it does not end with a result.
func (s *stack) run(d *testkit.Driver) *testkit.Chain {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	chain, err := d.Run(ctx)
	if err != nil {
		s.t.Fatalf("chain: %v", err)
	}
	return chain
}

func final(t *testing.T, c *testkit.Chain) testkit.JobResult {
	t.Helper()
	r, ok := c.Final()
	if !ok {
		t.Fatal("chain has no final result")
	}
	return r
}
