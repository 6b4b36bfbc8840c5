// Package setup installs the edgeflush action into an existing CodePipeline pipeline the
// way the four console procedures would — an execution role, its least-privilege inline
// policy, the Lambda function, and a pipeline stage holding one Invoke/Lambda action — and
// removes it again. It first reads everything and plans a list of changes (so a dry run
// can print them and a second run finds none), then applies them in order.
//
// AWS clients enter through the small interfaces below; the command line builds them from
// the SDK's default configuration, so AWS_ENDPOINT_URL and friends work as everywhere else.
package setup

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// IAMAPI is the subset of *iam.Client used here.
type IAMAPI interface {
	GetRole(ctx context.Context, in *iam.GetRoleInput, optFns ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	CreateRole(ctx context.Context, in *iam.CreateRoleInput, optFns ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	UpdateAssumeRolePolicy(ctx context.Context, in *iam.UpdateAssumeRolePolicyInput, optFns ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
	GetRolePolicy(ctx context.Context, in *iam.GetRolePolicyInput, optFns ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	PutRolePolicy(ctx context.Context, in *iam.PutRolePolicyInput, optFns ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	DeleteRolePolicy(ctx context.Context, in *iam.DeleteRolePolicyInput, optFns ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	DeleteRole(ctx context.Context, in *iam.DeleteRoleInput, optFns ...func(*iam.Options)) (*iam.DeleteRoleOutput, error)
}

// LambdaAPI is the subset of *lambda.Client used here (GetFunction also feeds the SDK's
// function-active and function-updated waiters).
type LambdaAPI interface {
	GetFunction(ctx context.Context, in *lambda.GetFunctionInput, optFns ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error)
	CreateFunction(ctx context.Context, in *lambda.CreateFunctionInput, optFns ...func(*lambda.Options)) (*lambda.CreateFunctionOutput, error)
	UpdateFunctionCode(ctx context.Context, in *lambda.UpdateFunctionCodeInput, optFns ...func(*lambda.Options)) (*lambda.UpdateFunctionCodeOutput, error)
	UpdateFunctionConfiguration(ctx context.Context, in *lambda.UpdateFunctionConfigurationInput, optFns ...func(*lambda.Options)) (*lambda.UpdateFunctionConfigurationOutput, error)
	DeleteFunction(ctx context.Context, in *lambda.DeleteFunctionInput, optFns ...func(*lambda.Options)) (*lambda.DeleteFunctionOutput, error)
}

// PipelineAPI is the subset of *codepipeline.Client used here.
type PipelineAPI interface {
	GetPipeline(ctx context.Context, in *codepipeline.GetPipelineInput, optFns ...func(*codepipeline.Options)) (*codepipeline.GetPipelineOutput, error)
	UpdatePipeline(ctx context.Context, in *codepipeline.UpdatePipelineInput, optFns ...func(*codepipeline.Options)) (*codepipeline.UpdatePipelineOutput, error)
}

// IdentityAPI is the subset of *sts.Client used here: the account and partition that
// the role's ARNs are built from.
type IdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

// Clients bundles the AWS clients setup and teardown use.
type Clients struct {
	IAM      IAMAPI
	Lambda   LambdaAPI
	Pipeline PipelineAPI
	Identity IdentityAPI
	// S3 is only needed with Options.RemovedVersionsDays.
	S3 S3API
}

// Defaults for Options.
const (
	DefaultFunctionName = "edgeflush"
	DefaultAfterStage   = "Deploy"
	DefaultStageName    = "Invalidate"
	DefaultArchitecture = "arm64"
	DefaultTimeout      = 300 // seconds; one invocation, longer waits go through continuation tokens
	DefaultMemorySize   = 256 // MB
	Runtime             = "provided.al2023"
	Handler             = "bootstrap"
	// PolicyName is the inline policy setup puts on the role.
	PolicyName = "edgeflush"
	// ManagedTagKey marks the role and the function setup created; setup refuses to take
	// over, and teardown to delete, resources without it.
	ManagedTagKey   = "edgeflush:managed-by"
	ManagedTagValue = "edgeflush-setup"
)

// Options describes what setup installs.
type Options struct {
	Pipeline        string   // required: an existing pipeline
	DistributionIDs []string // at least one distribution or tenant
	// TenantIDs are distribution tenants (UserParameters "DistributionTenantIds"); the
	// role may invalidate each on its distribution-tenant ARN.
	TenantIDs    []string
	AfterStage   string // stage the new stage goes after; DefaultAfterStage when ""
	StageName    string // name of the new stage (and its action); DefaultStageName when ""
	FunctionName string // DefaultFunctionName when ""
	RoleName     string // FunctionName+"-role" when ""
	// Zip is the function package (a zip holding "bootstrap"). It is required to create
	// the function; when the function exists and Zip is nil its code is left as it is.
	Zip          []byte
	Architecture string // arm64 (default) or x86_64, matching how the zip was built
	Timeout      int32  // seconds, DefaultTimeout when 0
	MemorySize   int32  // MB, DefaultMemorySize when 0

	// Deploy mode: the action syncs its input artifact to Bucket (under Prefix) first.
	Bucket, Prefix string
	// InputArtifact is the artifact the action reads in deploy mode; when "" it is the
	// first input artifact of the AfterStage stage's actions.
	InputArtifact string
	// Verify (deploy mode) sets "Verify": true in UserParameters and grants
	// cloudfront:GetDistribution on the distributions, which the check at the edge reads.
	Verify bool
	// RemovedVersionsDays, when set (deploy mode), turns on versioning in Bucket and adds
	// the lifecycle rule LifecycleRuleID: noncurrent versions under Prefix (what a
	// deploy deleted or overwrote) expire after that many days.
	RemovedVersionsDays int

	// Cross-account: the function assumes RoleARN (with ExternalID) for CloudFront and S3
	// calls. The policy then grants sts:AssumeRole on it instead of CloudFront rights,
	// since the distributions live in the other account.
	RoleARN, ExternalID string
	// KvsARN turns on release mode (needs Bucket): the action deploys releases and
	// switches this KeyValueStore (`setup --release` creates it); the policy grants the
	// three KeyValueStore calls on it.
	KvsARN string
	// SlackWebhookParameter is an SSM SecureString name holding a Slack webhook URL.
	SlackWebhookParameter string

	// Region is the region of the pipeline and function (log group ARNs, SSM ARNs).
	Region string

	// RetryInterval and RetryTimeout bound the retries of CreateFunction while a new
	// role is not yet assumable by Lambda (IAM is eventually consistent: this takes
	// several seconds on AWS). Zero means 3 s and 90 s.
	RetryInterval, RetryTimeout time.Duration
	// WaitMinDelay/WaitMaxDelay/WaitTimeout tune the Lambda waiters between updates.
	// Zero means the SDK's 1 s minimum, 10 s maximum, 5 minutes overall.
	WaitMinDelay, WaitMaxDelay, WaitTimeout time.Duration
}

// Error kinds callers can tell apart with errors.As.

// NotFoundError is returned when the pipeline or a stage setup needs does not exist.
type NotFoundError struct {
	What, Name string
	Hint       string
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("%s %q not found", e.What, e.Name)
	if e.Hint != "" {
		msg += ": " + e.Hint
	}
	return msg
}

// ConflictError is returned when a resource setup would manage exists but was not
// created by setup (no ManagedTagKey tag), or a stage name is taken by something else.
type ConflictError struct {
	What, Name, Reason string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.What, e.Name, e.Reason)
}

// OptionError is a bad option value (a malformed id or name, a missing required
// option): the command line reports it as a usage error.
type OptionError struct{ Err error }

func (e *OptionError) Error() string { return e.Err.Error() }
func (e *OptionError) Unwrap() error { return e.Err }

func optionErrorf(format string, args ...any) error {
	return &OptionError{Err: fmt.Errorf(format, args...)}
}

// functionNameRe is Lambda's rule for a plain function name.
var functionNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// roleNameRe is IAM's rule for a role name.
var roleNameRe = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)

// distributionIDRe matches CloudFront distribution ids.
var distributionIDRe = regexp.MustCompile(`^[A-Z0-9]{1,32}$`)

var roleARNRe = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`)

func (o *Options) normalize() error {
	if strings.TrimSpace(o.Pipeline) == "" {
		return optionErrorf("no pipeline: pass --pipeline NAME")
	}
	var ids []string
	seen := map[string]bool{}
	for _, id := range o.DistributionIDs {
		id = strings.TrimSpace(id)
		if id == "" || seen[id] {
			continue
		}
		if !distributionIDRe.MatchString(id) {
			return optionErrorf("distribution id %q: expected upper-case letters and digits such as E2EXAMPLE12345", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	tenants, err := normalizeTenants(o.TenantIDs)
	if err != nil {
		return err
	}
	if len(ids) == 0 && len(tenants) == 0 {
		return optionErrorf("no distribution: pass --distribution ID (repeatable) or --tenant ID")
	}
	o.DistributionIDs, o.TenantIDs = ids, tenants
	if o.KvsARN != "" && o.Bucket == "" {
		return optionErrorf("--release with --pipeline needs --bucket: the action deploys the releases into it")
	}
	if o.AfterStage == "" {
		o.AfterStage = DefaultAfterStage
	}
	if o.StageName == "" {
		o.StageName = DefaultStageName
	}
	if o.FunctionName == "" {
		o.FunctionName = DefaultFunctionName
	}
	if !functionNameRe.MatchString(o.FunctionName) {
		return optionErrorf("function name %q: use 1-64 letters, digits, '-' or '_'", o.FunctionName)
	}
	if o.RoleName == "" {
		o.RoleName = o.FunctionName + "-role"
	}
	if !roleNameRe.MatchString(o.RoleName) {
		return optionErrorf("role name %q: use 1-64 letters, digits or +=,.@_-", o.RoleName)
	}
	switch o.Architecture {
	case "":
		o.Architecture = DefaultArchitecture
	case "arm64", "x86_64":
	default:
		return optionErrorf("architecture %q: use arm64 or x86_64", o.Architecture)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Timeout < 1 || o.Timeout > 900 {
		return optionErrorf("timeout %d s: Lambda allows 1 to 900", o.Timeout)
	}
	if o.MemorySize == 0 {
		o.MemorySize = DefaultMemorySize
	}
	if o.MemorySize < 128 || o.MemorySize > 10240 {
		return optionErrorf("memory size %d MB: Lambda allows 128 to 10240", o.MemorySize)
	}
	if o.RoleARN != "" && !roleARNRe.MatchString(o.RoleARN) {
		return optionErrorf("role ARN %q: expected arn:aws:iam::ACCOUNT:role/NAME", o.RoleARN)
	}
	if o.Verify && o.Bucket == "" {
		return optionErrorf("verify compares the edge with the site bucket: it needs deploy mode (--bucket)")
	}
	if o.ExternalID != "" && o.RoleARN == "" {
		return optionErrorf("an external id needs a role ARN to assume (--role-arn)")
	}
	if o.RemovedVersionsDays < 0 || o.RemovedVersionsDays > 0 && o.Bucket == "" {
		return optionErrorf("--removed-versions-days %d: give a number of days with --bucket (the site bucket whose removed objects S3 sweeps)", o.RemovedVersionsDays)
	}
	if o.SlackWebhookParameter != "" && !strings.HasPrefix(o.SlackWebhookParameter, "/") {
		// A name without a leading slash has ARN ...:parameter/NAME, with one
		// ...:parameterNAME; requiring the slash keeps the policy's ARN unambiguous.
		return optionErrorf("SSM parameter %q: use a path starting with '/', such as /edgeflush/slack-webhook", o.SlackWebhookParameter)
	}
	if o.Region == "" {
		return optionErrorf("no region: set AWS_REGION or pass --region")
	}
	if o.Zip != nil {
		if err := CheckZip(o.Zip); err != nil {
			return &OptionError{Err: fmt.Errorf("function zip: %w", err)}
		}
	}
	if o.RetryInterval == 0 {
		o.RetryInterval = 3 * time.Second
	}
	if o.RetryTimeout == 0 {
		o.RetryTimeout = 90 * time.Second
	}
	if o.WaitMinDelay == 0 {
		o.WaitMinDelay = time.Second
	}
	if o.WaitMaxDelay == 0 {
		o.WaitMaxDelay = 10 * time.Second
	}
	if o.WaitMaxDelay < o.WaitMinDelay {
		o.WaitMaxDelay = o.WaitMinDelay
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = 5 * time.Minute
	}
	return nil
}

// codeSHA256 is how Lambda reports a package's hash: base64 of the SHA-256 digest.
func codeSHA256(zip []byte) string {
	sum := sha256.Sum256(zip)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// Action is what a Change does.
type Action string

// Change actions, printed as the first column of a plan.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

func (a Action) symbol() string {
	switch a {
	case Create:
		return "+"
	case Delete:
		return "-"
	}
	return "~"
}

// Change is one planned modification.
type Change struct {
	Action   Action
	Resource string // "role", "policy", "function", "function code", "stage"
	Name     string
	Detail   string // what changes, for humans

	apply func(ctx context.Context) error
}

// String renders the change as one plan line: "+ create role edgeflush-role (...)".
func (c Change) String() string {
	s := fmt.Sprintf("%s %s %s %s", c.Action.symbol(), c.Action, c.Resource, c.Name)
	if c.Detail != "" {
		s += " (" + c.Detail + ")"
	}
	return s
}

// Plan is the ordered list of changes setup or teardown would make.
type Plan struct {
	Changes []Change
	// Notes are things left alone on purpose, for humans (teardown of resources that
	// setup did not create, a missing pipeline stage, ...).
	Notes []string
}

// Empty reports whether there is nothing to do.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Apply makes the changes in order and stops at the first failure; the error names the
// change and how many were applied before it, and a rerun of setup resumes from there.
func (p *Plan) Apply(ctx context.Context) error {
	for i, c := range p.Changes {
		if err := c.apply(ctx); err != nil {
			return fmt.Errorf("%s %s %s (after %d of %d changes applied): %w", c.Action, c.Resource, c.Name, i, len(p.Changes), err)
		}
	}
	return nil
}
