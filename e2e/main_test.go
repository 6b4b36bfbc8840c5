// Package e2e_test runs the real Lambda bootstrap (./cmd/edgeflush-lambda, built as for
// provided.al2023) under the AWS Lambda Runtime Interface Emulator and drives it through
// whole CodePipeline job chains against moto, the CloudFront realism proxy and the
// CodePipeline job-API stand-in from internal/testkit.
package e2e_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

var (
	moto      *testkit.Moto
	bootstrap string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The emulator must be installed: a missing one fails (with the install command)
	// rather than skipping, so CI cannot pass without running these tests.
	if _, err := testkit.FindRIE(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	var err error
	moto, err = testkit.NewMoto()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer moto.Close()
	bootstrap, err = testkit.Build(testkit.LambdaPackage)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer testkit.CleanupBuilds()
	return m.Run()
}
