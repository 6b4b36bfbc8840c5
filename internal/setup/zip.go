package setup

import (
	"archive/zip"
	"bytes"
	"fmt"
	"os"
)

// MaxZipSize is Lambda's limit for a package uploaded directly (ZipFile), not through S3.
const MaxZipSize = 50 << 20

// ReadZip reads the function package and checks what Lambda would only reject later, or
// accept and then fail on at the first job: a zip with an executable "bootstrap" at its
// root (what provided.al2023 runs), small enough for a direct upload.
func ReadZip(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read function zip: %w", err)
	}
	if err := CheckZip(b); err != nil {
		return nil, fmt.Errorf("function zip %s: %w", path, err)
	}
	return b, nil
}

// CheckZip validates a function package held in memory (see ReadZip).
func CheckZip(b []byte) error {
	if len(b) > MaxZipSize {
		return fmt.Errorf("%s is over Lambda's %s limit for a direct upload", sizeString(len(b)), sizeString(MaxZipSize))
	}
	r, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return fmt.Errorf("not a zip file (build it with `make lambda-zip`): %w", err)
	}
	for _, f := range r.File {
		if f.Name != "bootstrap" {
			continue
		}
		// Zips made on Unix carry the mode; 0 means the tool stored none, which Lambda
		// treats as executable, so only an explicit non-executable mode is an error.
		if m := f.Mode(); m.IsRegular() && m.Perm() != 0 && m.Perm()&0o111 == 0 {
			return fmt.Errorf("bootstrap is not executable (mode %v): zip it after chmod +x", m.Perm())
		}
		return nil
	}
	return fmt.Errorf("no bootstrap at the root of the zip: provided.al2023 runs ./bootstrap (build it with `make lambda-zip`)")
}
