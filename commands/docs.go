package commands

import (
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// Regenerate docs/cli and docs/man after changing a command's flags or
// help text; TestGeneratedDocs fails while they are stale.
//go:generate go test -run TestGeneratedDocs -update-docs .

// docsDate is the date printed in the man pages' footer. It is fixed so
// that generating the pages twice gives the same files.
var docsDate = time.Date(2026, time.November, 1, 0, 0, 0, 0, time.UTC)

// GenerateDocs writes the command reference as Markdown into dir/cli and
// as man pages into dir/man.
func GenerateDocs(dir string) error {
	root := NewRootCmd(&IOStreams{Getenv: os.Getenv})
	root.DisableAutoGenTag = true
	walk(root, func(c *cobra.Command) { c.DisableAutoGenTag = true })
	md := filepath.Join(dir, "cli")
	man := filepath.Join(dir, "man")
	for _, d := range []string{md, man} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := doc.GenMarkdownTree(root, md); err != nil {
		return err
	}
	return doc.GenManTree(root, &doc.GenManHeader{Title: "ARPDOCTOR", Section: "8", Date: &docsDate,
		Source: "arpdoctor", Manual: "arpdoctor manual"}, man)
}

func walk(c *cobra.Command, f func(*cobra.Command)) {
	f(c)
	for _, sub := range c.Commands() {
		walk(sub, f)
	}
}
