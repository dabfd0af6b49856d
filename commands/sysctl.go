package commands

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/spf13/cobra"
)

func newSysctlCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sysctl",
		Short: "Check and fix the settings behind stale entries and table overflows",
		Long: `The kernel settings that decide how long neighbor entries live and how many
the table holds: net.ipv4/ipv6.neigh.default.gc_thresh1..3 and the rest of
the neighbor parameters, and the ARP settings of net.ipv4.conf.

'check' judges them against a profile and your own rules, live or as the
config files will set them at boot; 'fix' writes a config file that keeps
the profile's rules and sets the values live. The rules, profiles and
policy files are described in docs/sysctl.md.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newSysctlCheckCmd(g, nil), newSysctlFixCmd(g, nil))
	return cmd
}

// openLiveFunc connects to the kernel of a network namespace for live
// values under root; close releases it.
type openLiveFunc func(netns, root string) (src sysctl.LiveSource, close func() error, err error)

// openLive reads /proc/sys from a thread inside the namespace and asks
// netlink in the same namespace.
func openLive(netns, root string) (sysctl.LiveSource, func() error, error) {
	c, err := neigh.Open(netns)
	if err != nil {
		return sysctl.LiveSource{}, nil, err
	}
	return sysctl.LiveSource{Root: root, Do: c.NetNS().Do, Kernel: c}, c.Close, nil
}

// readLive reads the live values and, in the initial namespace, what the
// config files under root will set at boot, so that the check can say when
// a value will not survive a reboot.
func readLive(src sysctl.LiveSource, root string, extra []sysctl.Key, opts *sysctl.CheckOptions) (*sysctl.Snapshot, error) {
	snap, err := sysctl.ReadLive(src, extra)
	if err != nil || !snap.InitialNamespace {
		return snap, err
	}
	cfg, err := sysctl.LoadSystemConfig(root)
	if err != nil {
		return nil, err
	}
	var keys []sysctl.Key
	for _, v := range snap.Values {
		keys = append(keys, v.Key)
	}
	opts.Boot, opts.ConfigFiles = cfg.Values(sysctl.ModeConfig, keys), cfg.Files
	return snap, nil
}

type sysctlCheckOptions struct {
	*globalOptions
	Root     string
	Config   bool
	Files    []string
	Profile  string
	Expects  []string
	Policies []string
	Strict   bool

	rules    []sysctl.Rule
	openLive openLiveFunc
}

// newSysctlCheckCmd builds the check command; runF replaces the run
// function in tests of flag handling (nil runs it for real).
func newSysctlCheckCmd(g *globalOptions, runF func(context.Context, *sysctlCheckOptions) error) *cobra.Command {
	if runF == nil {
		runF = runSysctlCheck
	}
	o := &sysctlCheckOptions{globalOptions: g, openLive: openLive}
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
full and never overflowing, and arp_notify = 1; kubernetes adds room for
tens of thousands of neighbors; none checks only your rules.

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
	f.StringVar(&o.Root, "root", "/", "read files (/proc/sys, /etc, /usr/lib) under this directory, such as a machine image")
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

func checkRoot(root string) error {
	fi, err := os.Stat(root)
	if err != nil {
		return &FlagError{Err: fmt.Errorf("--root: %w", err)}
	}
	if !fi.IsDir() {
		return flagErrorf("--root %s is not a directory", root)
	}
	return nil
}

func runSysctlCheck(_ context.Context, o *sysctlCheckOptions) error {
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
		cfg, err := sysctl.LoadConfigFiles(o.Files...)
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
		src, closeLive, err := o.openLive(o.NetNS, o.Root)
		if err != nil {
			return err
		}
		snap, err = readLive(src, o.Root, extra, &opts)
		closeLive()
		if err != nil {
			return err
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
		v := sysctlReportView{rep: rep, wide: o.Output == "wide", tty: o.io.OutTTY, p: palette{on: o.color},
			strict: o.Strict, netns: o.NetNS, root: o.Root}
		err = v.render(o.io.Out)
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
	tty    bool
	strict bool
	netns  string
	root   string
	p      palette
}

func (v sysctlReportView) render(w io.Writer) error {
	rows := [][]string{}
	if v.tty {
		rows = append(rows, []string{"STATUS", "KEY", "VALUE", "SOURCE", "WHY"})
	}
	for _, r := range v.rep.Results {
		rows = append(rows, []string{string(r.Status), r.Key, dash(r.Value), dash(r.Source), r.Message})
	}
	var b strings.Builder
	writeAligned(&b, rows, func(row, col int, cell string) string {
		switch {
		case v.tty && row == 0:
			return v.p.bold(cell)
		case col == 0:
			return v.status(cell)
		}
		return cell
	})
	if v.wide {
		b.WriteString("\n")
		vrows := [][]string{}
		if v.tty {
			vrows = append(vrows, []string{"KEY", "VALUE", "SOURCE"})
		}
		for _, val := range v.rep.Values {
			vrows = append(vrows, []string{string(val.Key), dash(val.Value), val.Source})
		}
		writeAligned(&b, vrows, func(row, _ int, cell string) string {
			if v.tty && row == 0 {
				return v.p.bold(cell)
			}
			return cell
		})
	}
	for _, n := range v.rep.Notes {
		b.WriteString(v.p.faint("note: "+n) + "\n")
	}
	b.WriteString(v.summary() + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// status colors a padded status cell by its verdict, leaving the padding
// plain.
func (v sysctlReportView) status(cell string) string {
	word := strings.TrimRight(cell, " ")
	pad := cell[len(word):]
	switch sysctl.Status(word) {
	case sysctl.StatusFail:
		word = v.p.red(word)
	case sysctl.StatusWarn:
		word = v.p.yellow(word)
	case sysctl.StatusOK:
		word = v.p.green(word)
	case sysctl.StatusNotVisible:
		word = v.p.faint(word)
	}
	return word + pad
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
	line := fmt.Sprintf("%s: %s; %s", what, strings.Join(parts, ", "), verdict)
	if v.rep.OK {
		return v.p.green(line)
	}
	return v.p.bold(line)
}

// writeAligned writes rows as columns two blanks apart, the last column
// not padded; paint decorates a cell after it is padded to width.
func writeAligned(b *strings.Builder, rows [][]string, paint func(row, col int, cell string) string) {
	var widths []int
	for _, r := range rows {
		for i, c := range r[:len(r)-1] {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	for ri, r := range rows {
		for i, c := range r {
			if i < len(r)-1 {
				c += strings.Repeat(" ", widths[i]-len([]rune(c))+2)
			}
			b.WriteString(paint(ri, i, c))
		}
		b.WriteString("\n")
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// JUnit XML, as Jenkins, GitLab and GitHub test reporters read it: one test
// case per result; FAIL is a failure (and WARN, with --strict), NOT
// VISIBLE is skipped, and other verdicts show their message as output.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

// junitText keeps its lines as they are, where character data would have
// its newlines escaped.
type junitText struct {
	Text string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

func writeJUnit(w io.Writer, rep *sysctl.Report, strict bool) error {
	suiteName := "arpdoctor sysctl check (" + string(rep.Mode) + ")"
	if rep.Profile != "" {
		suiteName = "arpdoctor sysctl check --profile " + rep.Profile + " (" + string(rep.Mode) + ")"
	}
	s := junitSuite{Name: suiteName}
	for _, r := range rep.Results {
		c := junitCase{Name: r.Rule + ": " + r.Key, Classname: "arpdoctor.sysctl." + r.Rule}
		detail := xmlText(fmt.Sprintf("%s = %s (%s)\n%s", r.Key, dash(r.Value), dash(r.Source), r.Message))
		switch {
		case r.Status == sysctl.StatusFail || strict && r.Status == sysctl.StatusWarn:
			c.Failure = &junitFailure{Message: r.Message, Type: string(r.Status), Text: detail}
			s.Failures++
		case r.Status == sysctl.StatusNotVisible:
			c.Skipped = &junitSkipped{Message: r.Message}
			s.Skipped++
		default:
			c.SystemOut = &junitText{Text: string(r.Status) + ": " + detail}
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	for i := range s.Cases {
		if f := s.Cases[i].Failure; f != nil {
			f.Message = xmlText(f.Message)
		}
		if k := s.Cases[i].Skipped; k != nil {
			k.Message = xmlText(k.Message)
		}
	}
	doc := junitSuites{Name: "arpdoctor sysctl check", Tests: s.Tests, Failures: s.Failures, Skipped: s.Skipped, Suites: []junitSuite{s}}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s%s\n", xml.Header, out)
	return err
}

// xmlText replaces what XML 1.0 cannot hold (control characters a config
// value may carry, invalid UTF-8) with U+FFFD, so that the report parses.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == utf8.RuneError, r >= 0xFFFE && r <= 0xFFFF:
			return utf8.RuneError
		}
		return r
	}, s)
}

type sysctlFixOptions struct {
	*globalOptions
	Root    string
	Path    string
	Profile string
	DryRun  bool
	NoApply bool

	rules    []sysctl.Rule
	openLive openLiveFunc
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
	o := &sysctlFixOptions{globalOptions: g, openLive: openLive}
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
	f.StringVar(&o.Root, "root", "/", "write and read files under this directory, such as a machine image")
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
	var src sysctl.LiveSource
	if !o.NoApply {
		var closeLive func() error
		var err error
		src, closeLive, err = o.openLive(o.NetNS, o.Root)
		if err != nil {
			return err
		}
		defer closeLive()
		var keys []sysctl.Key
		for _, r := range o.rules {
			if r.Fixable() {
				keys = append(keys, r.Expect.Key)
			}
		}
		if opts.Live, err = sysctl.ReadLive(src, keys); err != nil {
			return err
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
				return err
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
		return applyErr
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
