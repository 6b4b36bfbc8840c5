// Command edgeflush-demo is `make demo`: it starts the local emulators (moto, the CloudFront
// realism proxy, the CodePipeline job-API stand-in), builds the real Lambda bootstrap, runs
// it under the Lambda Runtime Interface Emulator and plays one pipeline execution against
// it, printing each step; then it deploys a site v1 and v2 in deploy mode with the edge
// emulator in front of the bucket and prints what a visitor at each edge location gets.
// It talks to no AWS account.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/edgeflush/edgeflush/internal/demo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := demo.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
