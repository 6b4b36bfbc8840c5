package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// deploySite is a small site as a build stage would zip it, with its header rules.
func deploySite(version int) map[string]string {
	files := map[string]string{
		".edgeflush.yaml": "rules:\n  - match: \"**/*.html\"\n    headers: {Cache-Control: \"no-cache\"}\n" +
			"  - match: \"assets/**\"\n    headers: {Cache-Control: \"max-age=31536000, immutable\"}\n",
		"assets/app.js":     "console.log('app')",
		"img/logo dé.png":   "png",
		"index.html":        `<html><script src="/assets/app.js"></script></html>`,
		"blog/a/index.html": "<p>a</p>",
		"blog/b/index.html": "<p>b</p>",
		"about/index.html":  "<p>about</p>",
	}
	if version >= 2 {
		files["blog/b/index.html"] = "<p>b, edited</p>"
		delete(files, "about/index.html")
	}
	return files
}

// The deploy mode through the real bootstrap under the emulator: the function reads the
// artifact zip from the artifact bucket, syncs it to the site bucket, invalidates what
// changed and waits; a redelivered first event adds no invalidation; a second execution
// invalidates only the blog; a configuration that deletes too much fails and deletes
// nothing.
func TestDeployModeThroughBootstrap(t *testing.T) {
	ctx := context.Background()
	s3c := awsconf.NewS3(moto.Config(t))
	suffix := fmt.Sprint(time.Now().UnixNano() % 1e9)
	artifacts, site := "artifacts-"+suffix, "site-"+suffix
	for _, b := range []string{artifacts, site} {
		if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(key string, files map[string]string) testkit.Artifact {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(artifacts), Key: aws.String(key), Body: bytes.NewReader(testkit.ArtifactZip(t, files))}); err != nil {
			t.Fatal(err)
		}
		return testkit.Artifact{Name: "BuildOutput", Bucket: artifacts, Key: key, Revision: key}
	}

	s := newStack(t, testkit.CloudFrontOptions{CompleteAfter: 200 * time.Millisecond})
	dist := s.siteDist(site)
	params := fmt.Sprintf(`{"DistributionId": %q, "Bucket": %q, "MaxDeletes": 5}`, dist, site)

	// First execution, its first event delivered twice.
	d := s.driver(params)
	d.InputArtifacts = []testkit.Artifact{put("pipe/BuildOutput/v1.zip", deploySite(1))}
	d.Redeliver = 1
	chain := s.run(d)
	if !chain.Succeeded() {
		t.Fatalf("v1: final result %s, want success", final(t, chain))
	}
	if got := final(t, chain).OutputVariables["Uploaded"]; got != "6" {
		t.Errorf("v1: Uploaded output variable %q, want 6", got)
	}
	invs := s.cf.Invalidations(dist)
	if len(invs) != 1 {
		t.Fatalf("v1: %d invalidations, want 1 (the redelivery must reuse it)", len(invs))
	}
	head, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(site), Key: aws.String("assets/app.js")})
	if err != nil || aws.ToString(head.CacheControl) != "max-age=31536000, immutable" {
		t.Errorf("v1: assets/app.js: %v, Cache-Control %q", err, aws.ToString(head.CacheControl))
	}
	if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(site), Key: aws.String("img/logo dé.png")}); err != nil {
		t.Errorf("v1: non-ASCII key missing: %v", err)
	}
	if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(site), Key: aws.String(".edgeflush.yaml")}); err == nil {
		t.Error("v1: the config file was uploaded")
	}

	// Second execution: one page edited, one deleted.
	d = s.driver(params)
	d.InputArtifacts = []testkit.Artifact{put("pipe/BuildOutput/v2.zip", deploySite(2))}
	chain = s.run(d)
	if !chain.Succeeded() {
		t.Fatalf("v2: final result %s, want success", final(t, chain))
	}
	invs = s.cf.Invalidations(dist)
	if len(invs) != 2 {
		t.Fatalf("v2: %d invalidations in all, want 2", len(invs))
	}
	paths := strings.Join(invs[1].Paths, " ")
	if strings.Contains(paths, "/assets") || strings.Contains(paths, "/blog/a") || paths == "/*" ||
		!strings.Contains(paths, "/about") || !strings.Contains(paths, "/blog/b") && !strings.Contains(paths, "/blog/*") {
		t.Errorf("v2: paths %q, want exactly the edited and deleted pages", paths)
	}
	if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(site), Key: aws.String("about/index.html")}); err == nil {
		t.Error("v2: about/index.html not deleted")
	}

	// Third execution: an artifact that would delete everything but one page: two pages
	// go once the invalidation completed (the asset and the image would be kept for
	// KeepRemoved, apart from the guard's count).
	d = s.driver(fmt.Sprintf(`{"DistributionId": %q, "Bucket": %q, "MaxDeletes": 1}`, dist, site))
	d.InputArtifacts = []testkit.Artifact{put("pipe/BuildOutput/v3.zip", map[string]string{"index.html": "x"})}
	chain = s.run(d)
	res := final(t, chain)
	if res.Success || res.FailureType != "ConfigurationError" || !strings.Contains(res.FailureMessage, "MaxDeletes") ||
		!strings.Contains(res.FailureMessage, "refusing to delete 2 objects") {
		t.Fatalf("v3: result %s, want a ConfigurationError naming MaxDeletes and the count", res)
	}
	if len(s.cf.Invalidations(dist)) != 2 {
		t.Error("v3: a refused deploy created an invalidation")
	}
	if _, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(site), Key: aws.String("blog/a/index.html")}); err != nil {
		t.Errorf("v3: refused deploy deleted blog/a/index.html: %v", err)
	}
}
