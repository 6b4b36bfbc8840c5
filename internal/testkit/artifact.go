package testkit

import (
	"archive/zip"
	"bytes"
	"maps"
	"slices"
	"testing"
)

// ArtifactZip returns a zip holding files (name → content) in name order, the shape of
// a CodePipeline artifact that a deploy-mode job reads.
func ArtifactZip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatalf("zip %s: %v", name, err)
		}
		if _, err := w.Write([]byte(files[name])); err != nil {
			t.Fatalf("zip %s: %v", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("close zip: %v", err)
	}
	return buf.Bytes()
}
