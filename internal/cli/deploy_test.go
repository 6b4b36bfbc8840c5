package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudfront"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/awsconf"
	"github.com/edgeflush/edgeflush/internal/invalidation"
	"github.com/edgeflush/edgeflush/internal/ledger"
	"github.com/edgeflush/edgeflush/internal/sitesync"
	"github.com/edgeflush/edgeflush/internal/testkit"
)

// crashSite is version v of a site whose pages refer to fingerprinted assets: a new
// version renames some assets (the old names disappear, so the deploy deletes them),
// changes some pages, and keeps a mass of unchanged images so that runs last long
// enough to be killed in the middle.
func crashSite(v int) map[string]string {
	files := map[string]string{}
	for i := 0; i < 5; i++ {
		h := 1
		if i < v {
			h = v
		}
		files[fmt.Sprintf("assets/lib-%d.%d.js", i, h)] = fmt.Sprintf("lib %d build %d", i, h)
	}
	files[fmt.Sprintf("css/site.%d.css", v)] = fmt.Sprintf("body{--v:%d}", v)
	for i := 0; i < 60; i++ {
		files[fmt.Sprintf("img/pic %02d ü.png", i)] = strings.Repeat(fmt.Sprintf("image %d;", i), 200)
	}
	for i := 0; i < 30; i++ {
		lib := i % 5
		h := 1
		if lib < v {
			h = v
		}
		version := 1
		if i%3 == 0 {
			version = v // a third of the pages change with each version
		}
		files[fmt.Sprintf("page-%02d/index.html", i)] = fmt.Sprintf(
			`<html><link href="/css/site.%d.css"><script src="/assets/lib-%d.%d.js"></script><img src="/img/pic %02d ü.png"><p>page %d v%d</p></html>`,
			v, lib, h, i%60, i, version)
	}
	// Pages that exist only in some versions are deleted with their assets.
	files[fmt.Sprintf("old/v%d.html", v)] = fmt.Sprintf(`<html><script src="/assets/only-%d.js"></script></html>`, v)
	files[fmt.Sprintf("assets/only-%d.js", v)] = "only"
	files["index.html"] = fmt.Sprintf(`<html><script src="/assets/lib-0.%d.js"></script><a href="/page-00/">v%d</a></html>`, v, v)
	return files
}

var refRE = regexp.MustCompile(`(?:src|href)="/([^"]+)"`)

// checkReferences asserts the invariant of an intermediate state: every HTML page in the
// bucket refers only to objects that exist in the bucket.
func checkReferences(t *testing.T, client *s3.Client, bucket, when string) {
	t.Helper()
	ctx := context.Background()
	keys := map[string]bool{}
	pager := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys[aws.ToString(o.Key)] = true
		}
	}
	for key := range keys {
		if !sitesync.IsHTML(key) {
			continue
		}
		body := readObject(t, client, bucket, key)
		for _, m := range refRE.FindAllStringSubmatch(body, -1) {
			ref := m[1]
			if strings.HasSuffix(ref, "/") {
				ref += "index.html"
			}
			if !keys[ref] {
				t.Errorf("%s: page %s refers to %s, missing from the bucket", when, key, ref)
			}
		}
	}
}

func readObject(t *testing.T, client *s3.Client, bucket, key string) string {
	t.Helper()
	out, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)},
		func(o *s3.Options) { o.DisableLogOutputChecksumValidationSkipped = true })
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func replaceTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// buildCLI builds cmd/edgeflush into a temporary directory.
func buildCLI(t *testing.T) string {
	t.Helper()
	root, err := testkit.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "edgeflush")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/edgeflush")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build edgeflush: %v\n%s", err, out)
	}
	return bin
}

// TestDeployCrashSafe kills `edgeflush deploy` at random points (SIGKILL, bounded loop)
// while it moves the bucket from one site version to the next, and checks after every
// kill that no page in the bucket refers to a missing object; then it lets a run finish
// and checks that the bucket converged to the local tree and that the final run
// invalidates every key changed since the last complete deploy (the ledger).
func TestDeployCrashSafe(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns many deploys")
	}
	m := testkit.StartMoto(t)
	bin := buildCLI(t)
	// A little latency per request, as S3 has, widens the windows between writes.
	target, _ := url.Parse(m.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(3 * time.Millisecond)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)

	ctx := context.Background()
	client := awsconf.NewS3(m.Config(t))
	const bucket = "crash-site"
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	// The distribution reads the bucket: deploy checks that before writing.
	dist := testkit.CreateDistributionWith(t, m.URL, testkit.DistributionSpec{Origins: []testkit.DistributionOrigin{{ID: "site", DomainName: bucket + ".s3.amazonaws.com"}}})
	work := t.TempDir() // no .edgeflush.yaml here: defaults apply
	site := filepath.Join(work, "public")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work}
	for _, kv := range m.Env() {
		if strings.HasPrefix(kv, "AWS_ENDPOINT_URL=") {
			kv = "AWS_ENDPOINT_URL=" + slow.URL
		}
		env = append(env, kv)
	}
	deploy := func(extra ...string) *exec.Cmd {
		args := append([]string{"deploy", "public", "--bucket", bucket, "--concurrency", "4", "--distribution", dist, "--output", "json",
			"--wait", "--keep-removed", "0"}, extra...)
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = work, env
		return cmd
	}

	replaceTree(t, site, crashSite(1))
	start := time.Now()
	if out, err := deploy().CombinedOutput(); err != nil {
		t.Fatalf("first deploy: %v\n%s", err, out)
	}
	full := time.Since(start)
	checkReferences(t, client, bucket, "after v1")

	rng := rand.New(rand.NewPCG(4, 2))
	prev := crashSite(1)
	kills := 0
	for v := 2; v <= 3; v++ {
		cur := crashSite(v)
		replaceTree(t, site, cur)
		var want []string // keys this version changes: new, modified, deleted
		for k, c := range cur {
			if prev[k] != c {
				want = append(want, k)
			}
		}
		for k := range prev {
			if _, ok := cur[k]; !ok {
				want = append(want, k)
			}
		}
		sort.Strings(want)

		// The invalidations that exist before this version's runs: whatever is created
		// after them, by any run (even one killed before it could print its report),
		// counts for this version.
		before := invalidationPaths(t, m.URL, dist)
		record := func(out []byte) {
			var rep deployOutput
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("v%d: deploy output: %v\n%s", v, err, out)
			}
			if (len(rep.Invalidations) == 0 || rep.Invalidations[0].ID == "") && len(rep.Paths) > 0 {
				t.Errorf("v%d: a finished run planned %v but did not invalidate", v, rep.Paths)
			}
		}
		for i := 0; i < 5; i++ {
			cmd := deploy()
			var stdout strings.Builder
			cmd.Stdout = &stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			delay := time.Duration(rng.Int64N(int64(full)))
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("v%d run %d failed on its own: %v", v, i, err)
				}
				record([]byte(stdout.String()))
			case <-time.After(delay):
				_ = cmd.Process.Kill()
				if err := <-done; err == nil {
					record([]byte(stdout.String())) // finished just before the kill
				} else {
					kills++
				}
			}
			checkReferences(t, client, bucket, fmt.Sprintf("v%d, run %d killed after %s", v, i, delay))
		}

		out, err := deploy().Output()
		if err != nil {
			t.Fatalf("v%d final deploy: %v\n%s", v, err, out)
		}
		record(out)
		checkReferences(t, client, bucket, fmt.Sprintf("v%d converged", v))

		// Converged: exactly the local tree, byte for byte, nothing lost.
		got := map[string]bool{}
		pager := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		for pager.HasMorePages() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range page.Contents {
				if k := aws.ToString(o.Key); !strings.HasPrefix(k, sitesync.ReservedDir) {
					got[k] = true
				}
			}
		}
		if len(got) != len(cur) {
			t.Errorf("v%d: bucket has %d site objects, local tree %d", v, len(got), len(cur))
		}
		for k, c := range cur {
			if !got[k] {
				t.Errorf("v%d: %s lost", v, k)
			} else if body := readObject(t, client, bucket, k); body != c {
				t.Errorf("v%d: %s has stale content %q", v, k, body)
			}
		}

		// Every key changed since v-1 was invalidated in CloudFront by some run of this
		// version, whichever killed run actually wrote it (the ledger carries it over).
		var paths []string
		for id, ps := range invalidationPaths(t, m.URL, dist) {
			if _, old := before[id]; !old {
				paths = append(paths, ps...)
			}
		}
		// Removed objects are deleted once that invalidation completed; they are then
		// pending in the ledger for the next deploy's invalidation.
		l, _, err := ledger.Store{Client: client, Bucket: bucket}.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pending, _ := l.Pending()
		for _, k := range want {
			_, inSite := cur[k]
			switch {
			case pathsCover(t, paths, "/"+k):
			case !inSite && slices.Contains(pending, k):
			default:
				t.Errorf("v%d: changed key %s was never invalidated nor left pending (paths %q, pending %q)", v, k, paths, pending)
			}
		}
		for _, k := range pending {
			if _, inSite := cur[k]; inSite {
				t.Errorf("v%d: %s still pending in the ledger after a complete deploy that waited", v, k)
			}
		}
		prev = cur
	}
	t.Logf("%d runs killed mid-deploy (full deploy %s)", kills, full)
}

// invalidationPaths returns every invalidation of dist at endpoint with its paths.
func invalidationPaths(t *testing.T, endpoint, dist string) map[string][]string {
	t.Helper()
	ctx := context.Background()
	cfg, err := testkit.SDKConfig(ctx, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	c := cloudfront.NewFromConfig(cfg)
	out := map[string][]string{}
	pager := cloudfront.NewListInvalidationsPaginator(c, &cloudfront.ListInvalidationsInput{DistributionId: aws.String(dist)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, item := range page.InvalidationList.Items {
			inv, err := invalidation.Get(ctx, c, dist, aws.ToString(item.Id))
			if err != nil {
				t.Fatal(err)
			}
			out[inv.ID] = inv.Paths
		}
	}
	return out
}

// pathsCover reports whether one of the (URL-encoded) invalidation paths matches the
// raw URL u, exactly or as a wildcard prefix.
func pathsCover(t *testing.T, paths []string, u string) bool {
	t.Helper()
	for _, p := range paths {
		raw, err := url.PathUnescape(p)
		if err != nil {
			t.Fatalf("invalidation path %q: %v", p, err)
		}
		if raw == u || (strings.HasSuffix(raw, "*") && strings.HasPrefix(u, strings.TrimSuffix(raw, "*"))) {
			return true
		}
	}
	return false
}
