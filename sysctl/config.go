package sysctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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
	dead    int // entries of options no longer live
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
	t, err := openTree(root)
	if err != nil {
		return nil, fmt.Errorf("reading config files: %w", err)
	}
	defer t.Close()
	return t.loadSystemConfig(ov)
}

func (t *treeRoot) loadSystemConfig(ov *fileOverride) (*Config, error) {
	c := newConfig()
	type file struct{ name, path string }
	var files []file
	seen := map[string]string{}
	for _, dir := range ConfigDirs {
		names, err := t.listConfDir(dir)
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
		if err := c.readTreeFile(t, f.path, ov); err != nil {
			return nil, err
		}
	}
	if err := c.readTreeFile(t, MainConfigFile, ov); err != nil {
		return nil, err
	}
	return c, nil
}

// listConfDir lists the names of the .conf files in dir of the tree.
func (t *treeRoot) listConfDir(dir string) ([]string, error) {
	if t.masked(dir) {
		return nil, nil
	}
	ents, err := t.readDir(dir)
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

// readTreeFile reads one file of the tree, if it is there. A FIFO, device
// or socket among the config files is refused: reading one could wait for
// ever, or never end.
func (c *Config) readTreeFile(t *treeRoot, name string, ov *fileOverride) error {
	if ov != nil && ov.path == name {
		if ov.content == nil {
			return nil
		}
		return c.add(bytes.NewReader(ov.content), name)
	}
	if t.masked(name) {
		c.Skipped = append(c.Skipped, SkippedFile{Path: name, Reason: errMasked.Error()})
		return nil
	}
	// O_NONBLOCK: opening a FIFO that has no writer would wait for one.
	f, err := t.open(name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if name != MainConfigFile {
			// Listed but gone: a dangling link, which both tools skip.
			c.Skipped = append(c.Skipped, SkippedFile{Path: name, Reason: "a dangling symbolic link"})
		}
		return nil
	}
	if errors.Is(err, syscall.ENXIO) {
		// A socket, or a device without a driver, cannot be opened.
		return &SpecialFileError{Path: name, Kind: t.kind(name)}
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	switch {
	case fi.IsDir():
		c.Skipped = append(c.Skipped, SkippedFile{Path: name, Reason: "a directory"})
		return nil
	case isDevNull(fi):
		c.Skipped = append(c.Skipped, SkippedFile{Path: name, Reason: errMasked.Error()})
		return nil
	case !fi.Mode().IsRegular():
		return &SpecialFileError{Path: name, Kind: fileKind(fi.Mode())}
	}
	return c.add(f, name)
}

// specialFileTimeout bounds the wait for a FIFO or device named
// explicitly to give all its data.
var specialFileTimeout = 10 * time.Second

// LoadConfigFiles reads the files named, in order, later ones overriding
// earlier ones; paths are opened as given, without a root. A FIFO or a
// device is read too, as `--file <(command)` gives one, but only until ctx
// is done or a time limit passes: a writer that never writes does not keep
// the read waiting for ever.
func LoadConfigFiles(ctx context.Context, paths ...string) (*Config, error) {
	c := newConfig()
	for _, p := range paths {
		if err := c.addFile(ctx, p); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Config) addFile(ctx context.Context, p string) error {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if errors.Is(err, syscall.ENXIO) {
		kind := "not a regular file"
		if fi, err := os.Stat(p); err == nil {
			kind = fileKind(fi.Mode())
		}
		return fmt.Errorf("reading config file: %w", &SpecialFileError{Path: p, Kind: kind})
	}
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	if fi.IsDir() {
		return fmt.Errorf("reading config file %s: is a directory", p)
	}
	if fi.Mode().IsRegular() {
		return c.add(f, p)
	}
	r := newSpecialReader(ctx, f, specialFileTimeout)
	defer r.release()
	return c.add(r, p)
}

func newConfig() *Config {
	return &Config{Files: []string{}, index: map[Key]int{}}
}

// add parses a file and merges its assignments.
func (c *Config) add(r io.Reader, name string) error {
	if err := parseEach(r, name, c.merge); err != nil {
		return err
	}
	c.Files = append(c.Files, name)
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
		c.dead++
	}
	c.index[a.Key] = len(c.options)
	c.options = append(c.options, a)
	c.live = append(c.live, true)
	if c.dead > 64 && c.dead > len(c.options)/2 {
		c.compact()
	}
}

// compact drops the assignments later ones replaced, so that a file that
// sets one key over and over costs no more than one that sets it once.
func (c *Config) compact() {
	n := 0
	for i, a := range c.options {
		if c.live[i] {
			c.options[n] = a
			c.index[a.Key] = n
			n++
		}
	}
	clear(c.options[n:])
	c.options = c.options[:n]
	c.live = c.live[:n]
	for i := range c.live {
		c.live[i] = true
	}
	c.dead = 0
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
