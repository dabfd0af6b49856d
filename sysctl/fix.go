package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
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
	others, err := loadSystemConfig(opts.Root, &fileOverride{path: opts.Path})
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

	host, err := resolveInRoot(opts.Root, opts.Path)
	if errors.Is(err, errMasked) {
		return nil, fmt.Errorf("%s is a link to /dev/null, which disables it: remove the link to let fix write the file", opts.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", opts.Path, err)
	}
	old, err := os.ReadFile(host)
	switch {
	case err == nil:
		p.Exists, p.Old = true, string(old)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("reading %s: %w", opts.Path, err)
	}
	if p.Exists || len(p.Settings) > 0 {
		p.New = renderFixFile(opts.Profile, p.Settings)
	}

	with, err := loadSystemConfig(opts.Root, &fileOverride{path: opts.Path, content: []byte(p.New)})
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
			p.Unfixed = append(p.Unfixed, fmt.Sprintf("%s was not set live: it is not in /proc/sys here (only the initial network namespace has the table-wide keys)", r.Expect.Key))
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

// WriteFixFile writes the plan's file under root, atomically: a temporary
// file in the same directory, synced, then renamed over the old one, so
// that a crash leaves the old file or the new one, never half of one. An
// unchanged file is not touched.
func WriteFixFile(root string, p *FixPlan) error {
	if !p.FileChanged() {
		return nil
	}
	dir, err := resolveInRoot(root, path.Dir(p.Path))
	if err != nil {
		return fmt.Errorf("writing %s: %w", p.Path, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return writeError(p.Path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+path.Base(p.Path)+".*")
	if err != nil {
		return writeError(p.Path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.WriteString(p.New); err != nil {
		return writeError(p.Path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return writeError(p.Path, err)
	}
	if err := tmp.Sync(); err != nil {
		return writeError(p.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return writeError(p.Path, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, path.Base(p.Path))); err != nil {
		return writeError(p.Path, err)
	}
	done = true
	// The rename is durable once the directory is.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

func writeError(p string, err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
		return fmt.Errorf("writing %s: %w: run as root, or use --root for an image's tree", p, err)
	}
	return fmt.Errorf("writing %s: %w", p, err)
}

// ApplyLive writes the changes to /proc/sys under root, inside the network
// namespace do enters (nil: the caller's), marking each one applied. It
// stops at the first failure.
func ApplyLive(root string, do func(func() error) error, changes []LiveChange) error {
	if do == nil {
		do = func(f func() error) error { return f() }
	}
	procSys := filepath.Join(root, "proc", "sys")
	return do(func() error {
		for i := range changes {
			c := &changes[i]
			// No O_CREATE: a key that is not there is not made up.
			f, err := os.OpenFile(filepath.Join(procSys, filepath.FromSlash(c.Key.Path())), os.O_WRONLY|os.O_TRUNC, 0)
			if err == nil {
				_, err = f.WriteString(c.To + "\n")
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.EPERM) {
					return fmt.Errorf("setting %s live: %w: needs root (CAP_NET_ADMIN) and a writable /proc/sys; run as root, or pass --no-apply", c.Key, err)
				}
				return fmt.Errorf("setting %s live: %w", c.Key, err)
			}
			c.Applied = true
		}
		return nil
	})
}
