package sysctl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
)

// ConfigDirs are the directories whose *.conf files procps' `sysctl
// --system` and systemd-sysctl read, in order of precedence: of two files
// with the same name, only the one in the earlier directory is read. The
// files of all directories are then read in the order of their names.
var ConfigDirs = []string{
	"/etc/sysctl.d",
	"/run/sysctl.d",
	"/usr/local/lib/sysctl.d",
	"/usr/lib/sysctl.d",
	"/lib/sysctl.d",
}

// MainConfigFile is read after every directory's files, as procps does, so
// its assignments win.
const MainConfigFile = "/etc/sysctl.conf"

// Config is what a set of sysctl config files sets, merged as
// systemd-sysctl merges them: a later assignment to a key replaces an
// earlier one; an explicit assignment beats any glob, whatever the order;
// among globs, the last one matching wins; and a "-KEY" line keeps KEY out
// of globs.
type Config struct {
	// Files are the files read, in the order they apply.
	Files []string `json:"files"`
	// Skipped are the files found but not read, and why.
	Skipped []SkippedFile `json:"skipped,omitempty"`

	// options is systemd's ordered option map: one entry per key (or
	// pattern), where a changed value moves the key to the end.
	options []Assignment
	live    []bool
	index   map[Key]int
}

// SkippedFile is a config file that was found but not read.
type SkippedFile struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// LoadSystemConfig reads the config files a machine whose files are under
// root applies at boot: the .conf files of ConfigDirs, then
// MainConfigFile. Paths in the result are those on that machine
// ("/etc/sysctl.d/10-x.conf"), whatever the root. A malformed line is a
// *SyntaxError.
func LoadSystemConfig(root string) (*Config, error) {
	return loadSystemConfig(root, nil)
}

// fileOverride stands in for one file of the tree: fix uses it to see
// what the config would be with its own file written, or without it.
type fileOverride struct {
	path    string
	content []byte // nil: the file is absent
}

func loadSystemConfig(root string, ov *fileOverride) (*Config, error) {
	c := newConfig()
	type file struct{ name, path string }
	var files []file
	seen := map[string]string{}
	for _, dir := range ConfigDirs {
		names, err := listConfDir(root, dir)
		if err != nil {
			return nil, err
		}
		if ov != nil && path.Dir(ov.path) == dir && strings.HasSuffix(ov.path, ".conf") {
			name := path.Base(ov.path)
			if ov.content == nil {
				names = slices.DeleteFunc(names, func(n string) bool { return n == name })
			} else if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		for _, name := range names {
			p := path.Join(dir, name)
			if first, ok := seen[name]; ok {
				c.Skipped = append(c.Skipped, SkippedFile{Path: p, Reason: "overridden by " + first})
				continue
			}
			seen[name] = p
			files = append(files, file{name, p})
		}
	}
	slices.SortStableFunc(files, func(a, b file) int { return strings.Compare(a.name, b.name) })
	for _, f := range files {
		if err := c.readTreeFile(root, f.path, ov); err != nil {
			return nil, err
		}
	}
	if err := c.readTreeFile(root, MainConfigFile, ov); err != nil {
		return nil, err
	}
	return c, nil
}

// listConfDir lists the names of the .conf files in dir under root.
func listConfDir(root, dir string) ([]string, error) {
	host, err := resolveInRoot(root, dir)
	if errors.Is(err, errMasked) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	ents, err := os.ReadDir(host)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".conf") && !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// readTreeFile reads one file of the tree, if it is there.
func (c *Config) readTreeFile(root, name string, ov *fileOverride) error {
	if ov != nil && ov.path == name {
		if ov.content == nil {
			return nil
		}
		return c.add(bytes.NewReader(ov.content), name)
	}
	host, err := resolveInRoot(root, name)
	if errors.Is(err, errMasked) {
		c.Skipped = append(c.Skipped, SkippedFile{Path: name, Reason: errMasked.Error()})
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	f, err := os.Open(host)
	if errors.Is(err, fs.ErrNotExist) {
		if name != MainConfigFile {
			// Listed but gone: a dangling link, which both tools skip.
			c.Skipped = append(c.Skipped, SkippedFile{Path: name, Reason: "a dangling symbolic link"})
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		c.Skipped = append(c.Skipped, SkippedFile{Path: name, Reason: "a directory"})
		return nil
	}
	return c.add(f, name)
}

// LoadConfigFiles reads the files named, in order, later ones overriding
// earlier ones; paths are opened as given, without a root.
func LoadConfigFiles(paths ...string) (*Config, error) {
	c := newConfig()
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("reading config file: %w", err)
		}
		err = c.add(f, p)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

func newConfig() *Config {
	return &Config{Files: []string{}, index: map[Key]int{}}
}

// add parses a file and merges its assignments.
func (c *Config) add(r io.Reader, name string) error {
	as, err := Parse(r, name)
	if err != nil {
		return err
	}
	c.Files = append(c.Files, name)
	for _, a := range as {
		c.merge(a)
	}
	return nil
}

// merge adds one assignment as systemd-sysctl's parse_file does: the same
// value again keeps the first assignment (and its place); a new value, or
// an exclusion, replaces it at the end.
func (c *Config) merge(a Assignment) {
	if i, ok := c.index[a.Key]; ok {
		old := c.options[i]
		if old.Exclude == a.Exclude && old.Value == a.Value {
			c.options[i].IgnoreFailure = old.IgnoreFailure || a.IgnoreFailure
			return
		}
		c.live[i] = false
	}
	c.index[a.Key] = len(c.options)
	c.options = append(c.options, a)
	c.live = append(c.live, true)
}

// Lookup returns the assignment that sets key at boot, if any. key must
// not be a glob.
func (c *Config) Lookup(key Key) (Assignment, bool) {
	if i, ok := c.index[key]; ok {
		a := c.options[i]
		return a, !a.Exclude
	}
	var found Assignment
	ok := false
	for i, a := range c.options {
		if !c.live[i] || !a.Key.IsGlob() || !a.Key.Matches(key) {
			continue
		}
		if a.Exclude {
			// systemd matches "-KEY" against keys literally; procps
			// also takes it as a pattern, and so does this.
			return Assignment{}, false
		}
		found, ok = a, true
	}
	return found, ok
}

// Assignments returns the assignments in force, in the order they apply:
// one per key or pattern.
func (c *Config) Assignments() []Assignment {
	var out []Assignment
	for i, a := range c.options {
		if c.live[i] {
			out = append(out, a)
		}
	}
	return out
}
