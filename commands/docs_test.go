package commands

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/cli and docs/man from the commands")

// The checked-in reference must be what the commands generate.
func TestGeneratedDocs(t *testing.T) {
	repoDocs := filepath.Join("..", "docs")
	if *updateDocs {
		for _, d := range []string{"cli", "man"} {
			if err := os.RemoveAll(filepath.Join(repoDocs, d)); err != nil {
				t.Fatal(err)
			}
		}
		if err := GenerateDocs(repoDocs); err != nil {
			t.Fatal(err)
		}
		return
	}
	tmp := t.TempDir()
	if err := GenerateDocs(tmp); err != nil {
		t.Fatal(err)
	}
	stale := func(format string, args ...any) {
		t.Errorf(format+"; run: go generate ./commands", args...)
	}
	seen := map[string]bool{}
	filepath.WalkDir(tmp, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tmp, path)
		seen[rel] = true
		want, _ := os.ReadFile(path)
		got, err := os.ReadFile(filepath.Join(repoDocs, rel))
		if err != nil {
			stale("docs/%s is missing", rel)
		} else if !bytes.Equal(got, want) {
			stale("docs/%s is stale", rel)
		}
		return nil
	})
	for _, d := range []string{"cli", "man"} {
		entries, _ := os.ReadDir(filepath.Join(repoDocs, d))
		for _, e := range entries {
			if rel := filepath.Join(d, e.Name()); !seen[rel] {
				stale("docs/%s belongs to no command", rel)
			}
		}
	}
}
