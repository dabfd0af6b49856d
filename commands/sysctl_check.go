package commands

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/spf13/cobra"
)

type sysctlCheckOptions struct {
	*globalOptions
	Root     string
	Config   bool
	Files    []string
	Profile  string
	Expects  []string
	Policies []string
	Strict   bool

	rules       []sysctl.Rule
	openRunning openRunningFunc
}

// newSysctlCheckCmd builds the check command; runF replaces the run
// function in tests of flag handling (nil runs it for real).
func newSysctlCheckCmd(g *globalOptions, runF func(context.Context, *sysctlCheckOptions) error) *cobra.Command {
	if runF == nil {
		runF = runSysctlCheck
	}
	o := &sysctlCheckOptions{globalOptions: g, openRunning: g.openRunning}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the neighbor-cache settings against a profile, live or from config files",
		Long: `Judge the neighbor-cache settings by the rules of a profile, and by rules of
your own, with a line for each: OK, WARN, FAIL or NOT VISIBLE, the key, its
value, where the value came from and why the rule matters.

Values are the live ones by default: /proc/sys under --root (read inside
--netns), and, where /proc/sys lacks net.ipv4.neigh.default as every
network namespace but the initial one does, the table-wide values from the
kernel over netlink. Live checks of the initial namespace also say when a
good value is not kept by any config file: it reverts at reboot.

With --config, values are what the config files under --root set at boot,
merged as sysctl --system and systemd-sysctl do (/etc/sysctl.d,
/run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d, /lib/sysctl.d,
then /etc/sysctl.conf), with the kernel's defaults for what they leave
unset: point --root at a machine image in CI. With --file, values are what
the files named set, in order.

Profiles: cloud (the default) wants gc_thresh1 = 0 so that stale entries
for reused IPs are collected, thresholds in order, a table at most half
full and never overflowing, and arp_notify = 1 and ndisc_notify = 1;
kubernetes adds room for tens of thousands of neighbors; none checks only
your rules.

A rule of your own (--expect, --policy) whose key the kernel does not have
(a misspelling, an interface that is not there, a glob that matches
nothing) fails: "no such setting". The profile's rules on keys that cannot
be seen here, such as IPv6's where IPv6 is off, are NOT VISIBLE.

Exit status: 1 when a rule fails (with --strict, also when one warns), 2
when the check could not be made (a malformed config file among them).`,
		Example: `  arpdoctor sysctl check
  arpdoctor sysctl check --config --root /mnt/image -o junit > sysctl.xml
  arpdoctor sysctl check --file 60-net.conf --profile kubernetes
  arpdoctor sysctl check --expect 'net.ipv4.neigh.default.gc_thresh3>=4096' --policy fleet.policy
  arpdoctor --netns blue sysctl check -o json`,
		Args:        cobra.NoArgs,
		Annotations: outputs("table", "wide", "json", "junit"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Root, "root", "/", "read files (/proc/sys, /etc, /usr/lib) under this directory, such as a machine image; its links never lead out of it")
	f.BoolVar(&o.Config, "config", false, "check what the config files under --root set at boot, not the live values")
	f.StringArrayVar(&o.Files, "file", nil, "check what this config file sets (repeatable; later files override earlier ones)")
	f.StringVar(&o.Profile, "profile", "cloud", "built-in rules: cloud, kubernetes or none")
	f.StringArrayVar(&o.Expects, "expect", nil, "a rule of your own: KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER; KEY may be a glob (repeatable)")
	f.StringArrayVar(&o.Policies, "policy", nil, "a file of such rules, one a line; a line starting with 'warn ' warns instead of failing (repeatable)")
	f.BoolVar(&o.Strict, "strict", false, "fail on warnings too")
	return cmd
}

// validate checks the flags and reads the rules.
func (o *sysctlCheckOptions) validate() error {
	if o.Config && len(o.Files) > 0 {
		return flagErrorf("--config and --file exclude each other: --config reads the files under --root, --file only those named")
	}
	if o.NetNS != "" && (o.Config || len(o.Files) > 0) {
		return flagErrorf("--netns reads live values; it does not combine with --config or --file")
	}
	if err := checkRoot(o.Root); err != nil {
		return err
	}
	rules, err := sysctl.Profile(o.Profile)
	if err != nil {
		return &FlagError{Err: fmt.Errorf("--profile: %w", err)}
	}
	for _, s := range o.Expects {
		r, err := sysctl.ExpectRule(s, sysctl.StatusFail)
		if err != nil {
			return &FlagError{Err: fmt.Errorf("--expect %w", err)}
		}
		rules = append(rules, r)
	}
	for _, p := range o.Policies {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("reading policy: %w", err)
		}
		rs, err := sysctl.ParsePolicy(f, p)
		f.Close()
		if err != nil {
			return fmt.Errorf("reading policy: %w", err)
		}
		rules = append(rules, rs...)
	}
	if len(rules) == 0 {
		return flagErrorf("nothing to check: --profile none needs --expect or --policy")
	}
	o.rules = rules
	return nil
}

func runSysctlCheck(ctx context.Context, o *sysctlCheckOptions) error {
	var extra []sysctl.Key
	for _, r := range o.rules {
		if r.Expect != nil {
			extra = append(extra, r.Expect.Key)
		}
	}
	opts := sysctl.CheckOptions{Profile: o.Profile, Strict: o.Strict}
	var snap *sysctl.Snapshot
	switch {
	case len(o.Files) > 0:
		cfg, err := sysctl.LoadConfigFiles(ctx, o.Files...)
		if err != nil {
			return err
		}
		snap, opts.ConfigFiles = cfg.Values(sysctl.ModeFiles, extra), cfg.Files
	case o.Config:
		cfg, err := sysctl.LoadSystemConfig(o.Root)
		if err != nil {
			return err
		}
		snap, opts.ConfigFiles = cfg.Values(sysctl.ModeConfig, extra), cfg.Files
	default:
		src, closeRunning, err := o.openRunning(o.NetNS, o.Root)
		if err != nil {
			return err
		}
		snap, err = sysctl.ReadRunningWithBoot(src, extra, &opts)
		closeRunning()
		if err != nil {
			return sysctlHint(err, "check")
		}
	}
	rep := sysctl.Check(snap, o.rules, opts)
	var err error
	switch o.Output {
	case "json":
		err = writeJSON(o.io.Out, rep)
	case "junit":
		err = writeJUnit(o.io.Out, rep, o.Strict)
	default:
		v := sysctlReportView{rep: rep, wide: o.Output == "wide", style: o.tableStyle(), p: palette{on: o.color},
			strict: o.Strict, netns: o.NetNS, root: o.Root}
		err = v.render(o.io.Out, o.summaryOut())
	}
	if err != nil {
		return err
	}
	if !rep.OK {
		return ErrProblems
	}
	return nil
}

// sysctlReportView renders a check as text: a line per result, then the
// values read (wide), the notes and a summary.
type sysctlReportView struct {
	rep    *sysctl.Report
	wide   bool
	style  tableStyle
	strict bool
	netns  string
	root   string
	p      palette
}

func (v sysctlReportView) render(w, summary io.Writer) error {
	t := &table{header: []string{"STATUS", "KEY", "VALUE", "SOURCE", "WHY"}}
	for _, r := range v.rep.Results {
		t.add(string(r.Status), r.Key, r.Value, r.Source, r.Message)
	}
	t.paint = func(_, col int, cell string) string {
		if col == 0 {
			return v.status(cell)
		}
		return cell
	}
	var b strings.Builder
	if err := t.render(&b, v.style); err != nil {
		return err
	}
	if v.wide {
		b.WriteString("\n")
		vt := &table{header: []string{"KEY", "VALUE", "SOURCE"}}
		for _, val := range v.rep.Values {
			vt.add(string(val.Key), val.Value, val.Source)
		}
		if err := vt.render(&b, v.style); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	b.Reset()
	for _, n := range v.rep.Notes {
		b.WriteString(v.p.faint(escape("note: "+n)) + "\n")
	}
	b.WriteString(v.summary() + "\n")
	_, err := io.WriteString(summary, b.String())
	return err
}

// status colors a padded status cell by its verdict, leaving the padding
// plain.
func (v sysctlReportView) status(cell string) string {
	return paintWord(cell, func(word string) string {
		switch sysctl.Status(word) {
		case sysctl.StatusFail:
			return v.p.red(word)
		case sysctl.StatusWarn:
			return v.p.yellow(word)
		case sysctl.StatusOK:
			return v.p.green(word)
		case sysctl.StatusNotVisible:
			return v.p.faint(word)
		}
		return word
	})
}

// summary says what was checked, and the verdicts.
func (v sysctlReportView) summary() string {
	what := "live values"
	switch v.rep.Mode {
	case sysctl.ModeLive:
		if v.netns != "" {
			what += " of network namespace " + v.netns
		}
		if v.root != "/" {
			what += " under " + v.root
		}
	case sysctl.ModeConfig:
		what = "config files under " + v.root
	case sysctl.ModeFiles:
		what = "the files given"
	}
	if v.rep.Profile != "" && v.rep.Profile != "none" {
		what = "profile " + v.rep.Profile + ", " + what
	}
	counts := v.rep.Counts()
	var parts []string
	for _, s := range []sysctl.Status{sysctl.StatusFail, sysctl.StatusWarn, sysctl.StatusOK, sysctl.StatusNotVisible} {
		if counts[s] > 0 || s == sysctl.StatusFail {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	verdict := "passed"
	if !v.rep.OK {
		verdict = "failed"
	}
	if v.strict && counts[sysctl.StatusWarn] > 0 {
		verdict += " (--strict: warnings fail)"
	}
	line := escape(fmt.Sprintf("%s: %s; %s", what, strings.Join(parts, ", "), verdict))
	if v.rep.OK {
		return v.p.green(line)
	}
	return v.p.bold(line)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
