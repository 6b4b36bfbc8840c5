package sitesync

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// In a log, 2,425 writes print about ten lines, not 2,425.
func TestProgressLogLines(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 2425, false)
	clock := time.Unix(0, 0)
	p.now = func() time.Time { return clock }
	p.last = clock
	for i := 0; i < 2425; i++ {
		p.step("upload", fmt.Sprintf("k%d", i))
	}
	p.finish()
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) < 10 || len(lines) > 11 {
		t.Fatalf("%d lines, want a line per tenth and the last:\n%s", len(lines), buf.String())
	}
	if lines[0] != "deploying: 243/2425 writes (10 %)" || lines[len(lines)-1] != "deploying: 2425/2425 writes (100 %)" {
		t.Errorf("first %q, last %q", lines[0], lines[len(lines)-1])
	}
	if strings.Contains(buf.String(), "upload k") {
		t.Error("a key was printed without verbose")
	}
}

// A slow deploy prints a line every ProgressInterval even within a tenth.
func TestProgressInterval(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 1000, false)
	clock := time.Unix(0, 0)
	p.now = func() time.Time { return clock }
	p.last = clock
	for i := 0; i < 30; i++ {
		clock = clock.Add(ProgressInterval / 2)
		p.step("upload", "k")
	}
	if n := strings.Count(buf.String(), "\n"); n != 15 {
		t.Errorf("30 writes over %s: %d lines, want 15 (one each %s):\n%s", 15*ProgressInterval, n, ProgressInterval, buf.String())
	}
}

func TestProgressVerbose(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, 3, true)
	p.step("upload", "a.css")
	p.step("upload", "b.html")
	p.step("delete", "c.js")
	p.finish()
	want := "upload a.css (1/3)\nupload b.html (2/3)\ndelete c.js (3/3)\n"
	if buf.String() != want {
		t.Errorf("verbose output:\n%s\nwant:\n%s", buf.String(), want)
	}
}

// Through a real sync: a first deploy of 208 files logs at most 11 lines, or one per
// write with VerboseProgress.
func TestSyncProgress(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	files := site(100)
	writeTree(t, dir, files)
	for _, verbose := range []bool{false, true} {
		client, _, bucket := newBucket(t)
		var buf bytes.Buffer
		if _, err := Sync(ctx, client, os.DirFS(dir), Options{Bucket: bucket, Progress: &buf, VerboseProgress: verbose}); err != nil {
			t.Fatal(err)
		}
		n := strings.Count(buf.String(), "\n")
		switch {
		case verbose && n != len(files):
			t.Errorf("verbose: %d lines, want %d (one per write)", n, len(files))
		case !verbose && (n < 2 || n > 11):
			t.Errorf("%d lines for %d writes, want at most 11:\n%s", n, len(files), buf.String())
		}
	}
}
