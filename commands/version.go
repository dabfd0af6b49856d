package commands

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at link time:
//
//	go build -ldflags "-X github.com/arpdoctor/arpdoctor/commands.version=v1.2.3"
var version string

// VersionInfo is what `arpdoctor version` reports.
type VersionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit,omitempty"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

// Version returns the version set at link time or, failing that, what the
// Go toolchain recorded in the binary (the module version for `go install
// ...@vX`, the VCS revision for a build from a checkout).
func Version() VersionInfo {
	v := VersionInfo{Version: version, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		if v.Version == "" {
			v.Version = "unknown"
		}
		return v
	}
	if v.Version == "" {
		v.Version = bi.Main.Version
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(v.Commit) > 12 {
		v.Commit = v.Commit[:12]
	}
	if dirty && v.Commit != "" {
		v.Commit += "-dirty"
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	return v
}

func newVersionCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:         "version",
		Short:       "Print arpdoctor's version",
		Args:        cobra.NoArgs,
		Annotations: outputs("table", "json"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := Version()
			if g.Output == "json" {
				return writeJSON(g.io.Out, v)
			}
			commit := ""
			if v.Commit != "" {
				commit = " " + v.Commit
			}
			_, err := fmt.Fprintf(g.io.Out, "arpdoctor %s%s (%s, %s)\n", v.Version, commit, v.Go, v.Platform)
			return err
		},
	}
}
