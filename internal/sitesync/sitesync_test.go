package sitesync

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/edgeflush/edgeflush/internal/siteconfig"
)

func site(n int) map[string]string {
	files := map[string]string{
		"index.html":                `<html><link href="/css/site.css"><script src="/assets/app.js"></script></html>`,
		"about/index.html":          `<html>about</html>`,
		"css/site.css":              `body{color:red}`,
		"assets/app.js":             `console.log(1)`,
		"img/logo.png":              "\x89PNG\r\n\x1a\nfake",
		"docs/my report ü.txt":      "spaces and non-ASCII",
		"données/été 2024/a+b.html": "<p>accents</p>",
		"noext":                     "%PDF-1.4 sniffed",
		"empty.txt":                 "",
	}
	for i := 0; i < n; i++ {
		files[fmt.Sprintf("pages/p%03d/index.html", i)] = fmt.Sprintf("<html>page %d</html>", i)
		files[fmt.Sprintf("assets/chunk-%03d.js", i)] = fmt.Sprintf("var x=%d;", i)
	}
	return files
}

func TestFirstDeployThenNoopRedeploy(t *testing.T) {
	ctx := context.Background()
	client, rec, bucket := newBucket(t)
	dir := t.TempDir()
	files := site(10)
	writeTree(t, dir, files)
	writeTree(t, dir, map[string]string{siteconfig.FileName: "rules: []\n", ".edgeflush/x": "reserved"})

	res, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Uploaded) != len(files) || len(res.Deleted) != 0 {
		t.Fatalf("uploaded %d deleted %d, want %d and 0", len(res.Uploaded), len(res.Deleted), len(files))
	}
	if got := writes(rec.reset(), true); len(got) != len(files) {
		t.Fatalf("first deploy made %d site writes, want %d", len(got), len(files))
	}
	for p, c := range files {
		out, body := getObject(t, client, bucket, p)
		if body != c {
			t.Errorf("%s: body %q, want %q", p, body, c)
		}
		if out.Metadata[MD5MetadataKey] == "" {
			t.Errorf("%s: no %s metadata", p, MD5MetadataKey)
		}
	}
	out, _ := getObject(t, client, bucket, "noext")
	if ct := aws.ToString(out.ContentType); ct != "application/pdf" {
		t.Errorf("sniffed type %q, want application/pdf", ct)
	}
	out, _ = getObject(t, client, bucket, "données/été 2024/a+b.html")
	if ct := aws.ToString(out.ContentType); ct != "text/html; charset=utf-8" {
		t.Errorf("html type %q", ct)
	}
	if cc := aws.ToString(out.CacheControl); cc != "public, max-age=0, must-revalidate" {
		t.Errorf("default HTML Cache-Control %q", cc)
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(siteconfig.FileName)}); err == nil {
		t.Error("the config file was uploaded")
	}
	rec.reset()

	touchAll(t, dir)
	res, err = Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket})
	if err != nil {
		t.Fatal(err)
	}
	reqs := rec.reset()
	if w := writes(reqs, false); len(w) != 0 {
		t.Errorf("no-op redeploy wrote: %v", w)
	}
	if n := count(reqs, "HEAD "); n != 0 {
		t.Errorf("no-op redeploy made %d HEADs, want 0 (manifest)", n)
	}
	if len(res.Uploaded)+len(res.Deleted)+len(res.Changed) != 0 || len(res.Unchanged) != len(files) {
		t.Errorf("no-op result: %+v", res)
	}
	if len(res.All) != len(files) {
		t.Errorf("All = %d keys, want %d", len(res.All), len(files))
	}
}

func TestOnePercentChanged(t *testing.T) {
	ctx := context.Background()
	client, rec, bucket := newBucket(t)
	dir := t.TempDir()
	files := site(100) // 208 files
	writeTree(t, dir, files)
	if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket, Concurrency: 8}); err != nil {
		t.Fatal(err)
	}
	rec.reset()
	touchAll(t, dir)
	changed := []string{"assets/chunk-007.js", "pages/p042/index.html"}
	for _, p := range changed {
		writeTree(t, dir, map[string]string{p: files[p] + " changed"})
	}
	res, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	reqs := rec.reset()
	site := writes(reqs, true)
	sort.Strings(site)
	want := []string{"PUT assets/chunk-007.js", "PUT pages/p042/index.html"}
	if strings.Join(site, ",") != strings.Join(want, ",") {
		t.Errorf("site writes %v, want %v", site, want)
	}
	if all := writes(reqs, false); len(all) != len(want)+1 {
		t.Errorf("writes %v, want the changed files plus the manifest", all)
	}
	if strings.Join(res.Changed, ",") != strings.Join(changed, ",") {
		t.Errorf("Changed = %v, want %v", res.Changed, changed)
	}
}

func TestDeletesGuardAndNoDelete(t *testing.T) {
	ctx := context.Background()
	client, rec, bucket := newBucket(t)
	dir := t.TempDir()
	writeTree(t, dir, site(3))
	if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket, Prefix: "/www"}); err != nil {
		t.Fatal(err)
	}
	// An object outside the prefix is never touched, nor the state of a site deployed
	// under a deeper prefix.
	for _, k := range []string{"other/keep.txt", "www/nested/.edgeflush/manifest.json", "www/folder/"} {
		if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k), Body: strings.NewReader("x")}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"pages/p000/index.html", "pages/p001/index.html", "docs/my report ü.txt"} {
		if err := os.Remove(filepath.Join(dir, filepath.FromSlash(p))); err != nil {
			t.Fatal(err)
		}
	}
	writeTree(t, dir, map[string]string{"new.css": "a{}"})
	rec.reset()

	// Guard: 3 deletes > 2 allowed: nothing at all is written.
	_, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket, Prefix: "www", MaxDeletes: 2})
	var ge *DeleteGuardError
	if !errors.As(err, &ge) || ge.Count != 3 || ge.Max != 2 {
		t.Fatalf("err = %v, want DeleteGuardError 3 > 2", err)
	}
	if !strings.Contains(err.Error(), "3 objects") || !strings.Contains(err.Error(), "--max-deletes") {
		t.Errorf("guard message %q does not name the count and the flag", err)
	}
	if w := writes(rec.reset(), false); len(w) != 0 {
		t.Errorf("guarded sync wrote %v", w)
	}

	// NoDelete: uploads happen, deletes are reported as kept.
	res, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket, Prefix: "www", MaxDeletes: 2, NoDelete: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Kept) != 3 || len(res.Deleted) != 0 || strings.Join(res.Uploaded, ",") != "www/new.css" {
		t.Errorf("no-delete result %+v", res)
	}
	if n := count(writes(rec.reset(), true), "DELETE"); n != 0 {
		t.Errorf("no-delete sync made %d deletes", n)
	}

	res, err = Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket, Prefix: "www"})
	if err != nil {
		t.Fatal(err)
	}
	want := "www/docs/my report ü.txt,www/pages/p000/index.html,www/pages/p001/index.html"
	if strings.Join(res.Deleted, ",") != want || strings.Join(res.Changed, ",") != want {
		t.Errorf("deleted %v changed %v, want %s", res.Deleted, res.Changed, want)
	}
	for _, k := range append(res.Deleted, "other/keep.txt", "www/nested/.edgeflush/manifest.json", "www/folder/") {
		_, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(k)})
		if (err == nil) != (k == "other/keep.txt" || strings.Contains(k, "nested") || k == "www/folder/") {
			t.Errorf("%s: head err %v", k, err)
		}
	}
}

const rulesYAML = `
rules:
  - match: "**/*.html"
    headers:
      Cache-Control: "public, max-age=0, must-revalidate"
      Content-Language: fr
  - match: "assets/**"
    headers:
      Cache-Control: "public, max-age=31536000, immutable"
    gzip: true
  - match: "img/*"
    headers:
      Content-Disposition: inline
      Content-Type: image/x-custom
    metadata:
      team: web
`

func TestHeadersPerRuleAndHeaderOnlyChange(t *testing.T) {
	ctx := context.Background()
	client, rec, bucket := newBucket(t)
	dir := t.TempDir()
	files := site(2)
	writeTree(t, dir, files)
	cfg, err := siteconfig.Parse([]byte(rulesYAML))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket, Config: cfg}); err != nil {
		t.Fatal(err)
	}
	out, _ := getObject(t, client, bucket, "about/index.html")
	if aws.ToString(out.CacheControl) != "public, max-age=0, must-revalidate" || aws.ToString(out.ContentLanguage) != "fr" {
		t.Errorf("html headers: %q %q", aws.ToString(out.CacheControl), aws.ToString(out.ContentLanguage))
	}
	out, body := getObject(t, client, bucket, "assets/app.js")
	if aws.ToString(out.ContentEncoding) != "gzip" || aws.ToString(out.CacheControl) != "public, max-age=31536000, immutable" ||
		aws.ToString(out.ContentType) != "text/javascript; charset=utf-8" {
		t.Errorf("asset headers: enc %q cc %q ct %q", aws.ToString(out.ContentEncoding), aws.ToString(out.CacheControl), aws.ToString(out.ContentType))
	}
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatalf("asset body is not gzip: %v", err)
	}
	plain, _ := io.ReadAll(zr)
	if string(plain) != files["assets/app.js"] {
		t.Errorf("gunzipped %q", plain)
	}
	out, _ = getObject(t, client, bucket, "img/logo.png")
	if aws.ToString(out.ContentType) != "image/x-custom" || aws.ToString(out.ContentDisposition) != "inline" || out.Metadata["team"] != "web" {
		t.Errorf("img headers: %q %q %v", aws.ToString(out.ContentType), aws.ToString(out.ContentDisposition), out.Metadata)
	}
	out, _ = getObject(t, client, bucket, "css/site.css")
	if out.CacheControl != nil {
		t.Errorf("unmatched file got Cache-Control %q", aws.ToString(out.CacheControl))
	}

	// Change one rule's header only: exactly the HTML files are rewritten.
	cfg2, _ := siteconfig.Parse([]byte(strings.Replace(rulesYAML, "Content-Language: fr", "Content-Language: de", 1)))
	rec.reset()
	res, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket, Config: cfg2})
	if err != nil {
		t.Fatal(err)
	}
	var html []string
	for p := range files {
		if IsHTML(p) {
			html = append(html, p)
		}
	}
	sort.Strings(html)
	if strings.Join(res.Uploaded, ",") != strings.Join(html, ",") {
		t.Errorf("header change uploaded %v, want %v", res.Uploaded, html)
	}
	// Without the manifest the same answers come from HEADs, and gzip objects compare by
	// the MD5 metadata, so nothing is rewritten.
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(manifestKey(""))}); err != nil {
		t.Fatal(err)
	}
	rec.reset()
	res, err = Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket, Config: cfg2})
	if err != nil {
		t.Fatal(err)
	}
	reqs := rec.reset()
	if len(res.Uploaded) != 0 || len(writes(reqs, true)) != 0 || count(reqs, "HEAD ") != len(files) {
		t.Errorf("without manifest: uploaded %v, %d HEADs, writes %v", res.Uploaded, count(reqs, "HEAD "), writes(reqs, false))
	}
}

func TestUploadOrder(t *testing.T) {
	ctx := context.Background()
	client, rec, bucket := newBucket(t)
	dir := t.TempDir()
	writeTree(t, dir, site(20))
	writeTree(t, dir, map[string]string{"gone.html": "x", "gone.js": "y"})
	if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	checkOrder(t, rec.reset())
	os.Remove(filepath.Join(dir, "gone.html"))
	os.Remove(filepath.Join(dir, "gone.js"))
	writeTree(t, dir, map[string]string{"index.html": "<html>v2</html>", "assets/app.js": "v2", "new/page.html": "n", "new/x.png": "p"})
	if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	reqs := writes(rec.reset(), true)
	checkOrder(t, reqs)
	if count(reqs, "PUT ") != 4 || count(reqs, "POST ?delete gone.html") != 1 || count(reqs, "POST ?delete gone.js") != 1 {
		t.Errorf("second deploy writes %v", reqs)
	}
}

// checkOrder asserts the phases: non-HTML PUTs, HTML PUTs, HTML deletes, other deletes.
func checkOrder(t *testing.T, reqs []string) {
	t.Helper()
	phase := 0
	for _, r := range writes(reqs, true) {
		p := 0
		switch {
		case strings.HasPrefix(r, "PUT ") && IsHTML(r):
			p = 1
		case strings.HasPrefix(r, "PUT "):
			p = 0
		case strings.HasPrefix(r, "POST ?delete") && IsHTML(r):
			p = 2
		default:
			p = 3
		}
		if p < phase {
			t.Fatalf("write %q after a later phase in %v", r, reqs)
		}
		phase = p
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	ctx := context.Background()
	client, rec, bucket := newBucket(t)
	dir := t.TempDir()
	writeTree(t, dir, site(2))
	if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string]string{"index.html": "v2", "extra.css": "c"})
	os.Remove(filepath.Join(dir, "noext"))
	rec.reset()
	res, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if w := writes(rec.reset(), false); len(w) != 0 {
		t.Errorf("dry run wrote %v", w)
	}
	if strings.Join(res.Uploaded, ",") != "extra.css,index.html" || strings.Join(res.Deleted, ",") != "noext" {
		t.Errorf("dry run plan: up %v del %v", res.Uploaded, res.Deleted)
	}
	if _, body := getObject(t, client, bucket, "index.html"); body == "v2" {
		t.Error("dry run changed index.html")
	}
}

func TestMultipartLargeFile(t *testing.T) {
	ctx := context.Background()
	client, rec, bucket := newBucket(t)
	dir := t.TempDir()
	big := bytes.Repeat([]byte("0123456789abcdef"), (6<<20)/16) // 6 MiB: two 5 MiB parts
	writeTree(t, dir, map[string]string{"video/big.bin": string(big), "index.html": "i"})
	o := Options{Bucket: bucket, MultipartThreshold: 5 << 20, PartSize: 5 << 20}
	if _, err := Sync(ctx, client, os.DirFS(dir), o); err != nil {
		t.Fatal(err)
	}
	reqs := rec.reset()
	if count(reqs, "POST video/big.bin?uploads") != 1 || count(reqs, "PUT video/big.bin?part") != 2 {
		t.Fatalf("no multipart upload: %v", reqs)
	}
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("video/big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(head.ETag), "-") || aws.ToInt64(head.ContentLength) != int64(len(big)) {
		t.Errorf("etag %s length %d", aws.ToString(head.ETag), aws.ToInt64(head.ContentLength))
	}
	touchAll(t, dir)
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(manifestKey(""))}); err != nil {
		t.Fatal(err)
	}
	rec.reset()
	res, err := Sync(ctx, client, os.DirFS(dir), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Uploaded) != 0 || len(writes(rec.reset(), true)) != 0 {
		t.Errorf("multipart object re-uploaded: %+v", res)
	}
}

func TestZipSourceAndForeignObjects(t *testing.T) {
	ctx := context.Background()
	client, _, bucket := newBucket(t)
	files := site(5)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for p, c := range files {
		w, err := zw.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, c)
	}
	zw.Close()
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	// A file already there with the same content but no headers (e.g. from aws s3 sync).
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("css/site.css"), Body: strings.NewReader(files["css/site.css"])}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := siteconfig.Parse([]byte(rulesYAML))
	res, err := Sync(ctx, client, zr, Options{Bucket: bucket, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Uploaded) != len(files) {
		t.Errorf("uploaded %d, want %d (the foreign object's headers differ)", len(res.Uploaded), len(files))
	}
	_, body := getObject(t, client, bucket, "pages/p003/index.html")
	if body != files["pages/p003/index.html"] {
		t.Errorf("zip body %q", body)
	}
	res, err = Sync(ctx, client, zr, Options{Bucket: bucket, Config: cfg})
	if err != nil || len(res.Uploaded) != 0 {
		t.Errorf("zip redeploy: %v %+v", err, res.Uploaded)
	}
}

func TestKeepDefersDeletesAndGuardCountsLater(t *testing.T) {
	ctx := context.Background()
	client, rec, bucket := newBucket(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.html": "a", "b.css": "b", "c.js": "c", "d.html": "d"})
	o := Options{Bucket: bucket, Prefix: "p", MaxDeletes: 2}
	if _, err := Sync(ctx, client, os.DirFS(dir), o); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"b.css", "c.js", "d.html"} {
		os.Remove(filepath.Join(dir, f))
	}
	p, err := Diff(ctx, client, os.DirFS(dir), o)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.CheckDeletes(); err == nil {
		t.Fatal("3 deletes passed MaxDeletes 2")
	}
	p.Keep([]string{"p/b.css", "p/d.html"})
	if err := p.CheckDeletes(); err != nil {
		t.Fatalf("1 delete now: %v", err)
	}
	p.LaterDeletes = 2 // the kept page and asset, deleted once the invalidation completed
	var guard *DeleteGuardError
	if err := p.CheckDeletes(); !errors.As(err, &guard) || guard.Count != 3 {
		t.Fatalf("later deletes not counted: %v", err)
	}
	p.LaterDeletes = 0
	rec.reset()
	res, err := p.Apply(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Deleted, ",") != "p/c.js" || strings.Join(res.Waiting, ",") != "p/b.css,p/d.html" {
		t.Errorf("deleted %v waiting %v", res.Deleted, res.Waiting)
	}
	if !slices.Contains(res.All, "p/b.css") || slices.Contains(res.Changed, "p/b.css") {
		t.Errorf("a kept key is still served (in All), not changed: all %v changed %v", res.All, res.Changed)
	}
	if _, body := getObject(t, client, bucket, "p/d.html"); body != "d" {
		t.Errorf("kept page deleted: %q", body)
	}
	// Later: Delete removes pages first.
	rec.reset()
	if err := Delete(ctx, client, bucket, []string{"p/b.css", "p/d.html"}); err != nil {
		t.Fatal(err)
	}
	w := writes(rec.reset(), false)
	if len(w) != 2 {
		t.Fatalf("Delete made %v, want two DeleteObjects (pages, then the rest)", w)
	}
	p2, err := Diff(ctx, client, os.DirFS(dir), o)
	if err != nil || len(p2.Deletes) != 0 {
		t.Errorf("after Delete: %v %v", err, p2.Deletes)
	}
}

// panicFS panics when one file is opened, as a bug in a worker would.
type panicFS struct {
	fs.FS
	name string
}

func (p panicFS) Open(name string) (fs.File, error) {
	if name == p.name {
		panic("boom in " + name)
	}
	return p.FS.Open(name)
}

// A panic in a worker goroutine (hashing, comparing, uploading) is an error of Sync,
// not the end of the process: the Lambda action can still report its job.
func TestWorkerPanicBecomesAnError(t *testing.T) {
	ctx := context.Background()
	client, _, bucket := newBucket(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"a.html": "a", "b.css": "b"})
	_, err := Sync(ctx, client, panicFS{FS: os.DirFS(dir), name: "b.css"}, Options{Bucket: bucket})
	var pe *PanicError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), "boom in b.css") || pe.Stack == "" {
		t.Fatalf("Sync = %v, want a *PanicError with the value and the stack", err)
	}
}

// partCounter counts the multipart parts being uploaded at once.
type partCounter struct {
	S3API
	mu          sync.Mutex
	active, max int
}

func (c *partCounter) UploadPart(ctx context.Context, in *s3.UploadPartInput, opts ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	c.mu.Lock()
	c.active++
	c.max = max(c.max, c.active)
	c.mu.Unlock()
	defer func() { c.mu.Lock(); c.active--; c.mu.Unlock() }()
	return c.S3API.UploadPart(ctx, in, opts...)
}

// Zip entries cannot be read at an offset, so the transfer manager buffers their parts:
// MaxBytesInFlight bounds those buffers whatever the file sizes and the concurrency.
func TestBytesInFlightBoundTheZipPartBuffers(t *testing.T) {
	ctx := context.Background()
	client, _, bucket := newBucket(t)
	files := map[string]string{}
	for i := range 4 {
		files[fmt.Sprintf("big%d.bin", i)] = strings.Repeat(fmt.Sprintf("%d", i), 11<<20) // 3 parts of 5 MiB
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, body := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	const part = 5 << 20
	o := Options{Bucket: bucket, Concurrency: 16, MultipartThreshold: part, PartSize: part, MaxBytesInFlight: partsBuffered * part}
	c := &partCounter{S3API: client}
	res, err := Sync(ctx, c, zr, o)
	if err != nil || len(res.Uploaded) != 4 {
		t.Fatalf("sync: %v %v", res.Uploaded, err)
	}
	// One file's buffers fit the budget: its two parts in flight, no other file's.
	if c.max > 2 {
		t.Errorf("%d parts uploaded at once with room for one file's buffers, want at most 2", c.max)
	}
	if c.max == 0 {
		t.Error("no multipart upload: the test proves nothing")
	}
	t.Logf("at most %d parts at once", c.max)
}

// StopAt slices a sync: at least one upload per slice, no page or delete before every
// asset is up, the manifest records each slice so the next skips what is done.
func TestStopAtSlicesTheSync(t *testing.T) {
	ctx := context.Background()
	client, _, bucket := newBucket(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"old.css": "x"})
	if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "old.css"))
	writeTree(t, dir, map[string]string{"a.css": "a", "b.js": "b", "c.png": "c", "index.html": "i"})
	o := Options{Bucket: bucket, Concurrency: 1, StopAt: time.Now().Add(-time.Second)}
	for slice := 1; ; slice++ {
		res, err := Sync(ctx, client, os.DirFS(dir), o)
		if err != nil {
			t.Fatal(err)
		}
		if res.Remaining > 0 {
			if len(res.Uploaded) != 1 || len(res.Deleted) != 0 || slices.Contains(res.Uploaded, "index.html") {
				t.Fatalf("slice %d: uploaded %v deleted %v remaining %d: want one asset, no page, no delete", slice, res.Uploaded, res.Deleted, res.Remaining)
			}
			continue
		}
		if slice != 4 || strings.Join(res.Uploaded, ",") != "index.html" || strings.Join(res.Deleted, ",") != "old.css" {
			t.Fatalf("last slice %d: uploaded %v deleted %v; want the page and the delete in slice 4, after the three assets", slice, res.Uploaded, res.Deleted)
		}
		break
	}
}
