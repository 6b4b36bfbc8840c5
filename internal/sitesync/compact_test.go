package sitesync

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestETagPacking(t *testing.T) {
	for _, s := range []string{
		`"d41d8cd98f00b204e9800998ecf8427e"`,
		"d41d8cd98f00b204e9800998ecf8427e-12",
		"D41D8CD98F00B204E9800998ECF8427E", // upper case: kept as text
		"d41d8cd98f00b204e9800998ecf8427e-0",
		"d41d8cd98f00b204e9800998ecf8427e-012",
		"not-an-md5",
		"",
	} {
		e := parseETag(s)
		if got, want := e.String(), strings.Trim(s, `"`); got != want {
			t.Errorf("parseETag(%q).String() = %q, want %q", s, got, want)
		}
		if parseETag(e.String()) != e {
			t.Errorf("%q does not round-trip", s)
		}
	}
	single := parseETag("d41d8cd98f00b204e9800998ecf8427e")
	if single.multipart() || !single.isMD5([16]byte{0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e}) {
		t.Errorf("single-part ETag: %+v", single)
	}
	if !parseETag("d41d8cd98f00b204e9800998ecf8427e-3").multipart() || !parseETag("x-y").multipart() {
		t.Error("multipart ETags not recognised")
	}
	if parseETag("d41d8cd98f00b204e9800998ecf8427e") == parseETag("d41d8cd98f00b204e9800998ecf8427e-1") {
		t.Error("a multipart ETag equals the single-part one")
	}
}

// A damaged manifest must cost HEADs, never a wrong "unchanged": the streamed decoder
// marks nothing known unless it read the whole manifest.
func TestDamagedManifestFallsBackToHeads(t *testing.T) {
	ctx := context.Background()
	client, rec, bucket := newBucket(t)
	dir := t.TempDir()
	files := site(5)
	writeTree(t, dir, files)
	if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	body := manifestBody(t, client, bucket, "")
	if !strings.Contains(body, `"version":1`) || strings.Count(body, `"md5"`) != len(files) {
		t.Fatalf("manifest after the first deploy: %s", body)
	}
	for _, damaged := range []string{body[:len(body)/2], strings.Replace(body, `"version":1`, `"version":7`, 1), "[]"} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(manifestKey("")),
			Body: strings.NewReader(damaged)}); err != nil {
			t.Fatal(err)
		}
		// One changed file, same size: only its content tells it apart.
		writeTree(t, dir, map[string]string{"noext": strings.Repeat("X", len(files["noext"]))})
		files["noext"] = strings.Repeat("X", len(files["noext"]))
		rec.reset()
		res, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket})
		if err != nil {
			t.Fatal(err)
		}
		reqs := rec.reset()
		if len(res.Uploaded) > 1 || len(res.Unchanged) < len(files)-1 {
			t.Errorf("damaged manifest %.40q: uploaded %v, %d unchanged", damaged, res.Uploaded, len(res.Unchanged))
		}
		if n := count(reqs, "HEAD "); n == 0 {
			t.Errorf("damaged manifest %.40q: no HEADs, so it was trusted", damaged)
		}
		// The next run trusts the manifest written by this one again.
		if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket}); err != nil {
			t.Fatal(err)
		}
		if n := count(rec.reset(), "HEAD "); n != 0 {
			t.Errorf("after rewriting the manifest: %d HEADs, want 0", n)
		}
	}
}

// Without a usable temporary directory the manifest is built in memory instead.
func TestManifestWithoutTempDir(t *testing.T) {
	ctx := context.Background()
	client, rec, bucket := newBucket(t)
	dir := t.TempDir()
	writeTree(t, dir, site(3))
	t.Setenv("TMPDIR", dir+"/missing")
	if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	if body := manifestBody(t, client, bucket, ""); !strings.HasPrefix(body, `{"version":1,"entries":{`) {
		t.Fatalf("manifest: %s", body)
	}
	rec.reset()
	res, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	if reqs := rec.reset(); count(reqs, "HEAD ") != 0 || len(res.Uploaded) != 0 {
		t.Errorf("redeploy: uploaded %v, %d HEADs, want none (manifest)", res.Uploaded, count(reqs, "HEAD "))
	}
}
