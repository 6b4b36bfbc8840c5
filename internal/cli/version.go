package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are set at link time by release builds (release/dist.sh):
//
//	go build -ldflags "-X github.com/edgeflush/edgeflush/internal/cli.version=v1.2.3 -X github.com/edgeflush/edgeflush/internal/cli.commit=<sha>" ./cmd/edgeflush
//
// When version is empty, the module version recorded by the Go toolchain is used (set
// by `go install module@version`), else the VCS revision, else "(devel)". Release
// builds stamp both instead of relying on the VCS stamp (-buildvcs=false), so that a
// build from a tarball equals one from a clone.
var version, commit string

func init() { register(newVersionCmd) }

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:         "version",
		Short:       "Print edgeflush's version",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{annotationNoConfig: "true"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			line := "edgeflush " + buildVersion()
			if commit != "" {
				line += " (commit " + commit + ")"
			}
			_, err := fmt.Fprintf(a.stdout, "%s %s/%s %s\n", line, runtime.GOOS, runtime.GOARCH, runtime.Version())
			return err
		},
	}
}

// buildVersion returns the link-time version, else what the build info knows.
func buildVersion() string {
	if version != "" {
		return version
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	if v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "-dirty"
			}
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		return "(devel) " + rev + modified
	}
	return "(devel)"
}
