package commands

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/spf13/cobra"
)

type sysctlFixOptions struct {
	*globalOptions
	Root    string
	Path    string
	Profile string
	DryRun  bool
	NoApply bool

	rules       []sysctl.Rule
	openRunning openRunningFunc
	// rootGiven says --root was given: with --netns, only then is a file
	// written.
	rootGiven bool
}

// newSysctlFixCmd builds the fix command; runF replaces the run function
// in tests of flag handling (nil runs it for real).
func newSysctlFixCmd(g *globalOptions, runF func(context.Context, *sysctlFixOptions) error) *cobra.Command {
	if runF == nil {
		runF = runSysctlFix
	}
	o := &sysctlFixOptions{globalOptions: g, openRunning: g.openRunning}
	cmd := &cobra.Command{
		Use:   "fix",
		Short: "Write a config file that keeps a profile's rules, and apply it live",
		Long: `Write the profile's values to one config file of arpdoctor's own,
/etc/sysctl.d/60-arpdoctor.conf under --root (--path changes it), with a
comment on each line, atomically (a temporary file renamed over the old
one); no other file is touched. Only the keys the other config files do
not already get right are written, so running fix again changes nothing.
A later file that sets a key again is reported, since it would undo the
fix at boot.

Unless --no-apply is given, the values that break the profile's rules
live are then set in /proc/sys (under --root, inside --netns), as the
config files will set them at boot. Keys that exist only in the initial
network namespace (gc_thresh1..3) cannot be set from another one.

With --netns and no --root, no file is written: this machine's config files
do not set another namespace's values at boot (its container runtime or
its own image does), so only the live values are set.

--dry-run shows the change to the file and the values it would set, and
changes nothing.

Exit status: 1 when something is left unfixed, 2 when fix could not run
(missing privilege among them).`,
		Example: `  arpdoctor sysctl fix --dry-run
  arpdoctor sysctl fix --profile kubernetes
  arpdoctor sysctl fix --root /mnt/image --no-apply`,
		Args:        cobra.NoArgs,
		Annotations: outputs("table", "json"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.rootGiven = cmd.Flags().Changed("root")
			if err := o.validate(); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Root, "root", "/", "write and read files under this directory, such as a machine image; its links never lead out of it")
	f.StringVar(&o.Path, "path", sysctl.DefaultFixPath, "the file to write, as on the machine (under --root)")
	f.StringVar(&o.Profile, "profile", "cloud", "the profile whose values to write: cloud or kubernetes")
	f.BoolVar(&o.DryRun, "dry-run", false, "show the change to the file and the live values to set; change nothing")
	f.BoolVar(&o.NoApply, "no-apply", false, "write the file only; leave the live values alone")
	return cmd
}

func (o *sysctlFixOptions) validate() error {
	if err := checkRoot(o.Root); err != nil {
		return err
	}
	if o.Profile == "none" {
		return flagErrorf("--profile none has no values to write: use cloud or kubernetes")
	}
	rules, err := sysctl.Profile(o.Profile)
	if err != nil {
		return &FlagError{Err: fmt.Errorf("--profile: %w", err)}
	}
	if !path.IsAbs(o.Path) || path.Clean(o.Path) != o.Path {
		return flagErrorf("--path %q: want a clean absolute path, as on the machine, such as %s", o.Path, sysctl.DefaultFixPath)
	}
	o.rules = rules
	return nil
}

// fixReport is what fix did, or would do with --dry-run.
type fixReport struct {
	*sysctl.FixPlan
	OK     bool   `json:"ok"`
	DryRun bool   `json:"dry_run"`
	Diff   string `json:"diff"`
	// LiveChecked is false with --no-apply: live values were not read.
	LiveChecked bool `json:"live_checked"`
	// FileSkipped says why the file was not written, when it was not.
	FileSkipped string `json:"file_skipped,omitempty"`
}

func runSysctlFix(_ context.Context, o *sysctlFixOptions) error {
	opts := sysctl.FixOptions{Root: o.Root, Path: o.Path, Profile: o.Profile, Rules: o.rules}
	var src sysctl.Running
	if !o.NoApply {
		var closeRunning func() error
		var err error
		src, closeRunning, err = o.openRunning(o.NetNS, o.Root)
		if err != nil {
			return err
		}
		defer closeRunning()
		var keys []sysctl.Key
		for _, r := range o.rules {
			if r.Fixable() {
				keys = append(keys, r.Expect.Key)
			}
		}
		if opts.Live, err = sysctl.ReadRunning(src, keys); err != nil {
			return sysctlHint(err, "fix")
		}
	}
	plan, err := sysctl.PlanFix(opts)
	if err != nil {
		return err
	}
	rep := fixReport{FixPlan: plan, DryRun: o.DryRun, Diff: plan.Diff(), LiveChecked: !o.NoApply, OK: len(plan.Unfixed) == 0}
	writeFile := o.NetNS == "" || o.rootGiven
	if !writeFile {
		rep.Diff = ""
		rep.FileSkipped = fmt.Sprintf("%s not written: this machine's config files do not set network namespace %s's values at boot (give --root to write one)", plan.Path, o.NetNS)
	}
	var applyErr error
	if !o.DryRun {
		if writeFile {
			if err := sysctl.WriteFixFile(o.Root, plan); err != nil {
				return sysctlHint(err, "fix")
			}
		}
		if !o.NoApply {
			applyErr = sysctl.ApplyLive(o.Root, src.Do, plan.Live)
		}
	}
	if o.Output == "json" {
		err = writeJSON(o.io.Out, rep)
	} else {
		err = renderFix(o.io.Out, rep, palette{on: o.color})
	}
	switch {
	case applyErr != nil:
		return sysctlHint(applyErr, "fix")
	case err != nil:
		return err
	case !rep.OK:
		return ErrProblems
	}
	return nil
}

// renderFix shows the change to the file, the live values set and what is
// left unfixed.
func renderFix(w io.Writer, rep fixReport, p palette) error {
	var b strings.Builder
	for line := range strings.Lines(rep.Diff) {
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			b.WriteString(p.bold(strings.TrimSuffix(line, "\n")) + "\n")
		case strings.HasPrefix(line, "+"):
			b.WriteString(p.green(strings.TrimSuffix(line, "\n")) + "\n")
		case strings.HasPrefix(line, "-"):
			b.WriteString(p.red(strings.TrimSuffix(line, "\n")) + "\n")
		default:
			b.WriteString(line)
		}
	}
	switch {
	case rep.FileSkipped != "":
		b.WriteString(rep.FileSkipped + "\n")
	case !rep.FileChanged() && rep.Exists:
		fmt.Fprintf(&b, "%s is up to date\n", rep.Path)
	case !rep.FileChanged():
		fmt.Fprintf(&b, "the config files already keep the profile's rules: %s not needed\n", rep.Path)
	case rep.DryRun:
		fmt.Fprintf(&b, "would write %s\n", rep.Path)
	default:
		fmt.Fprintf(&b, "wrote %s\n", rep.Path)
	}
	for _, c := range rep.Live {
		verb := "set"
		switch {
		case rep.DryRun:
			verb = "would set"
		case !c.Applied:
			verb = "did not set"
		}
		fmt.Fprintf(&b, "%s %s = %s live (was %s)\n", verb, c.Key, c.To, c.From)
	}
	if rep.LiveChecked && len(rep.Live) == 0 && len(rep.Unfixed) == 0 {
		b.WriteString("live values already keep the profile's rules\n")
	}
	for _, u := range rep.Unfixed {
		b.WriteString(p.yellow("not fixed: "+u) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}
