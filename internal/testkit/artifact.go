package testkit

import (
	"archive/zip"
	"bytes"
	"fmt"
	"maps"
	"slices"
	"testing"
)

// ArtifactZip returns a zip holding files (name → content) in name order, the shape of
// a CodePipeline artifact that a deploy-mode job reads.
func ArtifactZip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	b, err := ZipFiles(files)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ZipFiles is ArtifactZip without a test (the demo builds its artifacts with it).
func ZipFiles(files map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		w, err := zw.Create(name)
		if err != nil {
			return nil, fmt.Errorf("zip %s: %w", name, err)
		}
		if _, err := w.Write([]byte(files[name])); err != nil {
			return nil, fmt.Errorf("zip %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("close zip: %w", err)
	}
	return buf.Bytes(), nil
}
