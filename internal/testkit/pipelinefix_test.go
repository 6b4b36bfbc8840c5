package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codepipeline"
	cptypes "github.com/aws/aws-sdk-go-v2/service/codepipeline/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

func TestPipelineFixMakesMotoPipelinesReadable(t *testing.T) {
	m := StartMoto(t)
	fix := StartPipelineFix(t, m.URL)
	ctx := context.Background()
	cfg, err := SDKConfig(ctx, fix.URL)
	if err != nil {
		t.Fatal(err)
	}
	_, err = iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("pipe"),
		AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"codepipeline.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)})
	if err != nil {
		t.Fatal(err)
	}
	cp := codepipeline.NewFromConfig(cfg)
	before := time.Now().Add(-time.Minute)
	_, err = cp.CreatePipeline(ctx, &codepipeline.CreatePipelineInput{Pipeline: &cptypes.PipelineDeclaration{
		Name: aws.String("p"), RoleArn: aws.String("arn:aws:iam::123456789012:role/pipe"),
		ArtifactStore: &cptypes.ArtifactStore{Type: cptypes.ArtifactStoreTypeS3, Location: aws.String("a")},
		Stages: []cptypes.StageDeclaration{
			{Name: aws.String("Source"), Actions: []cptypes.ActionDeclaration{{Name: aws.String("S"),
				ActionTypeId:    &cptypes.ActionTypeId{Category: cptypes.ActionCategorySource, Owner: cptypes.ActionOwnerAws, Provider: aws.String("S3"), Version: aws.String("1")},
				Configuration:   map[string]string{"S3Bucket": "b", "S3ObjectKey": "k"},
				OutputArtifacts: []cptypes.OutputArtifact{{Name: aws.String("A")}}}}},
			{Name: aws.String("Deploy"), Actions: []cptypes.ActionDeclaration{{Name: aws.String("D"),
				ActionTypeId:   &cptypes.ActionTypeId{Category: cptypes.ActionCategoryDeploy, Owner: cptypes.ActionOwnerAws, Provider: aws.String("S3"), Version: aws.String("1")},
				Configuration:  map[string]string{"BucketName": "w", "Extract": "true"},
				InputArtifacts: []cptypes.InputArtifact{{Name: aws.String("A")}}}}},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}

	// Straight to moto the SDK cannot read the answer: that is what the proxy is for.
	direct, err := SDKConfig(ctx, m.URL)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := codepipeline.NewFromConfig(direct).GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("p")}); err == nil {
		t.Log("moto's GetPipeline is readable without the proxy now; the proxy may no longer be needed")
	}

	got, err := cp.GetPipeline(ctx, &codepipeline.GetPipelineInput{Name: aws.String("p")})
	if err != nil {
		t.Fatalf("GetPipeline through the proxy: %v", err)
	}
	created := aws.ToTime(got.Metadata.Created)
	if created.Before(before) || created.After(time.Now().Add(time.Minute)) {
		t.Errorf("created = %v, want about now", created)
	}
	if aws.ToInt32(got.Pipeline.Version) != 1 || len(got.Pipeline.Stages) != 2 {
		t.Errorf("pipeline = %+v", got.Pipeline)
	}
	list, err := cp.ListPipelines(ctx, &codepipeline.ListPipelinesInput{})
	if err != nil {
		t.Fatalf("ListPipelines through the proxy: %v", err)
	}
	if len(list.Pipelines) != 1 || aws.ToTime(list.Pipelines[0].Updated).Before(before) {
		t.Errorf("pipelines = %+v", list.Pipelines)
	}
	if fix.Rewritten() != 2 || fix.Requests("CodePipeline_20150709.GetPipeline") != 1 {
		t.Errorf("rewritten %d, GetPipeline requests %d", fix.Rewritten(), fix.Requests("CodePipeline_20150709.GetPipeline"))
	}
	if keys := fix.AccessKeys("codepipeline"); keys[AccessKeyID] != 3 {
		t.Errorf("codepipeline requests by key = %v, want 3 (create, get, list) by %s", keys, AccessKeyID)
	}
}

func TestRewritePipelineTimes(t *testing.T) {
	in := `{"pipeline":{"version":7,"size":12345678901234567890},"metadata":{"created":"2026-11-25T13:20:18.380Z","updated":"2026-11-25T13:20:18.380Z"},"note":{"created":"not a time"}}`
	out, changed := rewritePipelineTimes([]byte(in))
	want := `{"metadata":{"created":1795612818.38,"updated":1795612818.38},"note":{"created":"not a time"},"pipeline":{"size":12345678901234567890,"version":7}}`
	if !changed || string(out) != want {
		t.Errorf("got %s (changed %v)\nwant %s", out, changed, want)
	}
	if _, changed := rewritePipelineTimes([]byte(`<html>500</html>`)); changed {
		t.Error("non-JSON rewritten")
	}
}

func TestSigV4Credential(t *testing.T) {
	key, svc := SigV4Credential("AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20261125/us-east-1/cloudfront/aws4_request, SignedHeaders=host, Signature=abc")
	if key != "ASIAEXAMPLE" || svc != "cloudfront" {
		t.Errorf("got %q %q", key, svc)
	}
	if key, svc := SigV4Credential("Bearer x"); key != "" || svc != "" {
		t.Errorf("non-SigV4 gave %q %q", key, svc)
	}
}
