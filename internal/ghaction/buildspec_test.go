package ghaction

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.yaml.in/yaml/v3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// buildspec is the part of deploy/buildspec.yml CodeBuild reads.
type buildspec struct {
	Version string `yaml:"version"`
	Env     struct {
		Variables map[string]string `yaml:"variables"`
	} `yaml:"env"`
	Phases map[string]struct {
		Commands []string `yaml:"commands"`
	} `yaml:"phases"`
	Artifacts struct {
		Files []string `yaml:"files"`
	} `yaml:"artifacts"`
}

func readRootFile(t *testing.T, rel string) []byte {
	t.Helper()
	root, err := testkit.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// The CodeBuild pipeline example embeds deploy/buildspec.yml verbatim as its project's
// buildspec, so the file users copy and the template cannot drift apart.
func TestCodeBuildTemplateEmbedsBuildspec(t *testing.T) {
	var tmpl yaml.Node
	if err := yaml.Unmarshal(readRootFile(t, "deploy/example-codebuild-pipeline.yaml"), &tmpl); err != nil {
		t.Fatal(err)
	}
	get := func(n *yaml.Node, key string) *yaml.Node {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i+1]
			}
		}
		t.Fatalf("no key %q", key)
		return nil
	}
	n := tmpl.Content[0]
	for _, k := range []string{"Resources", "DeployProject", "Properties", "Source", "BuildSpec"} {
		n = get(n, k)
	}
	if want := string(readRootFile(t, "deploy/buildspec.yml")); n.Value != want {
		t.Errorf("the template's BuildSpec differs from deploy/buildspec.yml:\n%s", n.Value)
	}
}

// The buildspec's phases, run as CodeBuild runs them (each command by sh, in order, the
// project's variables over the buildspec's), install the release checked against its
// SHA256SUMS and deploy with --wait; a failed deploy fails the build.
func TestBuildspecDeploys(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("CodeBuild runs linux")
	}
	var bs buildspec
	if err := yaml.Unmarshal(readRootFile(t, "deploy/buildspec.yml"), &bs); err != nil {
		t.Fatal(err)
	}
	if bs.Version != "0.2" || len(bs.Artifacts.Files) == 0 {
		t.Fatalf("buildspec: version %q, artifacts %v", bs.Version, bs.Artifacts.Files)
	}
	asset := "edgeflush-linux-" + runtime.GOARCH
	rel := newRelease(t, asset, false)
	cf := testkit.StartCloudFront(t, moto.URL, testkit.CloudFrontOptions{})
	bucket := newBucket(t)
	dist := siteDistribution(t, cf.URL, bucket)
	src, bin := t.TempDir(), t.TempDir()
	for p, c := range map[string]string{"site/index.html": "<html>home</html>", "site/css/a.css": "body{}",
		".edgeflush.yaml": "rules:\n  - match: \"**\"\n    headers: {Cache-Control: \"max-age=60\"}\n"} {
		full := filepath.Join(src, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := func(project map[string]string) (string, error) {
		env := append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "CODEBUILD_SRC_DIR=" + src}, moto.Env()...)
		env = append(env, cf.Env()...)
		vars := map[string]string{}
		for k, v := range bs.Env.Variables {
			vars[k] = v
		}
		for k, v := range project {
			vars[k] = v
		}
		for k, v := range vars {
			env = append(env, k+"="+v)
		}
		var log strings.Builder
		for _, phase := range []string{"install", "pre_build", "build"} {
			for _, c := range bs.Phases[phase].Commands {
				cmd := exec.Command("sh", "-c", c)
				cmd.Dir, cmd.Env = src, env
				out, err := cmd.CombinedOutput()
				log.Write(out)
				if err != nil {
					return log.String(), err
				}
			}
		}
		return log.String(), nil
	}
	project := map[string]string{
		"EDGEFLUSH_BUCKET": bucket, "EDGEFLUSH_DISTRIBUTION": dist, "SITE_DIR": "site",
		"EDGEFLUSH_INSTALL_RELEASE": testVersion, "EDGEFLUSH_RELEASE_URL": rel.url, "EDGEFLUSH_BIN_DIR": bin,
		"BUILD_COMMAND": "echo built > site/built.txt",
	}
	log, err := build(project)
	if err != nil {
		t.Fatalf("build failed: %v\n%s", err, log)
	}
	if !strings.Contains(log, "edgeflush-linux-"+runtime.GOARCH+": OK") || !strings.Contains(log, `"status": "Completed"`) {
		t.Errorf("log lacks the checksum check or the completed invalidation:\n%s", log)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "edgeflush-result.json")); !strings.Contains(string(b), `"key": "built.txt"`) {
		t.Errorf("the result artifact lacks the built file:\n%s", b)
	}
	out, err := awsconf.NewS3(moto.Config(t), func(o *s3.Options) { o.BaseEndpoint = aws.String(moto.URL) }).HeadObject(context.Background(),
		&s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("index.html")})
	if err != nil || aws.ToString(out.CacheControl) != "max-age=60" {
		t.Errorf("index.html: %v, Cache-Control %q: the source's .edgeflush.yaml was not applied", err, aws.ToString(out.CacheControl))
	}
	if n := len(cf.Invalidations(dist)); n != 1 {
		t.Errorf("%d invalidations, want 1", n)
	}

	// A deploy that fails (the delete guard) fails the build, after printing the reason.
	// The removed stylesheet would be kept for --keep-removed (24h) and not count: with
	// EDGEFLUSH_KEEP_REMOVED=0 it is deleted by this run, which the guard refuses.
	if err := os.Remove(filepath.Join(src, "site", "css", "a.css")); err != nil {
		t.Fatal(err)
	}
	project["EDGEFLUSH_MAX_DELETES"] = "0"
	project["EDGEFLUSH_KEEP_REMOVED"] = "0"
	log, err = build(project)
	if err == nil || !strings.Contains(log, "edgeflush: refusing to delete 1 objects") {
		t.Errorf("guarded deploy: err %v, want a failed build saying why:\n%s", err, log)
	}
}
