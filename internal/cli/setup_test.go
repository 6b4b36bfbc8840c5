package cli

import (
	"archive/zip"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/edgeflush/edgeflush/internal/testkit"
)

// setupEnv points the SDK's standard variables at the shared moto through the
// timestamp-fixing proxy (moto's GetPipeline is otherwise unreadable by the Go SDK),
// and returns a pipeline name with stages Source and Deploy. Names are unique per
// test because the moto is shared with the other tests of the package.
func setupEnv(t *testing.T, pipeline string) (cfg aws.Config) {
	t.Helper()
	m := moto(t)
	fix := testkit.StartPipelineFix(t, m.URL)
	for _, kv := range fix.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_PROFILE", "")
	t.Chdir(dir) // no .edgeflush.yaml
	ctx := context.Background()
	cfg, err := testkit.SDKConfig(ctx, fix.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(pipeline + "-pipeline"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codepipeline.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = codepipeline.NewFromConfig(cfg).CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: &cptypes.PipelineDeclaration{
		Name: aws.String(pipeline), RoleArn: aws.String("arn:aws:iam::123456789012:role/" + pipeline + "-pipeline"),
		ArtifactStore: &cptypes.ArtifactStore{Type: cptypes.ArtifactStoreTypeS3, Location: aws.String("artifacts")},
		Stages: []cptypes.StageDeclaration{
			{Name: aws.String("Source"), Actions: []cptypes.ActionDeclaration{{Name: aws.String("Source"),
				ActionTypeId:    &cptypes.ActionTypeId{Category: cptypes.ActionCategorySource, Owner: cptypes.ActionOwnerAws, Provider: aws.String("S3"), Version: aws.String("1")},
				Configuration:   map[string]string{"S3Bucket": "src", "S3ObjectKey": "site.zip"},
				OutputArtifacts: []cptypes.OutputArtifact{{Name: aws.String("Site")}}}}},
			{Name: aws.String("Deploy"), Actions: []cptypes.ActionDeclaration{{Name: aws.String("Deploy"),
				ActionTypeId:   &cptypes.ActionTypeId{Category: cptypes.ActionCategoryDeploy, Owner: cptypes.ActionOwnerAws, Provider: aws.String("S3"), Version: aws.String("1")},
				Configuration:  map[string]string{"BucketName": "www", "Extract": "true"},
				InputArtifacts: []cptypes.InputArtifact{{Name: aws.String("Site")}}}}},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func writeZip(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate}
	h.SetMode(0o755)
	f, err := w.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("#!/bin/sh\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "edgeflush-lambda.zip")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestSetupAndTeardownCommands(t *testing.T) {
	cfg := setupEnv(t, "cli-setup-site")
	ctx := context.Background()
	zipPath := writeZip(t)
	args := []string{"setup", "--pipeline", "cli-setup-site", "--distribution", "E1AAA,E2BBB", "--function-name", "cli-ef", "--zip", zipPath}

	code, out, errOut := runMain(t, append(args, "--dry-run")...)
	if code != 0 {
		t.Fatalf("dry run: exit %d, stderr %s", code, errOut)
	}
	wantLines(t, out, "setup of pipeline cli-setup-site, function cli-ef:",
		"  + create role cli-ef-role", "  + create role policy cli-ef-role/edgeflush (cloudfront invalidations on E1AAA, E2BBB",
		"  + create function cli-ef (provided.al2023 arm64", "  + create pipeline stage cli-setup-site/Invalidate (after Deploy",
		"dry run: 4 changes planned, nothing changed")
	if _, err := iam.NewFromConfig(cfg).GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("cli-ef-role")}); err == nil {
		t.Fatal("--dry-run created the role")
	}

	code, out, errOut = runMain(t, args...)
	if code != 0 {
		t.Fatalf("setup: exit %d, stderr %s", code, errOut)
	}
	wantLines(t, out, "applied 4 changes")
	if _, err := lambda.NewFromConfig(cfg).GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("cli-ef")}); err != nil {
		t.Fatalf("function not created: %v", err)
	}

	code, out, _ = runMain(t, args...)
	if code != 0 || !strings.Contains(out, "no changes: the pipeline already runs the action as configured") {
		t.Fatalf("second setup: exit %d:\n%s", code, out)
	}

	// The environment works like everywhere else: EDGEFLUSH_DISTRIBUTION replaces the flag.
	t.Setenv("EDGEFLUSH_DISTRIBUTION", "E1AAA")
	code, out, _ = runMain(t, "setup", "--pipeline", "cli-setup-site", "--function-name", "cli-ef", "--dry-run")
	if code != 0 {
		t.Fatalf("setup from env: exit %d", code)
	}
	wantLines(t, out, "~ update role policy cli-ef-role/edgeflush (cloudfront invalidations on E1AAA;", `"DistributionId":"E1AAA"`, "dry run: 2 changes planned")

	code, out, _ = runMain(t, "teardown", "--pipeline", "cli-setup-site", "--function-name", "cli-ef", "--dry-run")
	if code != 0 {
		t.Fatalf("teardown dry run: exit %d", code)
	}
	wantLines(t, out, "- delete pipeline stage cli-setup-site/Invalidate", "- delete function cli-ef", "- delete role policy cli-ef-role/edgeflush", "- delete role cli-ef-role", "dry run: 4 changes planned")
	code, out, errOut = runMain(t, "teardown", "--pipeline", "cli-setup-site", "--function-name", "cli-ef")
	if code != 0 {
		t.Fatalf("teardown: exit %d, stderr %s", code, errOut)
	}
	wantLines(t, out, "applied 4 changes")
	code, out, _ = runMain(t, "teardown", "--pipeline", "cli-setup-site", "--function-name", "cli-ef")
	if code != 0 {
		t.Fatalf("second teardown: exit %d", code)
	}
	wantLines(t, out, "note: pipeline cli-setup-site has no action calling function cli-ef", "no changes: nothing left to remove")
}

func TestSetupCommandErrors(t *testing.T) {
	setupEnv(t, "cli-setup-errors")
	zipPath := writeZip(t)
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"setup", "--distribution", "E1AAA"}, 2, "edgeflush: --pipeline is required"},
		{[]string{"setup", "--pipeline", "p"}, 2, "edgeflush: --distribution is required"},
		{[]string{"setup", "--pipeline", "cli-setup-errors", "--distribution", "e1-x"}, 2, `distribution id "e1-x"`},
		{[]string{"setup", "--pipeline", "cli-setup-errors", "--distribution", "E1", "--memory", "64"}, 2, "--memory 64"},
		{[]string{"setup", "--pipeline", "cli-setup-errors", "--distribution", "E1", "--external-id", "x"}, 2, "--external-id needs --role-arn"},
		{[]string{"setup", "--pipeline", "nope", "--distribution", "E1AAA", "--zip", zipPath}, 1, `edgeflush: pipeline "nope" not found: check the name and the region`},
		{[]string{"setup", "--pipeline", "cli-setup-errors", "--distribution", "E1AAA", "--after-stage", "Build", "--zip", zipPath}, 1, `stage "Build" not found: pipeline cli-setup-errors has stages Source, Deploy`},
		{[]string{"setup", "--pipeline", "cli-setup-errors", "--distribution", "E1AAA"}, 1, "no zip was given"},
		{[]string{"setup", "--pipeline", "cli-setup-errors", "--distribution", "E1AAA", "--zip", "missing.zip"}, 1, "read function zip"},
		{[]string{"teardown"}, 2, "--pipeline is required"},
		{[]string{"teardown", "--pipeline", "nope"}, 1, `pipeline "nope" not found`},
	} {
		code, out, errOut := runMain(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.stderr) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q, want exit %d and one line with %q (stdout %q)", tc.args, code, errOut, tc.code, tc.stderr, out)
		}
	}
	// None of the failures created anything.
	if code, out, _ := runMain(t, "teardown", "--pipeline", "cli-setup-errors", "--dry-run"); code != 0 || !strings.Contains(out, "no changes") {
		t.Errorf("something was created: exit %d\n%s", code, out)
	}
}
