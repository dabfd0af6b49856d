package sysctl

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultFixPath is the file fix writes: its name sorts after the
// distributions' files (10-..., 50-...) and before the 99-... that
// administrators customarily use to have the last word.
const DefaultFixPath = "/etc/sysctl.d/60-arpdoctor.conf"

// FixOptions say what to fix, and where.
type FixOptions struct {
	// Root is where the machine's files are: "/" or an image's tree.
	Root string
	// Path is the file to write, as on that machine.
	Path string
	// Profile names the profile the rules come from, for the file's
	// header.
	Profile string
	// Rules are the rules to fix; only those with a value to write
	// (Rule.Fixable) are.
	Rules []Rule
	// Live, when set, holds the running values: keys whose live value
	// breaks a rule are planned to be set live too.
	Live *Snapshot
}

// Setting is one line of the file fix writes.
type Setting struct {
	Key     Key    `json:"key"`
	Value   string `json:"value"`
	Rule    string `json:"rule"`
	Comment string `json:"-"`
}

// LiveChange is one value to write to /proc/sys.
type LiveChange struct {
	Key     Key    `json:"key"`
	From    string `json:"from"`
	To      string `json:"to"`
	Applied bool   `json:"applied"`
}

// FixPlan is what fix would change: the file's old and new content and
// the live values to set.
type FixPlan struct {
	Path     string       `json:"path"`
	Exists   bool         `json:"exists"`
	Old      string       `json:"old"`
	New      string       `json:"new"`
	Settings []Setting    `json:"settings"`
	Live     []LiveChange `json:"live"`
	// Unfixed says what the fix leaves broken, and why.
	Unfixed []string `json:"unfixed,omitempty"`
}

// FileChanged reports whether the file needs writing.
func (p *FixPlan) FileChanged() bool {
	if !p.Exists {
		return p.New != ""
	}
	return p.Old != p.New
}

// PlanFix works out the file that makes the config files keep the rules
// at boot, and the live values to set. The file holds a line for each rule
// the other config files (or the kernel defaults they leave) break, so
// planning again after the fix gives the same file. A file that comes
// later and sets the key again is reported, not edited: fix writes no
// other file.
func PlanFix(opts FixOptions) (*FixPlan, error) {
	p := &FixPlan{Path: opts.Path, Settings: []Setting{}, Live: []LiveChange{}}
	if !path.IsAbs(opts.Path) || path.Clean(opts.Path) != opts.Path || strings.HasSuffix(opts.Path, "/") {
		return nil, fmt.Errorf("the file to write must be a clean absolute path, not %q", opts.Path)
	}
	t, err := openTree(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("reading config files: %w", err)
	}
	defer t.Close()
	others, err := t.loadSystemConfig(&fileOverride{path: opts.Path})
	if err != nil {
		return nil, err
	}
	var fixable []*Rule
	for i := range opts.Rules {
		r := &opts.Rules[i]
		if !r.Fixable() || slices.ContainsFunc(fixable, func(o *Rule) bool { return o.Expect.Key == r.Expect.Key }) {
			continue
		}
		fixable = append(fixable, r)
		if held, err := r.Expect.holds(bootValue(others, r.Expect.Key)); err == nil && held {
			continue
		}
		p.Settings = append(p.Settings, Setting{Key: r.Expect.Key, Value: r.target(), Rule: r.ID, Comment: r.Comment})
	}

	if t.masked(opts.Path) {
		return nil, fmt.Errorf("%s is a link to /dev/null, which disables it: remove the link to let fix write the file", opts.Path)
	}
	old, err := t.readFile(opts.Path)
	switch {
	case err == nil:
		p.Exists, p.Old = true, string(old)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading %s: %w", opts.Path, err)
	}
	if p.Exists || len(p.Settings) > 0 {
		p.New = renderFixFile(opts.Profile, p.Settings)
	}

	with, err := t.loadSystemConfig(&fileOverride{path: opts.Path, content: []byte(p.New)})
	if err != nil {
		return nil, fmt.Errorf("the file fix would write: %w", err)
	}
	if len(p.Settings) > 0 && !slices.Contains(with.Files, opts.Path) {
		p.Unfixed = append(p.Unfixed, fmt.Sprintf("%s is not read at boot: %s", opts.Path, notReadBecause(with, opts.Path)))
	} else {
		for _, st := range p.Settings {
			if a, ok := with.Lookup(st.Key); ok && a.File != opts.Path {
				p.Unfixed = append(p.Unfixed, fmt.Sprintf("%s: %s sets %s after %s: change it there (fix writes no other file)", st.Key, a.Where(), a.Value, opts.Path))
			}
		}
	}

	if opts.Live != nil {
		e := &evaluation{s: opts.Live}
		for _, r := range fixable {
			p.planLive(e, r, with)
		}
	}
	return p, nil
}

// planLive adds the live change a rule needs, if any.
func (p *FixPlan) planLive(e *evaluation, r *Rule, boot *Config) {
	for _, res := range e.expect(r) {
		if res.Status == StatusOK {
			continue
		}
		v, ok := e.s.Lookup(r.Expect.Key)
		if !ok || v.Source != SourceProc {
			p.Unfixed = append(p.Unfixed, fmt.Sprintf("%s was not set live: %s", r.Expect.Key, notSettable(e.s, r.Expect.Key, ok)))
			continue
		}
		to := r.target()
		if b := bootValue(boot, r.Expect.Key); b != "" {
			if held, err := r.Expect.holds(b); err == nil && held {
				// Set what boot will set, so that live and config agree.
				to = b
			}
		}
		p.Live = append(p.Live, LiveChange{Key: r.Expect.Key, From: v.Value, To: to})
	}
}

// notSettable says why a key to fix is not in /proc/sys to be written. A
// key read over netlink is one of the table's, which is the machine's: only
// the initial network namespace has it in /proc/sys. Any other is missing
// for reasons of its own (IPv6 off, say): the per-interface keys (all,
// default and each interface's) are in every namespace's /proc/sys.
func notSettable(s *Snapshot, k Key, read bool) string {
	if read {
		return fmt.Sprintf("it is not in this network namespace's /proc/sys: it is one of the table's values, which are the machine's, and only the initial network namespace has them (net.%s.neigh.default)", k.components()[1])
	}
	why, _ := s.absence(k)
	return strings.Replace(why, string(k)+" is not", "it is not", 1)
}

// bootValue is what the config sets for k at boot: its assignment, or the
// kernel's default.
func bootValue(c *Config, k Key) string {
	if a, ok := c.Lookup(k); ok {
		return a.Value
	}
	v, _ := kernelDefault(k)
	return v
}

// notReadBecause says why a config file is not among those read.
func notReadBecause(c *Config, p string) string {
	for _, s := range c.Skipped {
		if s.Path == p {
			return s.Reason
		}
	}
	return "only the .conf files of " + strings.Join(ConfigDirs, ", ") + " and " + MainConfigFile + " are"
}

// renderFixFile writes the file's content: a header, then each setting
// under its comment.
func renderFixFile(profile string, settings []Setting) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by `arpdoctor sysctl fix --profile %s`, which rewrites this file\n", profile)
	b.WriteString("# whole: keep other settings in files of their own.\n")
	if len(settings) == 0 {
		b.WriteString("# The other config files already keep the profile's rules.\n")
	}
	for _, s := range settings {
		b.WriteString("\n")
		for line := range strings.SplitSeq(s.Comment, "\n") {
			if line != "" {
				b.WriteString("# " + line + "\n")
			}
		}
		fmt.Fprintf(&b, "%s = %s\n", s.Key, s.Value)
	}
	return b.String()
}

// readFile reads a regular file of the tree, within a config file's
// bounds.
func (t *treeRoot) readFile(name string) ([]byte, error) {
	f, err := t.openRegular(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(&limitedReader{r: f, left: MaxFileBytes + 1})
	if errors.Is(err, errTooBig) {
		return nil, &LimitError{File: name, Limit: MaxFileBytes, Unit: "bytes"}
	}
	return b, err
}

// openRegular opens a file of the tree for reading, refusing anything but
// a regular file: a FIFO or a device in its place would block or never
// end. It does not block on opening either.
func (t *treeRoot) openRegular(name string) (*os.File, error) {
	f, err := t.open(name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &SpecialFileError{Path: name, Kind: fileKind(fi.Mode())}
	}
	return f, nil
}

// FileWriteError says the file fix writes could not be written. Errors
// such as fs.ErrPermission and syscall.EROFS are wrapped.
type FileWriteError struct {
	Path string
	Err  error
}

func (e *FileWriteError) Error() string { return fmt.Sprintf("writing %s: %v", e.Path, e.Err) }
func (e *FileWriteError) Unwrap() error { return e.Err }

// LiveWriteError says a value could not be set in /proc/sys. Errors such
// as fs.ErrPermission and syscall.EROFS are wrapped.
type LiveWriteError struct {
	Key Key
	Err error
}

func (e *LiveWriteError) Error() string { return fmt.Sprintf("setting %s live: %v", e.Key, e.Err) }
func (e *LiveWriteError) Unwrap() error { return e.Err }

// IsPermission reports whether err is a refusal to write: missing
// privilege, or a read-only file system.
func IsPermission(err error) bool {
	return errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EPERM)
}

// WriteFixFile writes the plan's file under root, atomically: a temporary
// file in the same directory, synced, then renamed over the old one, so
// that a crash leaves the old file or the new one, never half of one. An
// unchanged file is not touched. The directory is resolved inside root,
// links and all, and made there when missing. Failures are
// *FileWriteError.
func WriteFixFile(root string, p *FixPlan) error {
	if !p.FileChanged() {
		return nil
	}
	t, err := openTree(root)
	if err != nil {
		return &FileWriteError{Path: p.Path, Err: err}
	}
	defer t.Close()
	if err := t.writeFile(p.Path, p.New); err != nil {
		return &FileWriteError{Path: p.Path, Err: err}
	}
	return nil
}

func (t *treeRoot) writeFile(name, content string) error {
	dirName, base := path.Split(name)
	if err := t.mkdirAll(dirName, 0o755); err != nil {
		return err
	}
	dir, err := t.open(dirName, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer dir.Close()
	dfd := int(dir.Fd())
	var tmpName string
	var fd int
	for range 100 {
		tmpName = "." + base + "." + strconv.FormatUint(uint64(rand.Uint32()), 10)
		fd, err = unix.Openat(dfd, tmpName, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != unix.EEXIST {
			break
		}
	}
	if err != nil {
		return &fs.PathError{Op: "create", Path: path.Join(dirName, tmpName), Err: err}
	}
	tmp := os.NewFile(uintptr(fd), path.Join(dirName, tmpName))
	done := false
	defer func() {
		if !done {
			tmp.Close()
			unix.Unlinkat(dfd, tmpName, 0)
		}
	}()
	if _, err := tmp.WriteString(content); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Renamed within the directory held open: a link in the file's own
	// place is replaced, never followed.
	if err := unix.Renameat(dfd, tmpName, dfd, base); err != nil {
		return &fs.PathError{Op: "rename", Path: name, Err: err}
	}
	done = true
	// The rename is durable once the directory is.
	dir.Sync()
	return nil
}

// ApplyLive writes the changes to /proc/sys under root, inside the network
// namespace do enters (nil: the caller's), marking each one applied. It
// stops at the first failure, a *LiveWriteError. Each path is resolved
// inside root, and only an existing regular file is written: a tree's
// /proc that leads elsewhere, or a FIFO in a key's place, is not.
func ApplyLive(root string, do func(func() error) error, changes []LiveChange) error {
	if do == nil {
		do = func(f func() error) error { return f() }
	}
	t, err := openTree(root)
	if err != nil {
		return fmt.Errorf("setting live values: %w", err)
	}
	defer t.Close()
	return do(func() error {
		for i := range changes {
			c := &changes[i]
			if err := t.writeValue(c.Key, c.To); err != nil {
				return &LiveWriteError{Key: c.Key, Err: err}
			}
			c.Applied = true
		}
		return nil
	})
}

func (t *treeRoot) writeValue(k Key, v string) error {
	// No O_CREAT: a key that is not there is not made up. O_NONBLOCK:
	// opening a FIFO is no wait.
	f, err := t.open("/proc/sys/"+k.Path(), unix.O_WRONLY|unix.O_TRUNC|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return &SpecialFileError{Path: f.Name(), Kind: fileKind(fi.Mode())}
	}
	if _, err := f.WriteString(v + "\n"); err != nil {
		return err
	}
	return f.Close()
}
