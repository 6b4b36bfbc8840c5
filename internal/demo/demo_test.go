package demo

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strconv"
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
		EdgeLocations: 4,
		Sample:        100 * time.Millisecond,
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
		// Part 2: deploy mode behind the edge emulator.
		regexp.MustCompile(`function: artifact synced to s3://demo-site-\d+: 3 uploaded, 0 deleted`),
		regexp.MustCompile(`function: artifact synced to s3://demo-site-\d+: 2 uploaded, 0 deleted, [1-9]\d* invalidation path`),
		regexp.MustCompile(`edge before +EMU0 v1 hit age \d+s \| EMU1 v1 hit age \d+s \| EMU2 v1 hit age \d+s \| EMU3 v1 hit age \d+s\n`),
		regexp.MustCompile(`edge after +EMU0 v2 [a-z]+[^|]*\| EMU1 v2 [^|]*\| EMU2 v2 [^|]*\| EMU3 v2 [^|\n]*\n`),
	} {
		if !want.MatchString(s) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	// Every location dropped its copy and was then seen serving v2, by the time the
	// pipeline turned green; no request sent after green got v1.
	for loc := range 4 {
		if !regexp.MustCompile(fmt.Sprintf(`edge: EMU%d dropped its v1 copy of / at \+[\d.]+s; its visitor got v2 from the sample at`, loc)).MatchString(s) {
			t.Errorf("no v2 line for location EMU%d", loc)
		}
	}
	m := regexp.MustCompile(`edge: every location serves v2 from \+([\d.]+)s, [\d.]+s (before|AFTER) the pipeline turned green at \+([\d.]+)s`).FindStringSubmatch(s)
	if m == nil {
		t.Errorf("no summary of when every location serves v2")
	} else if allV2, _ := strconv.ParseFloat(m[1], 64); m[2] != "before" || allV2 > mustFloat(t, m[3]) {
		t.Errorf("every location serves v2 from +%ss, %s green at +%ss; want by green", m[1], m[2], m[3])
	}
	m = regexp.MustCompile(`edge: stale answers to requests sent after green: (\d+) of (\d+)`).FindStringSubmatch(s)
	if m == nil || m[1] != "0" || mustFloat(t, m[2]) < 4 {
		t.Errorf("stale answers after green: %v; want 0 of at least one sample (4 answers)", m)
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

func mustFloat(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return f
}
