package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/testkit"
	"github.com/edgeflush/edgeflush/internal/testkit/edge"
)

// One moto for the whole package (starting it takes over a second); stopped after the
// tests by cleanupM.
var sharedMoto testkit.SharedMoto

func moto(t testing.TB) *testkit.Moto { return sharedMoto.Get(t) }

// cleanupM stops the shared moto after the tests: testscript.Main calls os.Exit itself.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	code := c.m.Run()
	sharedMoto.Close()
	return code
}

func TestMain(m *testing.M) {
	// The test binary doubles as the edgeflush command inside the scripts.
	testscript.Main(cleanupM{m}, map[string]func(){
		"edgeflush": func() { os.Exit(Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs testdata/script/*.txtar against moto. Each script's environment has
// moto's endpoint and dummy credentials (the standard AWS_* variables), and these
// commands:
//
//	cfdist VAR              create a CloudFront distribution, store its id in $VAR
//	cfcount DIST N          assert that DIST has exactly N invalidations
//	cfinvalidate DIST VAR PATH...  create an invalidation of the raw PATHs, store its id in $VAR
//	s3bucket NAME           create an S3 bucket
//	cfsite VAR BUCKET ORIGINPATH  create a distribution reading BUCKET at ORIGINPATH ("-": none),
//	                        default root object index.html; store its id in $VAR
//	edge VAR DIST BUCKET ORIGINPATH  start the edge emulator for it; store its URL in $VAR
//
// EDGEFLUSH_POLL_INTERVAL is 20ms so that --wait is quick.
func TestScripts(t *testing.T) {
	m := moto(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		Setup: func(env *testscript.Env) error {
			for _, kv := range m.Env() {
				k, v, _ := strings.Cut(kv, "=")
				env.Setenv(k, v)
			}
			env.Setenv("EDGEFLUSH_POLL_INTERVAL", "20ms")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"cfdist": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: cfdist VAR")
				}
				id, err := testkit.NewDistribution(context.Background(), m.URL)
				ts.Check(err)
				ts.Setenv(args[0], id)
			},
			"cfcount": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 2 {
					ts.Fatalf("usage: cfcount DIST N")
				}
				want, err := strconv.Atoi(args[1])
				ts.Check(err)
				got, err := countInvalidations(m.URL, args[0])
				ts.Check(err)
				if got != want {
					ts.Fatalf("distribution %s has %d invalidations, want %d", args[0], got, want)
				}
			},
			"cfinvalidate": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 3 {
					ts.Fatalf("usage: cfinvalidate DIST VAR PATH...")
				}
				cfg, err := testkit.SDKConfig(context.Background(), m.URL)
				ts.Check(err)
				paths, err := invalidation.PreparePaths(args[2:])
				ts.Check(err)
				inv, err := invalidation.Create(context.Background(), cloudfront.NewFromConfig(cfg), args[0], paths, invalidation.CallerReference(args...))
				ts.Check(err)
				ts.Setenv(args[1], inv.ID)
			},
			"cfsite": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 3 {
					ts.Fatalf("usage: cfsite VAR BUCKET ORIGINPATH")
				}
				id, err := testkit.NewDistributionWith(context.Background(), m.URL, testkit.DistributionSpec{
					Origins:           []testkit.DistributionOrigin{{ID: "site", DomainName: args[1] + ".s3.amazonaws.com", OriginPath: strings.TrimPrefix(args[2], "-")}},
					DefaultRootObject: "index.html",
				})
				ts.Check(err)
				ts.Setenv(args[0], id)
			},
			"edge": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 4 {
					ts.Fatalf("usage: edge VAR DIST BUCKET ORIGINPATH")
				}
				e, err := edge.New(edge.Options{S3Endpoint: m.URL, DistributionID: args[1], Bucket: args[2], OriginPath: strings.TrimPrefix(args[3], "-")})
				ts.Check(err)
				ts.Defer(e.Close)
				ts.Setenv(args[0], e.URL)
			},
			"s3bucket": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: s3bucket NAME")
				}
				cfg, err := testkit.SDKConfig(context.Background(), m.URL)
				ts.Check(err)
				_, err = awsconf.NewS3(cfg).CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(args[0])})
				ts.Check(err)
			},
		},
	})
}

// countInvalidations returns how many invalidations distribution dist has at endpoint.
func countInvalidations(endpoint, dist string) (int, error) {
	cfg, err := testkit.SDKConfig(context.Background(), endpoint)
	if err != nil {
		return 0, err
	}
	n := 0
	p := cloudfront.NewListInvalidationsPaginator(cloudfront.NewFromConfig(cfg), &cloudfront.ListInvalidationsInput{DistributionId: aws.String(dist)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			return 0, fmt.Errorf("list invalidations of %s: %w", dist, err)
		}
		if page.InvalidationList != nil {
			n += len(page.InvalidationList.Items)
		}
	}
	return n, nil
}
