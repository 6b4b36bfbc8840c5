package setup

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// TeardownOptions names what teardown removes.
type TeardownOptions struct {
	Pipeline     string // required
	FunctionName string // DefaultFunctionName when ""
	RoleName     string // FunctionName+"-role" when ""
}

// PlanTeardown returns the changes that undo setup: the action (and its stage when it
// held nothing else) leaves the pipeline first, so the pipeline stops calling the
// function, then the function, the role's inline policy and the role go. Resources
// without setup's tag are left alone and reported in Plan.Notes. Already-removed parts
// are simply absent from the plan, so teardown can be rerun after a partial failure.
func PlanTeardown(ctx context.Context, c Clients, o TeardownOptions) (*Plan, error) {
	if strings.TrimSpace(o.Pipeline) == "" {
		return nil, optionErrorf("no pipeline: pass --pipeline NAME")
	}
	if o.FunctionName == "" {
		o.FunctionName = DefaultFunctionName
	}
	if !functionNameRe.MatchString(o.FunctionName) {
		return nil, optionErrorf("function name %q: use 1-64 letters, digits, '-' or '_'", o.FunctionName)
	}
	if o.RoleName == "" {
		o.RoleName = o.FunctionName + "-role"
	}
	decl, err := getPipeline(ctx, c.Pipeline, o.Pipeline)
	if err != nil {
		return nil, err
	}
	plan := &Plan{}

	// 1. The pipeline: drop every action calling the function, and stages left empty.
	var removed []string
	var stages []cptypes.StageDeclaration
	for _, s := range decl.Stages {
		var keep []cptypes.ActionDeclaration
		for _, a := range s.Actions {
			if isFunctionAction(a, o.FunctionName) {
				removed = append(removed, aws.ToString(s.Name)+"/"+aws.ToString(a.Name))
				continue
			}
			keep = append(keep, a)
		}
		switch {
		case len(keep) == len(s.Actions):
			stages = append(stages, s)
		case len(keep) == 0:
			plan.Changes = append(plan.Changes, Change{Action: Delete, Resource: "pipeline stage", Name: o.Pipeline + "/" + aws.ToString(s.Name),
				Detail: "its only action calls " + o.FunctionName})
		default:
			s.Actions = keep
			stages = append(stages, s)
			plan.Changes = append(plan.Changes, Change{Action: Delete, Resource: "pipeline action", Name: o.Pipeline + "/" + aws.ToString(s.Name),
				Detail: "the action calling " + o.FunctionName + "; the stage's other actions stay"})
		}
	}
	if len(removed) == 0 {
		plan.Notes = append(plan.Notes, fmt.Sprintf("pipeline %s has no action calling function %s", o.Pipeline, o.FunctionName))
	} else {
		decl.Stages = stages
		// So far the plan holds only the pipeline's changes, and they are all one
		// UpdatePipeline call: the first change makes it, the others ride along.
		plan.Changes[0].apply = func(ctx context.Context) error { return updatePipeline(ctx, c.Pipeline, decl) }
		for i := 1; i < len(plan.Changes); i++ {
			plan.Changes[i].apply = func(context.Context) error { return nil }
		}
	}

	// 2. The function.
	fn, err := getFunction(ctx, c.Lambda, o.FunctionName)
	if err != nil {
		return nil, err
	}
	switch {
	case fn == nil:
	case fn.Tags[ManagedTagKey] != ManagedTagValue:
		plan.Notes = append(plan.Notes, fmt.Sprintf("function %s was not created by edgeflush setup (no %s tag): left alone", o.FunctionName, ManagedTagKey))
	default:
		plan.Changes = append(plan.Changes, Change{Action: Delete, Resource: "function", Name: o.FunctionName,
			apply: func(ctx context.Context) error {
				_, err := c.Lambda.DeleteFunction(ctx, &lambda.DeleteFunctionInput{FunctionName: aws.String(o.FunctionName)})
				var nf *lambdatypes.ResourceNotFoundException
				if errors.As(err, &nf) {
					return nil
				}
				return err
			}})
	}

	// 3. The role and its policy.
	role, err := getRole(ctx, c.IAM, o.RoleName)
	if err != nil {
		return nil, err
	}
	switch {
	case role == nil:
	case !roleManaged(role):
		plan.Notes = append(plan.Notes, fmt.Sprintf("role %s was not created by edgeflush setup (no %s tag): left alone", o.RoleName, ManagedTagKey))
	default:
		stored, err := getRolePolicy(ctx, c.IAM, o.RoleName, PolicyName)
		if err != nil {
			return nil, err
		}
		if stored != "" {
			plan.Changes = append(plan.Changes, Change{Action: Delete, Resource: "role policy", Name: o.RoleName + "/" + PolicyName,
				apply: func(ctx context.Context) error {
					_, err := c.IAM.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(o.RoleName), PolicyName: aws.String(PolicyName)})
					return ignoreNoSuchEntity(err)
				}})
		}
		plan.Changes = append(plan.Changes, Change{Action: Delete, Resource: "role", Name: o.RoleName,
			apply: func(ctx context.Context) error {
				_, err := c.IAM.DeleteRole(ctx, &iam.DeleteRoleInput{RoleName: aws.String(o.RoleName)})
				var dc *iamtypes.DeleteConflictException
				if errors.As(err, &dc) {
					return fmt.Errorf("%w (the role has policies edgeflush did not put there; remove them, then rerun teardown)", err)
				}
				return ignoreNoSuchEntity(err)
			}})
	}
	return plan, nil
}

func ignoreNoSuchEntity(err error) error {
	var nse *iamtypes.NoSuchEntityException
	if errors.As(err, &nse) {
		return nil
	}
	return err
}
