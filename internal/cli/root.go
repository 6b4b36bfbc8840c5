// Package cli holds edgeflush's cobra commands. root.go builds the root command and its
// persistent flags; every subcommand lives in its own file and adds itself with
// `func init() { register(newXxxCmd) }`. Configuration precedence (flag > environment >
// config file) is resolved in one place, config.go, before any command runs, so a command
// only reads its own flag variables.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/edgeflush/edgeflush/internal/awsconf"
)

// Exit codes of Main.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// commands holds the constructors of every subcommand; each command file appends to it
// from init through register.
var commands []func(*app) *cobra.Command

// register adds a subcommand constructor. Call it from the command file's init.
func register(f func(*app) *cobra.Command) { commands = append(commands, f) }

// app is the state shared by all commands of one Main call: I/O, the global flags and
// how to get an AWS configuration. Tests replace fields (getenv, awsConfig) freely.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// getenv reads the process environment; config.go uses it for EDGEFLUSH_* variables.
	getenv func(string) string

	// Persistent flags.
	region, roleARN, externalID, configPath string

	// resolvedConfig is the config file actually read ("" when none), set by config.go.
	resolvedConfig string
	// settings are the config file's top-level keys (without rules), set by config.go.
	settings map[string]any
	// sources tells for each flag resolved outside the command line where its value
	// came from ("env EDGEFLUSH_X" or "config file.yaml"), for error messages.
	sources map[string]string

	// awsConfig returns the SDK configuration for the CloudFront/S3 calls: the
	// default chain with --region, and the role from --role-arn assumed when given.
	awsConfig func(ctx context.Context) (aws.Config, error)
	// baseAWSConfig is the caller's own identity (no --role-arn), for calls that must
	// not go through the assumed role.
	baseAWSConfig func(ctx context.Context) (aws.Config, error)
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	a.baseAWSConfig = func(ctx context.Context) (aws.Config, error) {
		cfg, err := awsconf.Load(ctx, awsconf.Options{Region: a.region})
		if err != nil {
			return aws.Config{}, err
		}
		// No credentials at all is one line naming the settings that supply them,
		// for every command, instead of the SDK's chain error on the first call.
		if err := awsconf.CheckCredentials(ctx, cfg); err != nil {
			return aws.Config{}, err
		}
		return cfg, nil
	}
	a.awsConfig = func(ctx context.Context) (aws.Config, error) {
		cfg, err := a.baseAWSConfig(ctx)
		if err != nil {
			return aws.Config{}, err
		}
		if a.roleARN != "" {
			cfg = awsconf.AssumeRole(cfg, a.roleARN, a.externalID, "edgeflush-cli")
		}
		return cfg, nil
	}
	return a
}

// cloudFront returns a CloudFront client built from awsConfig (so --role-arn applies),
// whose invalidation calls also reach distribution tenants (tenant.go).
func (a *app) cloudFront(ctx context.Context) (*cloudFrontClient, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return newCloudFrontClient(cloudfront.NewFromConfig(cfg)), nil
}

// s3Client returns an S3 client for bucket built from awsConfig (so --role-arn
// applies), in the bucket's own region, with path-style addressing on custom endpoints.
func (a *app) s3Client(ctx context.Context, bucket string) (*s3.Client, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return awsconf.NewS3ForBucket(ctx, cfg, bucket)
}

// usageError marks an error as a usage problem (exit code 2): a bad flag, a missing
// argument, a bad configuration value.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usage error (exit code 2).
func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// runError marks an error returned by a command's RunE (exit code 1), as opposed to
// the errors cobra itself returns while parsing (unknown command, bad flag: exit 2).
type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// newRootCmd builds the whole command tree for one Main call.
func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "edgeflush",
		Short: "Put a static site on S3 + CloudFront with no stale cache",
		Long: `edgeflush invalidates CloudFront caches (and waits for completion), plans the
smallest set of invalidation paths for a change set, deploys sites to S3 and sets up
the CodePipeline action.

Every flag can also come from the environment (EDGEFLUSH_<FLAG_NAME>, e.g.
EDGEFLUSH_MAX_PATHS) or from a top-level key of the config file (.edgeflush.yaml by
default, e.g. "max-paths: 30"). A flag on the command line wins over the environment,
which wins over the config file.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.resolveConfig(cmd); err != nil {
				return err
			}
			// An external id is only ever sent with AssumeRole: alone it would be
			// silently dropped, and the user would believe the role is in use.
			if a.externalID != "" && a.roleARN == "" {
				return usageErrorf("--external-id needs --role-arn: it is only sent when assuming that role")
			}
			return nil
		},
	}
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })

	pf := root.PersistentFlags()
	pf.StringVar(&a.region, "region", "", "AWS region for the SDK (default from the environment, else us-east-1)")
	pf.StringVar(&a.roleARN, "role-arn", "", "IAM role to assume for the CloudFront and S3 calls (cross-account)")
	pf.StringVar(&a.externalID, "external-id", "", "external ID to pass when assuming --role-arn")
	pf.StringVar(&a.configPath, "config", "", "config file (default .edgeflush.yaml when it exists)")

	for _, f := range commands {
		root.AddCommand(f(a))
	}
	// cobra's `completion bash|zsh|fish|powershell`, added now (rather than when it
	// runs) so that it can be marked to skip the config file like version and help.
	root.InitDefaultCompletionCmd()
	if c, _, err := root.Find([]string{"completion"}); err == nil && c != root {
		markNoConfig(c)
	}
	markRunErrors(root)
	return root
}

// markNoConfig annotates c and its subcommands to skip config resolution.
func markNoConfig(c *cobra.Command) {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[annotationNoConfig] = "true"
	for _, sub := range c.Commands() {
		markNoConfig(sub)
	}
}

// markRunErrors wraps every command's RunE so that Main can tell the command's own
// failures (exit 1) from cobra's parse errors (exit 2).
func markRunErrors(c *cobra.Command) {
	if c.RunE != nil {
		run := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			var ue *usageError
			if err != nil && !errors.As(err, &ue) {
				return &runError{err}
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		markRunErrors(sub)
	}
}

// Main runs edgeflush with args (without the program name) and returns the exit code:
// 0 on success, 1 on failure, 2 on a usage error. Failures print exactly one line,
// "edgeflush: <reason>", on stderr.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return run(ctx, newApp(stdin, stdout, stderr), args)
}

// run executes the command tree with a prepared app (tests use it to inject fakes).
func run(ctx context.Context, a *app, args []string) int {
	root := newRootCmd(a)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	var re *runError
	var ue *usageError
	code := exitUsage
	switch {
	case errors.As(err, &ue):
		code = exitUsage
	case errors.As(err, &re):
		code = exitFailure
	}
	msg := oneLine(err.Error())
	if code == exitUsage && cmd != nil {
		msg += fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
	}
	fmt.Fprintf(a.stderr, "edgeflush: %s\n", msg)
	return code
}

// oneLine folds a multi-line error message into one line so that stderr stays
// machine-readable ("edgeflush: <reason>").
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ")
}
