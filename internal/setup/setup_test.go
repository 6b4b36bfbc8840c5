package setup

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	edgecp "github.com/edgeflush/edgeflush/internal/codepipeline"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// One moto for the package (it takes over a second to start); each test resets it.
var (
	moto *testkit.Moto
	fix  *testkit.PipelineFix
)

func TestMain(m *testing.M) {
	var err error
	moto, err = testkit.NewMoto()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fix, err = testkit.NewPipelineFix(moto.URL)
	if err != nil {
		moto.Close()
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	fix.Close()
	moto.Close()
	os.Exit(code)
}

type env struct {
	clients Clients
	iam     *iam.Client
	lambda  *lambda.Client
	cp      *codepipeline.Client
}

// newEnv resets moto and returns real SDK clients talking to it through the
// timestamp-fixing proxy, plus a pipeline "site" with stages Source and Deploy.
func newEnv(t *testing.T) *env {
	t.Helper()
	if err := moto.Reset(); err != nil {
		t.Fatal(err)
	}
	cfg, err := testkit.SDKConfig(context.Background(), fix.URL)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{iam: iam.NewFromConfig(cfg), lambda: lambda.NewFromConfig(cfg), cp: codepipeline.NewFromConfig(cfg)}
	e.clients = Clients{IAM: e.iam, Lambda: e.lambda, Pipeline: e.cp, Identity: sts.NewFromConfig(cfg)}
	e.createPipeline(t, "site")
	return e
}

func (e *env) createPipeline(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	_, err := e.iam.CreateRole(ctx, &iam.CreateRoleInput{
		RoleName:                 aws.String(name + "-pipeline-role"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codepipeline.amazonaws.com"},"Action":"sts:AssumeRole"}]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.cp.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: &cptypes.PipelineDeclaration{
		Name:          aws.String(name),
		RoleArn:       aws.String("arn:aws:iam::123456789012:role/" + name + "-pipeline-role"),
		ArtifactStore: &cptypes.ArtifactStore{Type: cptypes.ArtifactStoreTypeS3, Location: aws.String("artifacts")},
		Stages: []cptypes.StageDeclaration{
			{Name: aws.String("Source"), Actions: []cptypes.ActionDeclaration{{
				Name:            aws.String("Source"),
				ActionTypeId:    &cptypes.ActionTypeId{Category: cptypes.ActionCategorySource, Owner: cptypes.ActionOwnerAws, Provider: aws.String("S3"), Version: aws.String("1")},
				Configuration:   map[string]string{"S3Bucket": "src", "S3ObjectKey": "site.zip"},
				OutputArtifacts: []cptypes.OutputArtifact{{Name: aws.String("Site")}},
			}}},
			{Name: aws.String("Deploy"), Actions: []cptypes.ActionDeclaration{{
				Name:           aws.String("Deploy"),
				ActionTypeId:   &cptypes.ActionTypeId{Category: cptypes.ActionCategoryDeploy, Owner: cptypes.ActionOwnerAws, Provider: aws.String("S3"), Version: aws.String("1")},
				Configuration:  map[string]string{"BucketName": "www", "Extract": "true"},
				InputArtifacts: []cptypes.InputArtifact{{Name: aws.String("Site")}},
			}}},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) pipeline(t *testing.T, name string) *cptypes.PipelineDeclaration {
	t.Helper()
	out, err := e.cp.GetPipeline(context.Background(), &codepipeline.GetPipelineInput{Name: aws.String(name)})
	if err != nil {
		t.Fatalf("GetPipeline through the fix proxy: %v", err)
	}
	return out.Pipeline
}

// decoded returns a policy document as IAM stores it, URL-decoded (IAM, and moto,
// return documents URL-encoded).
func decoded(t *testing.T, doc *string) string {
	t.Helper()
	s, err := url.PathUnescape(aws.ToString(doc))
	if err != nil {
		t.Fatalf("policy document %q: %v", aws.ToString(doc), err)
	}
	return s
}

func fastOptions(o Options) Options {
	if o.Pipeline == "" {
		o.Pipeline = "site"
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	o.RetryInterval, o.RetryTimeout = 10*time.Millisecond, time.Second
	o.WaitMinDelay, o.WaitMaxDelay, o.WaitTimeout = 10*time.Millisecond, 20*time.Millisecond, 5*time.Second
	return o
}

var (
	zipV1 = makeZip("bootstrap", 0o755, "#!/bin/sh\necho v1\n")
	zipV2 = makeZip("bootstrap", 0o755, "#!/bin/sh\necho v2\n")
)

func makeZip(name string, mode os.FileMode, content string) []byte {
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: name, Method: zip.Deflate}
	h.SetMode(mode)
	f, err := w.CreateHeader(h)
	if err == nil {
		_, err = f.Write([]byte(content))
	}
	if err == nil {
		err = w.Close()
	}
	if err != nil {
		panic(err) // in-memory writes cannot fail
	}
	return buf.Bytes()
}

func TestCheckZip(t *testing.T) {
	if err := CheckZip(zipV1); err != nil {
		t.Errorf("good zip: %v", err)
	}
	for name, b := range map[string][]byte{
		"not a zip":      []byte("hello"),
		"no bootstrap":   makeZip("main", 0o755, "x"),
		"not executable": makeZip("bootstrap", 0o644, "x"),
		"nested":         makeZip("dist/bootstrap", 0o755, "x"),
	} {
		if err := CheckZip(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	dir := t.TempDir()
	if _, err := ReadZip(dir + "/missing.zip"); err == nil {
		t.Error("missing file accepted")
	}
	if err := os.WriteFile(dir+"/f.zip", zipV1, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadZip(dir + "/f.zip"); err != nil || !bytes.Equal(b, zipV1) {
		t.Errorf("ReadZip = %d bytes, %v", len(b), err)
	}
}

func planLines(p *Plan) []string {
	var s []string
	for _, c := range p.Changes {
		s = append(s, c.String())
	}
	return s
}

func mustPlan(t *testing.T, e *env, o Options) *Plan {
	t.Helper()
	p, err := PlanSetup(context.Background(), e.clients, fastOptions(o))
	if err != nil {
		t.Fatalf("PlanSetup: %v", err)
	}
	return p
}

func TestSetupCreatesEverythingThenIsIdempotent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := Options{DistributionIDs: []string{"E1AAA", "E2BBB"}, Zip: zipV1}

	plan := mustPlan(t, e, o)
	got := planLines(plan)
	wantPrefixes := []string{"+ create role edgeflush-role", "+ create role policy edgeflush-role/edgeflush", "+ create function edgeflush", "+ create pipeline stage site/Invalidate"}
	if len(got) != len(wantPrefixes) {
		t.Fatalf("plan:\n%s\nwant %d changes", strings.Join(got, "\n"), len(wantPrefixes))
	}
	for i, w := range wantPrefixes {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("change %d = %q, want prefix %q", i, got[i], w)
		}
	}
	// Planning created nothing.
	if _, err := e.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("edgeflush-role")}); err == nil {
		t.Fatal("planning created the role")
	}
	if err := plan.Apply(ctx); err != nil {
		t.Fatal(err)
	}

	// The role: tagged, trusted by Lambda, with a policy scoped to the two distributions.
	role, err := e.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("edgeflush-role")})
	if err != nil {
		t.Fatal(err)
	}
	if !roleManaged(role.Role) || !strings.Contains(aws.ToString(role.Role.AssumeRolePolicyDocument), "lambda.amazonaws.com") {
		t.Errorf("role = %+v", role.Role)
	}
	pol, err := e.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("edgeflush-role"), PolicyName: aws.String(PolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	doc := decoded(t, pol.PolicyDocument)
	for _, want := range []string{
		"arn:aws:cloudfront::123456789012:distribution/E1AAA",
		"arn:aws:cloudfront::123456789012:distribution/E2BBB",
		"cloudfront:CreateInvalidation", "codepipeline:PutJobSuccessResult",
		"arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/edgeflush:*",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("policy lacks %s:\n%s", want, doc)
		}
	}
	for _, notWant := range []string{"s3:", "sts:AssumeRole", "ssm:", "distribution/*"} {
		if strings.Contains(doc, notWant) {
			t.Errorf("policy grants %s without being asked to:\n%s", notWant, doc)
		}
	}

	// The function.
	fn, err := e.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("edgeflush")})
	if err != nil {
		t.Fatal(err)
	}
	c := fn.Configuration
	if c.Runtime != lambdatypes.RuntimeProvidedal2023 || aws.ToString(c.Handler) != "bootstrap" || aws.ToInt32(c.Timeout) != 300 ||
		!slices.Equal(c.Architectures, []lambdatypes.Architecture{lambdatypes.ArchitectureArm64}) ||
		aws.ToString(c.Role) != aws.ToString(role.Role.Arn) || aws.ToString(c.CodeSha256) != codeSHA256(zipV1) {
		t.Errorf("function configuration = %+v", c)
	}

	// The stage: right after Deploy, one Invoke/Lambda action with parameters the action accepts.
	decl := e.pipeline(t, "site")
	if names := stageNames(decl); !slices.Equal(names, []string{"Source", "Deploy", "Invalidate"}) {
		t.Fatalf("stages = %v", names)
	}
	act := decl.Stages[2].Actions[0]
	if act.ActionTypeId.Category != cptypes.ActionCategoryInvoke || aws.ToString(act.ActionTypeId.Provider) != "Lambda" ||
		aws.ToString(act.ActionTypeId.Version) != "1" || act.Configuration["FunctionName"] != "edgeflush" {
		t.Errorf("action = %+v", act)
	}
	params, err := edgecp.ParseParams(act.Configuration["UserParameters"])
	if err != nil {
		t.Fatalf("UserParameters %s rejected by the action: %v", act.Configuration["UserParameters"], err)
	}
	if !slices.Equal(params.DistributionIDs, []string{"E1AAA", "E2BBB"}) || params.PipelineName != "site" || params.DeployMode() {
		t.Errorf("params = %+v", params)
	}

	// A second run changes nothing, with or without the zip.
	for _, zip := range [][]byte{zipV1, nil} {
		o.Zip = zip
		if again := mustPlan(t, e, o); !again.Empty() {
			t.Errorf("second run plans:\n%s", strings.Join(planLines(again), "\n"))
		}
	}
	if n := fix.Rewritten(); n == 0 {
		t.Error("the proxy rewrote no pipeline timestamps: is it in the path?")
	}
}

func TestSetupUpdatesOnlyWhatChanged(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := mustPlan(t, e, Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV1}).Apply(ctx); err != nil {
		t.Fatal(err)
	}
	// A hand-added key in UserParameters survives later runs.
	decl := e.pipeline(t, "site")
	decl.Stages[2].Actions[0].Configuration["UserParameters"] = `{"PipelineName":"site","DistributionId":"E1AAA","Paths":["/index.html"]}`
	if _, err := e.cp.UpdatePipeline(ctx, &codepipeline.UpdatePipelineInput{Pipeline: decl}); err != nil {
		t.Fatal(err)
	}
	if p := mustPlan(t, e, Options{DistributionIDs: []string{"E1AAA"}}); !p.Empty() {
		t.Fatalf("hand-added Paths counted as a change:\n%s", strings.Join(planLines(p), "\n"))
	}

	plan := mustPlan(t, e, Options{DistributionIDs: []string{"E1AAA", "E3CCC"}, Zip: zipV2, Timeout: 120})
	got := planLines(plan)
	want := []string{"~ update role policy", "~ update function configuration edgeflush (timeout 300 -> 120 s)", "~ update function code edgeflush", "~ update pipeline stage site/Invalidate"}
	if len(got) != len(want) {
		t.Fatalf("plan:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("change %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
	if err := plan.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	act := e.pipeline(t, "site").Stages[2].Actions[0]
	params, err := edgecp.ParseParams(act.Configuration["UserParameters"])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(params.DistributionIDs, []string{"E1AAA", "E3CCC"}) || !slices.Equal(params.Paths, []string{"/index.html"}) {
		t.Errorf("params after update = %+v", params)
	}
	fn, err := e.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("edgeflush")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(fn.Configuration.CodeSha256) != codeSHA256(zipV2) || aws.ToInt32(fn.Configuration.Timeout) != 120 {
		t.Errorf("function after update = %+v", fn.Configuration)
	}
	if p := mustPlan(t, e, Options{DistributionIDs: []string{"E1AAA", "E3CCC"}, Zip: zipV2, Timeout: 120}); !p.Empty() {
		t.Errorf("third run plans:\n%s", strings.Join(planLines(p), "\n"))
	}
}

func TestSetupChecksPipelineAndStageBeforeCreatingAnything(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		o    Options
		what string
		msg  string
	}{
		{"no pipeline", Options{Pipeline: "nope"}, "pipeline", `pipeline "nope" not found`},
		{"no stage", Options{AfterStage: "Build"}, "stage", "has stages Source, Deploy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.DistributionIDs, o.Zip = []string{"E1AAA"}, zipV1
			_, err := PlanSetup(ctx, e.clients, fastOptions(o))
			var nf *NotFoundError
			if !errors.As(err, &nf) || nf.What != tc.what || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want a NotFoundError for the %s mentioning %q", err, tc.what, tc.msg)
			}
		})
	}
	if _, err := e.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("edgeflush-role")}); err == nil {
		t.Error("a role was created")
	}
	if _, err := e.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("edgeflush")}); err == nil {
		t.Error("a function was created")
	}
	if _, err := PlanSetup(ctx, e.clients, fastOptions(Options{DistributionIDs: []string{"E1AAA"}})); err == nil || !strings.Contains(err.Error(), "--zip") {
		t.Errorf("no zip for a new function: err = %v", err)
	}
	if _, err := PlanSetup(ctx, e.clients, fastOptions(Options{DistributionIDs: []string{"e1-bad"}, Zip: zipV1})); err == nil {
		t.Error("a malformed distribution id was accepted")
	}
}

func TestSetupRefusesResourcesItDidNotCreate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Someone's function of the same name, e.g. deployed with the SAM template.
	_, err := e.iam.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("other"),
		AssumeRolePolicyDocument: aws.String(trustPolicy().json())})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.lambda.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("edgeflush"), Runtime: lambdatypes.RuntimeProvidedal2023,
		Handler: aws.String("bootstrap"), Role: aws.String("arn:aws:iam::123456789012:role/other"), Code: &lambdatypes.FunctionCode{ZipFile: zipV1}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = PlanSetup(ctx, e.clients, fastOptions(Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV1}))
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.What != "function" {
		t.Fatalf("err = %v, want a ConflictError on the function", err)
	}
	// An untagged role of the chosen name is refused too.
	_, err = PlanSetup(ctx, e.clients, fastOptions(Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV1, FunctionName: "ef2", RoleName: "other"}))
	if !errors.As(err, &ce) || ce.What != "role" {
		t.Fatalf("err = %v, want a ConflictError on the role", err)
	}
	// Teardown leaves the untagged function alone.
	p, err := PlanTeardown(ctx, e.clients, TeardownOptions{Pipeline: "site"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Empty() || len(p.Notes) != 2 {
		t.Errorf("teardown plan = %v, notes %v", planLines(p), p.Notes)
	}
}

func TestSetupDeployModeCrossAccountAndSlack(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	o := Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV1, Bucket: "www", Prefix: "site/",
		RoleARN: "arn:aws:iam::999999999999:role/edgeflush-invalidator", ExternalID: "ext-1", SlackWebhookParameter: "/edgeflush/slack"}
	if err := mustPlan(t, e, o).Apply(ctx); err != nil {
		t.Fatal(err)
	}
	act := e.pipeline(t, "site").Stages[2].Actions[0]
	if artifactNames(act.InputArtifacts) != "Site" {
		t.Errorf("input artifacts = %s, want Site (what Deploy reads)", artifactNames(act.InputArtifacts))
	}
	params, err := edgecp.ParseParams(act.Configuration["UserParameters"])
	if err != nil {
		t.Fatal(err)
	}
	if params.Bucket != "www" || params.Prefix != "site/" || params.RoleARN != o.RoleARN || params.ExternalID != "ext-1" || params.SlackWebhookParameter != "/edgeflush/slack" {
		t.Errorf("params = %+v", params)
	}
	pol, err := e.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("edgeflush-role"), PolicyName: aws.String(PolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	doc := decoded(t, pol.PolicyDocument)
	var parsed policyDocument
	if err := json.Unmarshal([]byte(doc), &parsed); err != nil {
		t.Fatalf("policy %s: %v", doc, err)
	}
	for _, want := range []string{`"sts:AssumeRole"`, o.RoleARN, "arn:aws:ssm:us-east-1:123456789012:parameter/edgeflush/slack"} {
		if !strings.Contains(doc, want) {
			t.Errorf("policy lacks %s:\n%s", want, doc)
		}
	}
	// Cross-account: CloudFront and S3 rights belong to the other account's role.
	if strings.Contains(doc, "cloudfront:") || strings.Contains(doc, "s3:") {
		t.Errorf("cross-account policy grants CloudFront/S3 in the pipeline account:\n%s", doc)
	}

	// Same account, deploy mode: S3 on the bucket only.
	o.RoleARN, o.ExternalID = "", ""
	if err := mustPlan(t, e, o).Apply(ctx); err != nil {
		t.Fatal(err)
	}
	pol, err = e.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("edgeflush-role"), PolicyName: aws.String(PolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	doc = decoded(t, pol.PolicyDocument)
	for _, want := range []string{"arn:aws:s3:::www", "arn:aws:s3:::www/*", "s3:PutObject", "distribution/E1AAA"} {
		if !strings.Contains(doc, want) {
			t.Errorf("policy lacks %s:\n%s", want, doc)
		}
	}
	params, err = edgecp.ParseParams(e.pipeline(t, "site").Stages[2].Actions[0].Configuration["UserParameters"])
	if err != nil {
		t.Fatal(err)
	}
	if params.RoleARN != "" || params.ExternalID != "" {
		t.Errorf("RoleArn kept after it was dropped: %+v", params)
	}
	if _, err := PlanSetup(ctx, e.clients, fastOptions(Options{DistributionIDs: []string{"E1AAA"}, Bucket: "www", InputArtifact: "Nope"})); err == nil {
		t.Error("an input artifact nobody produces was accepted")
	}
}

func TestTeardownRemovesWhatSetupCreated(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := mustPlan(t, e, Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV1}).Apply(ctx); err != nil {
		t.Fatal(err)
	}
	plan, err := PlanTeardown(ctx, e.clients, TeardownOptions{Pipeline: "site"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"- delete pipeline stage site/Invalidate", "- delete function edgeflush", "- delete role policy edgeflush-role/edgeflush", "- delete role edgeflush-role"}
	got := planLines(plan)
	if len(got) != len(want) {
		t.Fatalf("teardown plan:\n%s", strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("change %d = %q, want %q", i, got[i], want[i])
		}
	}
	if err := plan.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if names := stageNames(e.pipeline(t, "site")); !slices.Equal(names, []string{"Source", "Deploy"}) {
		t.Errorf("stages after teardown = %v", names)
	}
	if _, err := e.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("edgeflush")}); err == nil {
		t.Error("function still there")
	}
	if _, err := e.iam.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("edgeflush-role")}); err == nil {
		t.Error("role still there")
	}
	again, err := PlanTeardown(ctx, e.clients, TeardownOptions{Pipeline: "site"})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Empty() {
		t.Errorf("second teardown plans %v", planLines(again))
	}
}

func TestTeardownKeepsOtherActionsOfTheStage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := mustPlan(t, e, Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV1}).Apply(ctx); err != nil {
		t.Fatal(err)
	}
	decl := e.pipeline(t, "site")
	decl.Stages[2].Actions = append(decl.Stages[2].Actions, cptypes.ActionDeclaration{
		Name:          aws.String("Approve"),
		ActionTypeId:  &cptypes.ActionTypeId{Category: cptypes.ActionCategoryApproval, Owner: cptypes.ActionOwnerAws, Provider: aws.String("Manual"), Version: aws.String("1")},
		Configuration: map[string]string{},
	})
	if _, err := e.cp.UpdatePipeline(ctx, &codepipeline.UpdatePipelineInput{Pipeline: decl}); err != nil {
		t.Fatal(err)
	}
	plan, err := PlanTeardown(ctx, e.clients, TeardownOptions{Pipeline: "site"})
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	after := e.pipeline(t, "site")
	if len(after.Stages) != 3 || len(after.Stages[2].Actions) != 1 || aws.ToString(after.Stages[2].Actions[0].Name) != "Approve" {
		t.Errorf("stage after teardown = %+v", after.Stages)
	}
}

// slowRoleLambda fails CreateFunction like Lambda does while IAM has not yet propagated
// a new role, a given number of times.
type slowRoleLambda struct {
	LambdaAPI
	failures, calls int
}

func (s *slowRoleLambda) CreateFunction(ctx context.Context, in *lambda.CreateFunctionInput, optFns ...func(*lambda.Options)) (*lambda.CreateFunctionOutput, error) {
	s.calls++
	if s.calls <= s.failures {
		return nil, &lambdatypes.InvalidParameterValueException{Message: aws.String("The role defined for the function cannot be assumed by Lambda.")}
	}
	return s.LambdaAPI.CreateFunction(ctx, in, optFns...)
}

func TestCreateFunctionWaitsForTheRole(t *testing.T) {
	e := newEnv(t)
	slow := &slowRoleLambda{LambdaAPI: e.lambda, failures: 3}
	e.clients.Lambda = slow
	if err := mustPlan(t, e, Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV1}).Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	if slow.calls != 4 {
		t.Errorf("CreateFunction calls = %d, want 4", slow.calls)
	}

	// Past the retry budget the error comes out, naming the step.
	e = newEnv(t)
	e.clients.Lambda = &slowRoleLambda{LambdaAPI: e.lambda, failures: 1 << 30}
	o := fastOptions(Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV1})
	o.RetryTimeout = 50 * time.Millisecond
	plan, err := PlanSetup(context.Background(), e.clients, o)
	if err != nil {
		t.Fatal(err)
	}
	err = plan.Apply(context.Background())
	var ipv *lambdatypes.InvalidParameterValueException
	if !errors.As(err, &ipv) || !strings.Contains(err.Error(), "create function edgeflush (after 2 of 4 changes applied)") {
		t.Fatalf("err = %v", err)
	}
}

func TestUserParameters(t *testing.T) {
	o := &Options{Pipeline: "p", DistributionIDs: []string{"E1"}}
	got, err := userParameters("", o)
	if err != nil || got != `{"DistributionId":"E1","PipelineName":"p"}` {
		t.Errorf("single = %s, %v", got, err)
	}
	o.DistributionIDs = []string{"E1", "E2"}
	got, err = userParameters(`{"DistributionId":"E0","Wait":false,"Bucket":"old"}`, o)
	if err != nil || got != `{"DistributionIds":["E1","E2"],"PipelineName":"p","Wait":false}` {
		t.Errorf("merged = %s, %v", got, err)
	}
	// Kept keys that clash with the options would make the action fail every run.
	o.DistributionIDs = []string{"E1"}
	o.Bucket = "site"
	if _, err := userParameters(`{"Paths":["/index.html"]}`, o); err == nil || !strings.Contains(err.Error(), "cannot be combined with Bucket") {
		t.Errorf("Paths kept with Bucket: err = %v", err)
	}
	// Verify follows the option (and keeps a hand-added VerifyBaseUrl while it is on).
	o.Verify = true
	got, err = userParameters(`{"VerifyBaseUrl":"https://www.example.com"}`, o)
	if err != nil || got != `{"Bucket":"site","DistributionId":"E1","PipelineName":"p","Verify":true,"VerifyBaseUrl":"https://www.example.com"}` {
		t.Errorf("verify = %s, %v", got, err)
	}
	o.Verify = false
	if _, err := userParameters(`{"Verify":true,"VerifyBaseUrl":"https://www.example.com"}`, o); err == nil || !strings.Contains(err.Error(), "only applies with") {
		t.Errorf("VerifyBaseUrl kept without Verify: err = %v", err)
	}
	vo := Options{Pipeline: "p", DistributionIDs: []string{"E1"}, Verify: true}
	if err := vo.normalize(); err == nil || !strings.Contains(err.Error(), "--bucket") {
		t.Errorf("verify without deploy mode: %v", err)
	}
	o.Bucket, o.SlackWebhookParameter = "", "/edgeflush/slack"
	if _, err := userParameters(`{"SlackWebhookUrl":"https://hooks.slack.com/services/X"}`, o); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Errorf("SlackWebhookUrl kept with SlackWebhookParameter: err = %v", err)
	}
	o.SlackWebhookParameter = ""
	o.DistributionIDs = nil
	for i := 0; i < 80; i++ {
		o.DistributionIDs = append(o.DistributionIDs, fmt.Sprintf("E%013d", i))
	}
	if _, err := userParameters("", o); err == nil || !strings.Contains(err.Error(), "1000") {
		t.Errorf("too long: err = %v", err)
	}
}

func TestSamePolicyReadsURLEncodedDocuments(t *testing.T) {
	doc := trustPolicy()
	enc := strings.NewReplacer("{", "%7B", "}", "%7D", `"`, "%22", ":", "%3A", " ", "%20").Replace(doc.json())
	if !samePolicy(enc, doc) || !samePolicy(doc.json(), doc) {
		t.Error("same document not recognised")
	}
	if samePolicy(strings.Replace(doc.json(), "lambda", "ec2", 1), doc) {
		t.Error("different document taken as the same")
	}
}

// slowLambda behaves like real Lambda after a change, which moto does not: a new function
// is Pending for a while, an update leaves LastUpdateStatus InProgress for a while, and
// another update during that time is rejected with ResourceConflictException.
type slowLambda struct {
	LambdaAPI
	busyReads int // GetFunction answers that still show the change in progress

	pendingLeft, inProgressLeft int
	getCalls, conflicts         int
}

func (s *slowLambda) GetFunction(ctx context.Context, in *lambda.GetFunctionInput, optFns ...func(*lambda.Options)) (*lambda.GetFunctionOutput, error) {
	out, err := s.LambdaAPI.GetFunction(ctx, in, optFns...)
	if err != nil || out.Configuration == nil {
		return out, err
	}
	s.getCalls++
	if s.pendingLeft > 0 {
		s.pendingLeft--
		out.Configuration.State = lambdatypes.StatePending
	}
	if s.inProgressLeft > 0 {
		s.inProgressLeft--
		out.Configuration.LastUpdateStatus = lambdatypes.LastUpdateStatusInProgress
	}
	return out, nil
}

func (s *slowLambda) busy() error {
	if s.pendingLeft > 0 || s.inProgressLeft > 0 {
		s.conflicts++
		return &lambdatypes.ResourceConflictException{Message: aws.String("The operation cannot be performed at this time. An update is in progress for resource")}
	}
	return nil
}

func (s *slowLambda) CreateFunction(ctx context.Context, in *lambda.CreateFunctionInput, optFns ...func(*lambda.Options)) (*lambda.CreateFunctionOutput, error) {
	out, err := s.LambdaAPI.CreateFunction(ctx, in, optFns...)
	if err == nil {
		s.pendingLeft = s.busyReads
	}
	return out, err
}

func (s *slowLambda) UpdateFunctionConfiguration(ctx context.Context, in *lambda.UpdateFunctionConfigurationInput, optFns ...func(*lambda.Options)) (*lambda.UpdateFunctionConfigurationOutput, error) {
	if err := s.busy(); err != nil {
		return nil, err
	}
	out, err := s.LambdaAPI.UpdateFunctionConfiguration(ctx, in, optFns...)
	if err == nil {
		s.inProgressLeft = s.busyReads
	}
	return out, err
}

func (s *slowLambda) UpdateFunctionCode(ctx context.Context, in *lambda.UpdateFunctionCodeInput, optFns ...func(*lambda.Options)) (*lambda.UpdateFunctionCodeOutput, error) {
	if err := s.busy(); err != nil {
		return nil, err
	}
	out, err := s.LambdaAPI.UpdateFunctionCode(ctx, in, optFns...)
	if err == nil {
		s.inProgressLeft = s.busyReads
	}
	return out, err
}

func TestSetupWaitsForLambdaStates(t *testing.T) {
	e := newEnv(t)
	slow := &slowLambda{LambdaAPI: e.lambda, busyReads: 3}
	e.clients.Lambda = slow
	ctx := context.Background()
	if err := mustPlan(t, e, Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV1}).Apply(ctx); err != nil {
		t.Fatal(err)
	}
	if slow.pendingLeft != 0 {
		t.Errorf("setup returned while the new function was still Pending (%d reads left)", slow.pendingLeft)
	}
	// A configuration change and a code change in one run: the code update must wait
	// for the configuration update to finish.
	plan := mustPlan(t, e, Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV2, MemorySize: 512})
	if len(plan.Changes) != 2 {
		t.Fatalf("plan %v", planLines(plan))
	}
	if err := plan.Apply(ctx); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if slow.conflicts != 0 || slow.inProgressLeft != 0 {
		t.Errorf("%d updates hit an update in progress; %d in-progress reads left", slow.conflicts, slow.inProgressLeft)
	}
	fn, err := e.lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("edgeflush")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(fn.Configuration.MemorySize) != 512 || aws.ToString(fn.Configuration.CodeSha256) != codeSHA256(zipV2) {
		t.Errorf("function = %+v", fn.Configuration)
	}
}

func TestSetupReleaseMode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const kvsARN = "arn:aws:cloudfront::123456789012:key-value-store/a1b2c3d4-5678-90ab-cdef-000000000001"
	if _, err := PlanSetup(ctx, e.clients, fastOptions(Options{DistributionIDs: []string{"E1AAA"}, KvsARN: kvsARN})); err == nil || !strings.Contains(err.Error(), "--bucket") {
		t.Fatalf("release mode without a bucket: %v", err)
	}
	o := Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV1, Bucket: "www", KvsARN: kvsARN}
	if err := mustPlan(t, e, o).Apply(ctx); err != nil {
		t.Fatal(err)
	}
	params, err := edgecp.ParseParams(e.pipeline(t, "site").Stages[2].Actions[0].Configuration["UserParameters"])
	if err != nil {
		t.Fatal(err)
	}
	if !params.Release || params.KvsARN != kvsARN {
		t.Errorf("params = %+v, want Release with the store", params)
	}
	pol, err := e.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("edgeflush-role"), PolicyName: aws.String(PolicyName)})
	if err != nil {
		t.Fatal(err)
	}
	doc := decoded(t, pol.PolicyDocument)
	for _, want := range []string{`"cloudfront-keyvaluestore:PutKey"`, `"cloudfront-keyvaluestore:GetKey"`, `"cloudfront-keyvaluestore:DescribeKeyValueStore"`, kvsARN} {
		if !strings.Contains(doc, want) {
			t.Errorf("policy lacks %s:\n%s", want, doc)
		}
	}
	if strings.Contains(doc, "cloudfront-keyvaluestore:*") || strings.Contains(doc, "key-value-store/*") {
		t.Errorf("the KeyValueStore rights are wider than the one store and three calls:\n%s", doc)
	}
	// Turning releases off drops the keys and the rights.
	o.KvsARN = ""
	if err := mustPlan(t, e, o).Apply(ctx); err != nil {
		t.Fatal(err)
	}
	params, _ = edgecp.ParseParams(e.pipeline(t, "site").Stages[2].Actions[0].Configuration["UserParameters"])
	pol, _ = e.iam.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String("edgeflush-role"), PolicyName: aws.String(PolicyName)})
	if params.Release || strings.Contains(decoded(t, pol.PolicyDocument), "keyvaluestore") {
		t.Errorf("release mode kept after it was turned off: %+v", params)
	}
}

// setup never prints a webhook URL (nor the external id): an existing action's
// SlackWebhookUrl is kept in UserParameters but shown redacted in the plan and in errors.
func TestSetupNeverPrintsTheWebhookURL(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := mustPlan(t, e, Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV1}).Apply(ctx); err != nil {
		t.Fatal(err)
	}
	const secret = "https://hooks.slack.com/services/T000/B000/SECRETSECRET"
	decl := e.pipeline(t, "site")
	decl.Stages[2].Actions[0].Configuration["UserParameters"] = `{"PipelineName":"site","DistributionId":"E1AAA","SlackWebhookUrl":"` + secret + `"}`
	if _, err := e.cp.UpdatePipeline(ctx, &codepipeline.UpdatePipelineInput{Pipeline: decl}); err != nil {
		t.Fatal(err)
	}
	plan := mustPlan(t, e, Options{DistributionIDs: []string{"E1AAA", "E3CCC"}})
	lines := strings.Join(planLines(plan), "\n")
	if strings.Contains(lines, "SECRETSECRET") || !strings.Contains(lines, `"SlackWebhookUrl":"\u003credacted\u003e"`) && !strings.Contains(lines, `"SlackWebhookUrl":"<redacted>"`) {
		t.Errorf("plan shows the webhook URL, or not that it is kept:\n%s", lines)
	}
	// An option clashing with the kept URL: the error does not print it either.
	_, err := PlanSetup(ctx, e.clients, fastOptions(Options{DistributionIDs: []string{"E1AAA"}, SlackWebhookParameter: "/edgeflush/slack"}))
	if err == nil || strings.Contains(err.Error(), "SECRETSECRET") {
		t.Errorf("clash: %v", err)
	}
	if err := plan.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	params, err := edgecp.ParseParams(e.pipeline(t, "site").Stages[2].Actions[0].Configuration["UserParameters"])
	if err != nil || params.SlackWebhookURL != secret {
		t.Errorf("the URL was not kept in UserParameters: %v %v", params.SlackWebhookURL == secret, err)
	}
}

// Asked for, setup turns on versioning in the site bucket and adds its lifecycle rule,
// keeping the bucket's other rules; a second run plans nothing.
func TestSetupAddsTheLifecycleRule(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cfg, err := testkit.SDKConfig(ctx, fix.URL)
	if err != nil {
		t.Fatal(err)
	}
	s3c := awsconf.NewS3(cfg)
	e.clients.S3 = s3c
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("lc-site")}); err != nil {
		t.Fatal(err)
	}
	other := s3types.LifecycleRule{ID: aws.String("logs"), Status: s3types.ExpirationStatusEnabled,
		Filter: &s3types.LifecycleRuleFilter{Prefix: aws.String("logs/")}, Expiration: &s3types.LifecycleExpiration{Days: aws.Int32(30)}}
	if _, err := s3c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("lc-site"),
		LifecycleConfiguration: &s3types.BucketLifecycleConfiguration{Rules: []s3types.LifecycleRule{other}}}); err != nil {
		t.Fatal(err)
	}
	o := Options{DistributionIDs: []string{"E1AAA"}, Zip: zipV1, Bucket: "lc-site", Prefix: "www", RemovedVersionsDays: 7}
	plan := mustPlan(t, e, o)
	lines := strings.Join(planLines(plan), "\n")
	for _, want := range []string{"~ update bucket versioning lc-site", "+ create bucket lifecycle rule lc-site/" + LifecycleRuleID} {
		if !strings.Contains(lines, want) {
			t.Errorf("plan lacks %q:\n%s", want, lines)
		}
	}
	if err := plan.Apply(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := s3c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("lc-site")})
	if err != nil || v.Status != s3types.BucketVersioningStatusEnabled {
		t.Errorf("versioning %v %v", v, err)
	}
	lc, err := s3c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lc-site")})
	if err != nil || len(lc.Rules) != 2 {
		t.Fatalf("rules: %v %v", lc, err)
	}
	for _, r := range lc.Rules {
		if aws.ToString(r.ID) == LifecycleRuleID && (aws.ToString(r.Filter.Prefix) != "www/" || aws.ToInt32(r.NoncurrentVersionExpiration.NoncurrentDays) != 7) {
			t.Errorf("rule %+v", r)
		}
	}
	o.Zip = nil
	if again := mustPlan(t, e, o); !again.Empty() {
		t.Errorf("second run plans:\n%s", strings.Join(planLines(again), "\n"))
	}
	if _, err := PlanSetup(ctx, e.clients, fastOptions(Options{DistributionIDs: []string{"E1AAA"}, RemovedVersionsDays: 7})); err == nil || !strings.Contains(err.Error(), "--bucket") {
		t.Errorf("days without a bucket: %v", err)
	}
}
