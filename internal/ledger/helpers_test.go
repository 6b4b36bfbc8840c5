package ledger

import (
	"io"
	"strings"
)

func stringsReader(s string) io.ReadSeeker { return strings.NewReader(s) }

func contains(s, sub string) bool { return strings.Contains(s, sub) }
