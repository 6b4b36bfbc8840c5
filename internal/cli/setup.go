package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/edgeflush/edgeflush/internal/setup"

	"github.com/edgeflush/edgeflush/internal/awsconf"
)

func init() {
	register(newSetupCmd)
	register(newTeardownCmd)
}

type setupFlags struct {
	pipeline, afterStage, stageName      string
	functionName, roleName, zip, arch    string
	functionTimeout, memory              int
	distributions, tenants               []string
	bucket, prefix, inputArtifact, slack string
	removedVersionsDays                  int
	dryRun, verify                       bool
	release                              releaseSetupFlags // release.go
}

func newSetupCmd(a *app) *cobra.Command {
	f := &setupFlags{}
	cmd := &cobra.Command{
		Use:   "setup --pipeline NAME --distribution ID [--distribution ID ...] [--zip PATH]",
		Short: "Install the edgeflush action in a pipeline: role, policy, function, stage",
		Long: `Install the edgeflush action in an existing CodePipeline pipeline, the way the four
console procedures would, in one idempotent step:

  1. an IAM role Lambda can assume (--role-name, default <function>-role);
  2. its least-privilege inline policy "edgeflush": CloudFront invalidations on the given
     distributions only, the job-result calls, its own log group, and S3 on --bucket
     (deploy mode), sts:AssumeRole on --role-arn (cross-account) and ssm:GetParameter on
     --slack-webhook-parameter when given;
  3. the function (provided.al2023, handler bootstrap) from --zip;
  4. a stage with one Invoke/Lambda action right after --after-stage, or the existing
     action calling the function updated in place.

The pipeline and the stage are checked before anything is created. Every change is
printed; --dry-run prints them and makes none. A second run changes nothing. Setup only
manages a role and a function it created itself (tagged edgeflush:managed-by).

With --role-arn the function assumes that role (in the distribution's account) for its
CloudFront and S3 calls; setup itself always works with your own credentials.`,
		Example: `  make lambda-zip
  edgeflush setup --pipeline site --distribution E2EXAMPLE12345 --zip dist/edgeflush-lambda.zip --dry-run
  edgeflush setup --pipeline site --distribution E2EXAMPLE12345 --zip dist/edgeflush-lambda.zip
  edgeflush setup --pipeline site --distribution E1 --distribution E2 --after-stage Build --bucket www.example.com
  edgeflush setup --pipeline site --distribution E1 --role-arn arn:aws:iam::222222222222:role/edgeflush-invalidator --external-id site-prod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runSetup(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.pipeline, "pipeline", "", "name of the existing pipeline (required)")
	fl.StringSliceVar(&f.distributions, "distribution", nil, "CloudFront distribution ID (repeatable, or comma-separated; required unless --tenant)")
	addTenantFlag(fl, &f.tenants, "distribution tenant ID the function may invalidate (repeatable; UserParameters DistributionTenantIds)")
	fl.StringVar(&f.afterStage, "after-stage", setup.DefaultAfterStage, "insert the new stage after this stage")
	fl.StringVar(&f.stageName, "stage-name", setup.DefaultStageName, "name of the new stage and its action")
	fl.StringVar(&f.functionName, "function-name", setup.DefaultFunctionName, "Lambda function name")
	fl.StringVar(&f.roleName, "role-name", "", "IAM role name for the function (default <function-name>-role)")
	fl.StringVar(&f.zip, "zip", "", "function package built by `make lambda-zip` (needed to create the function; updates its code when it differs)")
	fl.StringVar(&f.arch, "architecture", setup.DefaultArchitecture, "architecture the zip was built for: arm64 or x86_64")
	fl.IntVar(&f.functionTimeout, "function-timeout", setup.DefaultTimeout, "function timeout in seconds")
	fl.IntVar(&f.memory, "memory", setup.DefaultMemorySize, "function memory in MB")
	fl.StringVar(&f.bucket, "bucket", "", "deploy mode: the site bucket the action syncs its input artifact to")
	fl.StringVar(&f.prefix, "prefix", "", "deploy mode: key prefix in --bucket")
	fl.StringVar(&f.inputArtifact, "input-artifact", "", "deploy mode: the artifact to sync (default: what the --after-stage stage reads)")
	fl.IntVar(&f.removedVersionsDays, "removed-versions-days", 0, "with --bucket: turn on versioning in the site bucket and add a lifecycle rule expiring its noncurrent versions (what deploys deleted or overwrote) after this many days")
	fl.StringVar(&f.slack, "slack-webhook-parameter", "", "SSM SecureString parameter holding a Slack webhook URL (e.g. /edgeflush/slack-webhook)")
	fl.BoolVar(&f.verify, "verify", false, `deploy mode: the action checks the changed URLs at the edge before it succeeds ("Verify": true; grants cloudfront:GetDistribution)`)
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the changes, make none")
	addReleaseSetupFlags(fl, &f.release)
	return cmd
}

func (a *app) runSetup(ctx context.Context, f *setupFlags) error {
	if f.release.on {
		kvsARN, err := a.runReleaseSetup(ctx, f.distributions, f.release, f.dryRun)
		if err != nil || f.pipeline == "" {
			return err
		}
		f.release.kvsARN = kvsARN
	}
	if f.pipeline == "" {
		return usageErrorf("--pipeline is required")
	}
	if len(f.distributions) == 0 && len(f.tenants) == 0 {
		return usageErrorf("--distribution is required (or --tenant for distribution tenants)")
	}
	// Checked here as well as in setup: the int32 conversion below must not wrap.
	if f.functionTimeout < 1 || f.functionTimeout > 900 {
		return usageErrorf("--function-timeout %d: Lambda allows 1 to 900 seconds", f.functionTimeout)
	}
	if f.memory < 128 || f.memory > 10240 {
		return usageErrorf("--memory %d: Lambda allows 128 to 10240 MB", f.memory)
	}
	var zip []byte
	if f.zip != "" {
		b, err := setup.ReadZip(f.zip)
		if err != nil {
			return err
		}
		zip = b
	}
	clients, region, err := a.setupClients(ctx)
	if err != nil {
		return err
	}
	o := setup.Options{
		Pipeline: f.pipeline, DistributionIDs: f.distributions, TenantIDs: f.tenants, AfterStage: f.afterStage, StageName: f.stageName,
		FunctionName: f.functionName, RoleName: f.roleName, Zip: zip, Architecture: f.arch,
		Timeout: int32(f.functionTimeout), MemorySize: int32(f.memory),
		Bucket: f.bucket, Prefix: f.prefix, InputArtifact: f.inputArtifact, Verify: f.verify,
		RoleARN: a.roleARN, ExternalID: a.externalID, SlackWebhookParameter: f.slack, KvsARN: f.release.kvsARN, RemovedVersionsDays: f.removedVersionsDays,
		Region: region,
	}
	plan, err := setup.PlanSetup(ctx, clients, o)
	if err != nil {
		return setupError(err)
	}
	fmt.Fprintf(a.stdout, "setup of pipeline %s, function %s:\n", f.pipeline, f.functionName)
	return a.applySetupPlan(ctx, plan, f.dryRun, "the pipeline already runs the action as configured")
}

type teardownFlags struct {
	pipeline, functionName, roleName string
	dryRun                           bool
	release                          releaseSetupFlags
	distributions                    []string
}

func newTeardownCmd(a *app) *cobra.Command {
	f := &teardownFlags{}
	cmd := &cobra.Command{
		Use:   "teardown --pipeline NAME [--function-name edgeflush]",
		Short: "Remove what setup installed: the stage, the function, the role policy and the role",
		Long: `Remove what "edgeflush setup" installed: the action calling the function (and its
stage when it held nothing else), then the function, the role's inline policy and the
role. A function or role that setup did not create (no edgeflush:managed-by tag) is left
alone and reported. Safe to rerun after a partial failure.`,
		Example: `  edgeflush teardown --pipeline site --dry-run
  edgeflush teardown --pipeline site`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runTeardown(cmd.Context(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.pipeline, "pipeline", "", "name of the pipeline (required)")
	fl.StringVar(&f.functionName, "function-name", setup.DefaultFunctionName, "Lambda function name")
	fl.StringVar(&f.roleName, "role-name", "", "IAM role name (default <function-name>-role)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the changes, make none")
	fl.StringSliceVar(&f.distributions, "distribution", nil, "with --release: the distribution setup --release installed on")
	addReleaseSetupFlags(fl, &f.release)
	return cmd
}

func (a *app) runTeardown(ctx context.Context, f *teardownFlags) error {
	if f.release.on {
		if err := a.runReleaseTeardown(ctx, f.distributions, f.release, f.dryRun); err != nil || f.pipeline == "" {
			return err
		}
	}
	if f.pipeline == "" {
		return usageErrorf("--pipeline is required")
	}
	clients, _, err := a.setupClients(ctx)
	if err != nil {
		return err
	}
	plan, err := setup.PlanTeardown(ctx, clients, setup.TeardownOptions{Pipeline: f.pipeline, FunctionName: f.functionName, RoleName: f.roleName})
	if err != nil {
		return setupError(err)
	}
	fmt.Fprintf(a.stdout, "teardown of pipeline %s, function %s:\n", f.pipeline, f.functionName)
	return a.applySetupPlan(ctx, plan, f.dryRun, "nothing left to remove")
}

// setupError turns a bad option value into a usage error (exit code 2).
func setupError(err error) error {
	var oe *setup.OptionError
	if errors.As(err, &oe) {
		return &usageError{err}
	}
	return err
}

// setupClients builds the IAM, Lambda, CodePipeline and STS clients from the caller's
// own identity: --role-arn is the role the installed function assumes, not the one
// setup works with.
func (a *app) setupClients(ctx context.Context) (setup.Clients, string, error) {
	cfg, err := a.baseAWSConfig(ctx)
	if err != nil {
		return setup.Clients{}, "", err
	}
	return setup.Clients{
		IAM:      iam.NewFromConfig(cfg),
		Lambda:   lambda.NewFromConfig(cfg),
		Pipeline: codepipeline.NewFromConfig(cfg),
		Identity: sts.NewFromConfig(cfg),
		S3:       awsconf.NewS3(cfg),
	}, cfg.Region, nil
}

// applyPlan prints the plan and applies it unless dryRun.
func (a *app) applySetupPlan(ctx context.Context, plan *setup.Plan, dryRun bool, nothing string) error {
	printSetupPlan(a.stdout, plan)
	switch {
	case plan.Empty():
		fmt.Fprintf(a.stdout, "no changes: %s\n", nothing)
		return nil
	case dryRun:
		fmt.Fprintf(a.stdout, "dry run: %d %s planned, nothing changed\n", len(plan.Changes), setupPlural(len(plan.Changes), "change"))
		return nil
	}
	if err := plan.Apply(ctx); err != nil {
		return fmt.Errorf("%w; rerun the same command to resume", err)
	}
	fmt.Fprintf(a.stdout, "applied %d %s\n", len(plan.Changes), setupPlural(len(plan.Changes), "change"))
	return nil
}

func printSetupPlan(w io.Writer, plan *setup.Plan) {
	for _, c := range plan.Changes {
		fmt.Fprintf(w, "  %s\n", c)
	}
	for _, n := range plan.Notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func setupPlural(n int, word string) string {
	if n == 1 {
		return word
	}
	return strings.TrimSuffix(word, "s") + "s"
}
