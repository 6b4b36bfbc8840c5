package demo

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRunPrintsEachStep runs the whole demo with short delays: the same code path as
// `make demo`, real bootstrap under the emulator included.
func TestRunPrintsEachStep(t *testing.T) {
	o := Options{
		CompleteAfter: 1200 * time.Millisecond,
		PollInterval:  100 * time.Millisecond,
		PollBudget:    400 * time.Millisecond,
		Delay:         100 * time.Millisecond,
		Params:        DefaultOptions().Params,
	}
	var out bytes.Buffer
	if err := Run(context.Background(), o, &out); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`function: invalidation \w+ created on \w+, status InProgress`),
		regexp.MustCompile(`function: polling \w+ on \w+: InProgress`),
		regexp.MustCompile(`pipeline: job 1 in progress`),
		regexp.MustCompile(`pipeline: job 2 \(.*\) created with the continuation token`),
		regexp.MustCompile(`function: polling \w+ on \w+: Completed`),
		regexp.MustCompile(`pipeline: job \d+ SUCCEEDED: site-pipeline: Invalidated 1 path`),
		regexp.MustCompile(`output variable #\{Namespace.InvalidationIds\} = \w+`),
		regexp.MustCompile(`stopping the emulators`),
	} {
		if !want.MatchString(s) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(s, "FAILED") || t.Failed() {
		t.Fatalf("demo output:\n%s", s)
	}
}

func TestMainReportsFailure(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Main(context.Background(), []string{"-complete-after", "0s", "-params", `{"DistributionId": "%s", "Bogus": 1}`}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "ConfigurationError") {
		t.Fatalf("exit %d, stderr %q; want 1 and the ConfigurationError", code, errOut.String())
	}
	if code := Main(context.Background(), []string{"-nope"}, &out, &errOut); code != 2 {
		t.Fatalf("bad flag: exit %d, want 2", code)
	}
}
