package setup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"

	edgecp "github.com/edgeflush/edgeflush/internal/codepipeline"
)

// maxUserParameters is CodePipeline's limit on an action's UserParameters.
const maxUserParameters = 1000

// stageChange is the planned pipeline update: the whole new declaration (UpdatePipeline
// replaces the structure as a whole) and a description of what differs.
type stageChange struct {
	action    Action
	stageName string
	detail    string
	pipeline  *cptypes.PipelineDeclaration
}

func getPipeline(ctx context.Context, api PipelineAPI, name string) (*cptypes.PipelineDeclaration, error) {
	out, err := api.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String(name)})
	var nf *cptypes.PipelineNotFoundException
	switch {
	case errors.As(err, &nf):
		return nil, &NotFoundError{What: "pipeline", Name: name, Hint: "check the name and the region (--region / AWS_REGION)"}
	case err != nil:
		return nil, fmt.Errorf("get pipeline %s: %w", name, err)
	case out.Pipeline == nil:
		return nil, fmt.Errorf("get pipeline %s: the answer has no pipeline declaration", name)
	}
	return out.Pipeline, nil
}

func updatePipeline(ctx context.Context, api PipelineAPI, decl *cptypes.PipelineDeclaration) error {
	if _, err := api.UpdatePipeline(ctx, &codepipeline.UpdatePipelineInput{Pipeline: decl}); err != nil {
		return fmt.Errorf("update pipeline %s: %w", aws.ToString(decl.Name), err)
	}
	return nil
}

// isFunctionAction reports whether a is an Invoke/AWS/Lambda action calling function fn
// (by name or by ARN).
func isFunctionAction(a cptypes.ActionDeclaration, fn string) bool {
	t := a.ActionTypeId
	if t == nil || t.Category != cptypes.ActionCategoryInvoke || t.Owner != cptypes.ActionOwnerAws || aws.ToString(t.Provider) != "Lambda" {
		return false
	}
	name := a.Configuration["FunctionName"]
	return name == fn || strings.HasSuffix(name, ":function:"+fn)
}

// planStage returns the pipeline change that puts the edgeflush action in place, or nil
// when the pipeline already has it as wanted. It modifies decl.
func planStage(decl *cptypes.PipelineDeclaration, o *Options) (*stageChange, error) {
	after := stageIndex(decl, o.AfterStage)
	if after < 0 {
		return nil, &NotFoundError{What: "stage", Name: o.AfterStage,
			Hint: fmt.Sprintf("pipeline %s has stages %s; pass --after-stage with one of them", o.Pipeline, strings.Join(stageNames(decl), ", "))}
	}
	var inputs []cptypes.InputArtifact
	if o.Bucket != "" {
		name, err := inputArtifact(decl, after, o)
		if err != nil {
			return nil, err
		}
		inputs = []cptypes.InputArtifact{{Name: aws.String(name)}}
	}

	// Update in place wherever the action already is (the stage may have been moved or
	// renamed by hand since).
	for si := range decl.Stages {
		for ai, a := range decl.Stages[si].Actions {
			if !isFunctionAction(a, o.FunctionName) {
				continue
			}
			params, err := userParameters(a.Configuration["UserParameters"], o)
			if err != nil {
				return nil, err
			}
			var diffs []string
			if !sameJSON(a.Configuration["UserParameters"], params) {
				diffs = append(diffs, "UserParameters "+redactParams(params))
			}
			if !sameArtifacts(a.InputArtifacts, inputs) {
				diffs = append(diffs, "input artifacts "+artifactNames(inputs))
			}
			if len(diffs) == 0 {
				return nil, nil
			}
			conf := maps.Clone(a.Configuration)
			conf["UserParameters"] = params
			a.Configuration = conf
			a.InputArtifacts = inputs
			decl.Stages[si].Actions[ai] = a
			stage := aws.ToString(decl.Stages[si].Name)
			return &stageChange{action: Update, stageName: stage, pipeline: decl,
				detail: fmt.Sprintf("action %s: %s", aws.ToString(a.Name), strings.Join(diffs, "; "))}, nil
		}
	}

	if stageIndex(decl, o.StageName) >= 0 {
		return nil, &ConflictError{What: "stage", Name: o.StageName,
			Reason: fmt.Sprintf("already in pipeline %s without an action calling function %s; pass --stage-name to use another name", o.Pipeline, o.FunctionName)}
	}
	params, err := userParameters("", o)
	if err != nil {
		return nil, err
	}
	stage := cptypes.StageDeclaration{
		Name: aws.String(o.StageName),
		Actions: []cptypes.ActionDeclaration{{
			Name: aws.String(o.StageName),
			ActionTypeId: &cptypes.ActionTypeId{
				Category: cptypes.ActionCategoryInvoke,
				Owner:    cptypes.ActionOwnerAws,
				Provider: aws.String("Lambda"),
				Version:  aws.String("1"),
			},
			Configuration:  map[string]string{"FunctionName": o.FunctionName, "UserParameters": params},
			InputArtifacts: inputs,
			RunOrder:       aws.Int32(1),
		}},
	}
	decl.Stages = slices.Insert(decl.Stages, after+1, stage)
	detail := fmt.Sprintf("after %s: Invoke/AWS/Lambda/1 %s, UserParameters %s", o.AfterStage, o.FunctionName, redactParams(params))
	if len(inputs) > 0 {
		detail += ", input artifact " + artifactNames(inputs)
	}
	return &stageChange{action: Create, stageName: o.StageName, detail: detail, pipeline: decl}, nil
}

// inputArtifact picks the artifact the action syncs in deploy mode: the one named by
// --input-artifact (which some stage up to AfterStage must produce), else the first
// input artifact of the AfterStage stage (usually what its S3 deploy action reads).
func inputArtifact(decl *cptypes.PipelineDeclaration, after int, o *Options) (string, error) {
	if o.InputArtifact != "" {
		for _, s := range decl.Stages[:after+1] {
			for _, a := range s.Actions {
				for _, art := range a.OutputArtifacts {
					if aws.ToString(art.Name) == o.InputArtifact {
						return o.InputArtifact, nil
					}
				}
			}
		}
		return "", &NotFoundError{What: "artifact", Name: o.InputArtifact,
			Hint: fmt.Sprintf("no action up to stage %s outputs it", o.AfterStage)}
	}
	for _, a := range decl.Stages[after].Actions {
		if len(a.InputArtifacts) > 0 {
			return aws.ToString(a.InputArtifacts[0].Name), nil
		}
	}
	return "", fmt.Errorf("deploy mode needs the site artifact and no action of stage %s reads one: pass --input-artifact NAME", o.AfterStage)
}

// userParameters returns the action's UserParameters: the existing object (so that keys
// added by hand, such as Paths or Wait, survive) with the keys setup owns set from o.
// Single distributions use the seed's shape {"PipelineName", "DistributionId"}.
func userParameters(existing string, o *Options) (string, error) {
	m := map[string]json.RawMessage{}
	if strings.TrimSpace(existing) != "" {
		if err := json.Unmarshal([]byte(existing), &m); err != nil {
			// Not an object we can merge into: replace it.
			m = map[string]json.RawMessage{}
		}
	}
	set := func(k string, v any) {
		b, err := json.Marshal(v)
		if err == nil {
			m[k] = b
		}
	}
	setOrDelete := func(k, v string) {
		if v == "" {
			delete(m, k)
			return
		}
		set(k, v)
	}
	set("PipelineName", o.Pipeline)
	delete(m, "DistributionId")
	delete(m, "DistributionIds")
	delete(m, "DistributionTenantIds")
	switch len(o.DistributionIDs) {
	case 0:
	case 1:
		set("DistributionId", o.DistributionIDs[0])
	default:
		set("DistributionIds", o.DistributionIDs)
	}
	if len(o.TenantIDs) > 0 {
		set("DistributionTenantIds", o.TenantIDs)
	}
	// The role's policy follows these keys, so they follow the options exactly.
	setOrDelete("Bucket", o.Bucket)
	setOrDelete("Prefix", o.Prefix)
	setOrDelete("RoleArn", o.RoleARN)
	setOrDelete("ExternalId", o.ExternalID)
	setOrDelete("SlackWebhookParameter", o.SlackWebhookParameter)
	setOrDelete("KvsArn", o.KvsARN)
	delete(m, "Release")
	if o.KvsARN != "" {
		set("Release", true)
	}
	if o.Verify {
		set("Verify", true)
	} else {
		delete(m, "Verify")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode UserParameters: %w", err)
	}
	if n := utf8.RuneCount(b); n > maxUserParameters {
		return "", fmt.Errorf("UserParameters would be %d characters, CodePipeline allows %d: use fewer distributions or shorter keys", n, maxUserParameters)
	}
	// Keys kept from the existing action can clash with the ones set here (a hand-added
	// Paths with --bucket, SlackWebhookUrl with --slack-webhook-parameter): the action
	// would then fail every run with a ConfigurationError. Refuse before changing anything.
	if _, err := edgecp.ParseParams(string(b)); err != nil {
		return "", fmt.Errorf("the action's UserParameters would be %s, which the action rejects: %w; edit the existing action's UserParameters or change the options", redactParams(string(b)), err)
	}
	return string(b), nil
}

// secretParams are the UserParameters keys whose values setup never prints: the
// webhook URL is a credential, and the external id is treated as one (as in the
// action's logs).
var secretParams = []string{"SlackWebhookUrl", "ExternalId"}

// redactParams returns UserParameters for printing, with secret values replaced.
func redactParams(params string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(params), &m) != nil {
		return "(not shown: not a JSON object)"
	}
	changed := false
	for _, k := range secretParams {
		if _, ok := m[k]; ok {
			m[k] = json.RawMessage(`"<redacted>"`)
			changed = true
		}
	}
	if !changed {
		return params
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "(not shown)"
	}
	return string(b)
}

// sameJSON compares two JSON texts as values.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func sameArtifacts(a, b []cptypes.InputArtifact) bool {
	return slices.EqualFunc(a, b, func(x, y cptypes.InputArtifact) bool { return aws.ToString(x.Name) == aws.ToString(y.Name) })
}

func artifactNames(a []cptypes.InputArtifact) string {
	if len(a) == 0 {
		return "none"
	}
	var names []string
	for _, x := range a {
		names = append(names, aws.ToString(x.Name))
	}
	return strings.Join(names, ", ")
}
