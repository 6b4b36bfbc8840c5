// Command edgeflush puts a static site on S3 + CloudFront with no stale cache:
// it invalidates, plans, deploys and sets up the CodePipeline action.
package main

import (
	"os"

	"github.com/edgeflush/edgeflush/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
