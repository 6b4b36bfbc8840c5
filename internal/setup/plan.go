package setup

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// PlanSetup reads the pipeline, role, policy and function and returns the changes that
// make them match o. It creates nothing: the pipeline and the stage to insert after are
// checked first, and every problem found while reading is returned before any change.
func PlanSetup(ctx context.Context, c Clients, o Options) (*Plan, error) {
	if err := o.normalize(); err != nil {
		return nil, err
	}
	// 1. The pipeline and the stage: checked before anything else is even read.
	decl, err := getPipeline(ctx, c.Pipeline, o.Pipeline)
	if err != nil {
		return nil, err
	}
	stagePlan, err := planStage(decl, &o)
	if err != nil {
		return nil, err
	}

	acct, err := callerAccount(ctx, c.Identity)
	if err != nil {
		return nil, err
	}
	plan := &Plan{}

	// 2. The role and its trust policy.
	role, err := getRole(ctx, c.IAM, o.RoleName)
	if err != nil {
		return nil, err
	}
	trust := trustPolicy()
	roleARN := fmt.Sprintf("arn:%s:iam::%s:role/%s", acct.Partition, acct.ID, o.RoleName)
	roleIsNew := role == nil
	if role == nil {
		plan.Changes = append(plan.Changes, Change{
			Action: Create, Resource: "role", Name: o.RoleName,
			Detail: "trusted by lambda.amazonaws.com",
			apply: func(ctx context.Context) error {
				_, err := c.IAM.CreateRole(ctx, &iam.CreateRoleInput{
					RoleName:                 aws.String(o.RoleName),
					AssumeRolePolicyDocument: aws.String(trust.json()),
					Description:              aws.String("edgeflush function role (created by edgeflush setup)"),
					Tags:                     []iamtypes.Tag{{Key: aws.String(ManagedTagKey), Value: aws.String(ManagedTagValue)}},
				})
				return err
			},
		})
	} else {
		if !roleManaged(role) {
			return nil, &ConflictError{What: "role", Name: o.RoleName, Reason: fmt.Sprintf("exists and was not created by edgeflush setup (no %s tag); pass --role-name to use another name", ManagedTagKey)}
		}
		roleARN = aws.ToString(role.Arn)
		if !samePolicy(aws.ToString(role.AssumeRolePolicyDocument), trust) {
			plan.Changes = append(plan.Changes, Change{
				Action: Update, Resource: "role trust policy", Name: o.RoleName,
				Detail: "trusted by lambda.amazonaws.com",
				apply: func(ctx context.Context) error {
					_, err := c.IAM.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{
						RoleName: aws.String(o.RoleName), PolicyDocument: aws.String(trust.json()),
					})
					return err
				},
			})
		}
	}

	// 3. The inline policy.
	policy := rolePolicy(acct, &o)
	stored := ""
	if !roleIsNew {
		if stored, err = getRolePolicy(ctx, c.IAM, o.RoleName, PolicyName); err != nil {
			return nil, err
		}
	}
	if stored == "" || !samePolicy(stored, policy) {
		act := Create
		if stored != "" {
			act = Update
		}
		plan.Changes = append(plan.Changes, Change{
			Action: act, Resource: "role policy", Name: o.RoleName + "/" + PolicyName,
			Detail: policySummary(&o),
			apply: func(ctx context.Context) error {
				_, err := c.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{
					RoleName: aws.String(o.RoleName), PolicyName: aws.String(PolicyName), PolicyDocument: aws.String(policy.json()),
				})
				return err
			},
		})
	}

	// 4. The function.
	fnChanges, err := planFunction(ctx, c.Lambda, &o, roleARN)
	if err != nil {
		return nil, err
	}
	plan.Changes = append(plan.Changes, fnChanges...)

	// The site bucket's sweeper, when asked.
	lifecycle, err := planLifecycle(ctx, c.S3, o)
	if err != nil {
		return nil, err
	}
	plan.Changes = append(plan.Changes, lifecycle...)

	// 5. The pipeline stage, last: the pipeline only calls the function once it exists.
	if stagePlan != nil {
		plan.Changes = append(plan.Changes, Change{
			Action: stagePlan.action, Resource: "pipeline stage", Name: o.Pipeline + "/" + stagePlan.stageName,
			Detail: stagePlan.detail,
			apply: func(ctx context.Context) error {
				return updatePipeline(ctx, c.Pipeline, stagePlan.pipeline)
			},
		})
	}
	return plan, nil
}

func policySummary(o *Options) string {
	var parts []string
	if o.RoleARN != "" {
		parts = append(parts, "sts:AssumeRole "+o.RoleARN)
	} else {
		parts = append(parts, "cloudfront invalidations on "+strings.Join(append(slices.Clone(o.DistributionIDs), o.TenantIDs...), ", "))
		if o.Bucket != "" {
			parts = append(parts, "s3 on "+o.Bucket)
		}
	}
	if o.SlackWebhookParameter != "" {
		parts = append(parts, "ssm:GetParameter "+o.SlackWebhookParameter)
	}
	parts = append(parts, "job results", "own log group")
	return strings.Join(parts, "; ")
}

func callerAccount(ctx context.Context, api IdentityAPI) (account, error) {
	out, err := api.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return account{}, fmt.Errorf("get caller identity: %w", err)
	}
	a, err := arn.Parse(aws.ToString(out.Arn))
	if err != nil {
		return account{}, fmt.Errorf("get caller identity: unexpected ARN %q: %w", aws.ToString(out.Arn), err)
	}
	id := aws.ToString(out.Account)
	if id == "" {
		id = a.AccountID
	}
	return account{ID: id, Partition: a.Partition}, nil
}

// getRole returns nil, nil when the role does not exist.
func getRole(ctx context.Context, api IAMAPI, name string) (*iamtypes.Role, error) {
	out, err := api.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get role %s: %w", name, err)
	}
	return out.Role, nil
}

// getRolePolicy returns "" when the role has no such inline policy.
func getRolePolicy(ctx context.Context, api IAMAPI, role, policy string) (string, error) {
	out, err := api.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(role), PolicyName: aws.String(policy)})
	var nse *iamtypes.NoSuchEntityException
	switch {
	case errors.As(err, &nse):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("get policy %s of role %s: %w", policy, role, err)
	}
	return aws.ToString(out.PolicyDocument), nil
}

func roleManaged(r *iamtypes.Role) bool {
	for _, t := range r.Tags {
		if aws.ToString(t.Key) == ManagedTagKey && aws.ToString(t.Value) == ManagedTagValue {
			return true
		}
	}
	return false
}

// getFunction returns nil, nil when the function does not exist.
func getFunction(ctx context.Context, api LambdaAPI, name string) (*lambda.GetFunctionOutput, error) {
	out, err := api.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(name)})
	var nf *lambdatypes.ResourceNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("get function %s: %w", name, err)
	}
	return out, nil
}

func planFunction(ctx context.Context, api LambdaAPI, o *Options, roleARN string) ([]Change, error) {
	fn, err := getFunction(ctx, api, o.FunctionName)
	if err != nil {
		return nil, err
	}
	arch := lambdatypes.Architecture(o.Architecture)
	if fn == nil {
		if o.Zip == nil {
			return nil, fmt.Errorf("function %s does not exist and no zip was given: build one with `make lambda-zip` and pass --zip dist/edgeflush-lambda.zip", o.FunctionName)
		}
		zip := o.Zip
		return []Change{{
			Action: Create, Resource: "function", Name: o.FunctionName,
			Detail: fmt.Sprintf("%s %s, handler %s, %d s, %d MB, zip %s", Runtime, o.Architecture, Handler, o.Timeout, o.MemorySize, sizeString(len(zip))),
			apply: func(ctx context.Context) error {
				if err := createFunction(ctx, api, o, roleARN, zip); err != nil {
					return err
				}
				w := lambda.NewFunctionActiveV2Waiter(api, func(w *lambda.FunctionActiveV2WaiterOptions) {
					w.MinDelay, w.MaxDelay = o.WaitMinDelay, o.WaitMaxDelay
				})
				if err := w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(o.FunctionName)}, o.WaitTimeout); err != nil {
					return fmt.Errorf("wait for function %s to become active: %w", o.FunctionName, err)
				}
				return nil
			},
		}}, nil
	}

	if fn.Tags[ManagedTagKey] != ManagedTagValue {
		return nil, &ConflictError{What: "function", Name: o.FunctionName, Reason: fmt.Sprintf("exists and was not created by edgeflush setup (no %s tag; deployed with the SAM template? Lambda also hides tags from callers without lambda:ListTags); pass --function-name to use another name", ManagedTagKey)}
	}
	cfg := fn.Configuration
	if cfg == nil {
		return nil, fmt.Errorf("get function %s: the answer has no configuration", o.FunctionName)
	}
	var changes []Change
	var diffs []string
	if string(cfg.Runtime) != Runtime {
		diffs = append(diffs, fmt.Sprintf("runtime %s -> %s", cfg.Runtime, Runtime))
	}
	if aws.ToString(cfg.Handler) != Handler {
		diffs = append(diffs, fmt.Sprintf("handler %s -> %s", aws.ToString(cfg.Handler), Handler))
	}
	if aws.ToString(cfg.Role) != roleARN {
		diffs = append(diffs, fmt.Sprintf("role %s -> %s", aws.ToString(cfg.Role), roleARN))
	}
	if aws.ToInt32(cfg.Timeout) != o.Timeout {
		diffs = append(diffs, fmt.Sprintf("timeout %d -> %d s", aws.ToInt32(cfg.Timeout), o.Timeout))
	}
	if aws.ToInt32(cfg.MemorySize) != o.MemorySize {
		diffs = append(diffs, fmt.Sprintf("memory %d -> %d MB", aws.ToInt32(cfg.MemorySize), o.MemorySize))
	}
	if len(diffs) > 0 {
		changes = append(changes, Change{
			Action: Update, Resource: "function configuration", Name: o.FunctionName,
			Detail: strings.Join(diffs, ", "),
			apply: func(ctx context.Context) error {
				_, err := api.UpdateFunctionConfiguration(ctx, &lambda.UpdateFunctionConfigurationInput{
					FunctionName: aws.String(o.FunctionName),
					Runtime:      lambdatypes.Runtime(Runtime),
					Handler:      aws.String(Handler),
					Role:         aws.String(roleARN),
					Timeout:      aws.Int32(o.Timeout),
					MemorySize:   aws.Int32(o.MemorySize),
				})
				if err != nil {
					return err
				}
				return waitUpdated(ctx, api, o)
			},
		})
	}
	// The architecture is part of the code: it changes only with UpdateFunctionCode.
	currentArch := lambdatypes.ArchitectureX8664
	if len(cfg.Architectures) > 0 {
		currentArch = cfg.Architectures[0]
	}
	if o.Zip != nil {
		var why []string
		if sum := codeSHA256(o.Zip); sum != aws.ToString(cfg.CodeSha256) {
			why = append(why, fmt.Sprintf("zip %s, sha256 %s", sizeString(len(o.Zip)), sum))
		}
		if currentArch != arch {
			why = append(why, fmt.Sprintf("architecture %s -> %s", currentArch, arch))
		}
		if len(why) > 0 {
			zip := o.Zip
			changes = append(changes, Change{
				Action: Update, Resource: "function code", Name: o.FunctionName,
				Detail: strings.Join(why, ", "),
				apply: func(ctx context.Context) error {
					_, err := api.UpdateFunctionCode(ctx, &lambda.UpdateFunctionCodeInput{
						FunctionName:  aws.String(o.FunctionName),
						ZipFile:       zip,
						Architectures: []lambdatypes.Architecture{arch},
					})
					if err != nil {
						return err
					}
					return waitUpdated(ctx, api, o)
				},
			})
		}
	} else if currentArch != arch {
		return nil, fmt.Errorf("function %s runs on %s, not %s: pass --zip with a package built for %s to change it", o.FunctionName, currentArch, arch, arch)
	}
	return changes, nil
}

// waitUpdated waits until the last update finished: Lambda rejects a second update
// (ResourceConflictException) while one is in progress.
func waitUpdated(ctx context.Context, api LambdaAPI, o *Options) error {
	w := lambda.NewFunctionUpdatedV2Waiter(api, func(w *lambda.FunctionUpdatedV2WaiterOptions) {
		w.MinDelay, w.MaxDelay = o.WaitMinDelay, o.WaitMaxDelay
	})
	if err := w.Wait(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(o.FunctionName)}, o.WaitTimeout); err != nil {
		return fmt.Errorf("wait for the update of function %s: %w", o.FunctionName, err)
	}
	return nil
}

// createFunction creates the function, retrying while IAM has not yet propagated a new
// role to Lambda ("The role defined for the function cannot be assumed by Lambda").
func createFunction(ctx context.Context, api LambdaAPI, o *Options, roleARN string, zip []byte) error {
	in := &lambda.CreateFunctionInput{
		FunctionName:  aws.String(o.FunctionName),
		Runtime:       lambdatypes.Runtime(Runtime),
		Handler:       aws.String(Handler),
		Role:          aws.String(roleARN),
		Code:          &lambdatypes.FunctionCode{ZipFile: zip},
		Architectures: []lambdatypes.Architecture{lambdatypes.Architecture(o.Architecture)},
		Timeout:       aws.Int32(o.Timeout),
		MemorySize:    aws.Int32(o.MemorySize),
		Description:   aws.String("edgeflush CodePipeline action (created by edgeflush setup)"),
		Tags:          map[string]string{ManagedTagKey: ManagedTagValue},
	}
	deadline := time.Now().Add(o.RetryTimeout)
	for {
		_, err := api.CreateFunction(ctx, in)
		var ipv *lambdatypes.InvalidParameterValueException
		if err == nil || !errors.As(err, &ipv) || !strings.Contains(aws.ToString(ipv.Message), "cannot be assumed") || time.Now().After(deadline) {
			return err
		}
		t := time.NewTimer(o.RetryInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while waiting for role %s to reach Lambda: %w)", ctx.Err(), roleARN, err)
		case <-t.C:
		}
	}
}

func sizeString(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// stageNames lists a pipeline's stage names for error messages.
func stageNames(decl *cptypes.PipelineDeclaration) []string {
	var names []string
	for _, s := range decl.Stages {
		names = append(names, aws.ToString(s.Name))
	}
	return names
}

func stageIndex(decl *cptypes.PipelineDeclaration, name string) int {
	return slices.IndexFunc(decl.Stages, func(s cptypes.StageDeclaration) bool { return aws.ToString(s.Name) == name })
}
