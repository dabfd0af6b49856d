package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

type doctorOptions struct {
	*globalOptions
	Timeout   time.Duration
	Root      string
	Trace     time.Duration
	Interface string
	Passive   bool
	// verifyLimit bounds the entries probed, to keep the run short.
	verifyLimit int
}

func newDoctorCmd(g *globalOptions, runF func(context.Context, *doctorOptions) error) *cobra.Command {
	if runF == nil {
		runF = runDoctor
	}
	o := &doctorOptions{globalOptions: g, verifyLimit: 1024}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Run every read-only check and say what is wrong and what to run next",
		Long: `Run every read-only check at once, in a few seconds, and report each with a
verdict (ok, warning, problem), the evidence, and the command to run next;
then the single most likely diagnosis, if there is one.

The checks run in this order, everything that sends nothing first:

  settings    the neighbor-cache sysctls against the cloud profile (what
              'arpdoctor sysctl check' reports); a failed rule is a warning
              here: it makes trouble possible, it is not trouble itself
  table       the entries by state, FAILED and INCOMPLETE ones, how full the
              table is against gc_thresh3
  statistics  the kernel's counters since boot: table overflows (a problem),
              forced collections, failed resolutions, packets dropped for
              want of a neighbor
  trace       with --trace DURATION: the TCP handshakes on the default
              route's interface (or -i) for that long, as 'arpdoctor trace'
              sees them: a SYN-ACK sent to the wrong MAC, unanswered
              handshakes, dead MACs probed in vain; needs CAP_NET_RAW.
              Retry the failing connection meanwhile: the trace runs before
              any probe, while the stale entry is still there to be seen
  verify      every entry in use (REACHABLE, STALE, DELAY, PROBE) probed, as
              'arpdoctor verify' does: stale, dead and contested entries are
              problems; needs CAP_NET_RAW. Not with --passive

doctor changes no setting and no entry itself, but probing can heal: the
kernel takes the MAC from a probe's answer once the entry is old enough,
so a stale entry may be corrected by the probe that proves it stale. The
report says when that happened. --passive sends nothing at all: no probe,
no change in the kernel.

Exit code 1 when a check found a problem; else 2 when a check that was
asked for could not run (missing privilege, unreadable settings): the
report is incomplete, and its last line says what would complete it;
else 0.`,
		Example: `  arpdoctor doctor
  arpdoctor doctor --trace 30s          # and watch the handshakes while the problem happens
  arpdoctor doctor --passive            # send nothing: no probe
  arpdoctor --netns blue doctor -o json`,
		Args:        cobra.NoArgs,
		Annotations: allNetNS(outputs("table", "json")),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := probeFlags(o.Timeout, 0); err != nil {
				return err
			}
			if o.Trace != 0 {
				if err := inRange("--trace", o.Trace, time.Second, 24*time.Hour); err != nil {
					return err
				}
			}
			if o.AllNetNS && o.Trace > 0 {
				return flagErrorf("--trace watches one namespace's interface: give --netns instead of --all-netns")
			}
			if err := checkRoot(o.Root); err != nil {
				return err
			}
			if o.Interface != "" && o.Trace == 0 {
				return flagErrorf("-i names the interface of --trace: give --trace DURATION too")
			}
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.Timeout, "timeout", time.Second, "verify: how long to wait for answers after an IP's last request")
	f.StringVar(&o.Root, "root", "/", "where /proc/sys and the sysctl config files are")
	f.DurationVar(&o.Trace, "trace", 0, "also trace TCP handshakes live for this long")
	f.StringVarP(&o.Interface, "interface", "i", "", "the interface --trace captures on (default: the default route's)")
	f.BoolVar(&o.Passive, "passive", false, "send nothing: skip the probes, change nothing in the kernel")
	return cmd
}

func runDoctor(ctx context.Context, o *doctorOptions) error {
	if o.AllNetNS {
		return runDoctorAll(ctx, o)
	}
	c, err := o.openNeigh(o.NetNS)
	if err != nil {
		return err
	}
	defer c.Close()
	facts, err := gatherDoctor(ctx, o, c)
	if err != nil {
		return err
	}
	rep := diagnose.Assess(facts)
	rep.Time = time.Now()
	o.suggestReport(rep)
	if o.Output == "json" {
		err = writeJSON(o.io.Out, rep)
	} else {
		err = doctorView{rep: rep, p: palette{on: o.color}, width: o.termWidth()}.render(o.io.Out)
	}
	if err != nil {
		return err
	}
	return reportOutcome(rep.OK, rep.Complete)
}

// reportOutcome is how a report ends: ErrProblems when it found a problem,
// errIncomplete when it found none but could not run every check.
func reportOutcome(ok, complete bool) error {
	switch {
	case !ok:
		return ErrProblems
	case !complete:
		return errIncomplete
	}
	return nil
}

// errIncomplete ends a report that could not run every check it was
// asked for, and found no problem in the others: exit code 2, and the
// report's last line already said why.
var errIncomplete = &silentError{errors.New("the report is incomplete"), ExitTrouble}

// gatherDoctor reads everything the checks judge, passive reads first:
// the table, the settings, the counters, then the trace, and the probes
// last, since their answers can make the kernel correct what they prove.
func gatherDoctor(ctx context.Context, o *doctorOptions, c neighClient) (*diagnose.Facts, error) {
	f := &diagnose.Facts{NetNS: o.NetNS, Profile: "cloud"}
	if o.Passive {
		f.DoctorFlags = []string{"--passive"}
	}
	var err error
	if f.Entries, err = c.List(neigh.Filter{States: neigh.AllStates}); err != nil {
		return nil, err
	}
	if f.Tables, err = c.Tables(""); err != nil {
		return nil, err
	}
	f.Settings, f.SettingsErr = doctorSettings(c, o.Root, f)
	f.ProcStats, f.ProcStatsErr = readProcStats(o.Root, f.Tables)
	if o.Trace > 0 {
		t, err := doctorTrace(ctx, o, c)
		if err != nil {
			return nil, err
		}
		f.Trace = t
	}
	if !o.Passive {
		entries := f.Entries
		if f.Trace != nil && f.Trace.Err == nil {
			// The trace took a while, and the kernel may have changed the
			// table meanwhile (a failing client makes it ask again): probe
			// the table as it is now, not as it was.
			if entries, err = c.List(neigh.Filter{States: neigh.AllStates}); err != nil {
				return nil, err
			}
		}
		f.Verify = doctorVerify(ctx, o, c, entries)
	}
	return f, nil
}

// readProcStats reads the /proc/net/stat counters of each table, where
// /proc shows them: only the initial namespace does.
func readProcStats(root string, tables []neigh.Table) (map[string]neigh.ProcStats, error) {
	var stats map[string]neigh.ProcStats
	var errs error
	for _, t := range tables {
		ps, err := neigh.ReadProcStats(root, t.Name)
		switch {
		case err == nil:
			if stats == nil {
				stats = map[string]neigh.ProcStats{}
			}
			stats[t.Name] = ps
		case !errors.Is(err, fs.ErrNotExist):
			errs = errors.Join(errs, err)
		}
	}
	return stats, errs
}

// doctorSettings checks the live settings with the cloud profile, using
// the table already read rather than dump it again.
func doctorSettings(c neighClient, root string, f *diagnose.Facts) (*sysctl.Report, error) {
	rules, err := sysctl.Profile(f.Profile)
	if err != nil {
		return nil, err
	}
	src := sysctl.Running{Root: root, Do: c.Do, Kernel: readTable{entries: f.Entries, tables: f.Tables}}
	opts := sysctl.CheckOptions{Profile: f.Profile}
	snap, err := sysctl.ReadRunningWithBoot(src, nil, &opts)
	if err != nil {
		return nil, err
	}
	return sysctl.Check(snap, rules, opts), nil
}

// readTable answers the settings check's questions about the table with
// what doctor has already read.
type readTable struct {
	entries []neigh.Entry
	tables  []neigh.Table
}

func (r readTable) Tables(f neigh.Family) ([]neigh.Table, error) {
	var out []neigh.Table
	for _, t := range r.tables {
		if f == "" || t.Family == f {
			out = append(out, t)
		}
	}
	return out, nil
}

func (r readTable) Census() ([]neigh.Group, error) { return neigh.CensusOf(r.entries), nil }

// doctorVerify probes the entries in use.
func doctorVerify(ctx context.Context, o *doctorOptions, c neighClient, entries []neigh.Entry) *diagnose.VerifyFacts {
	var inUse []neigh.Entry
	for _, e := range entries {
		if e.State&(neigh.Reachable|neigh.Stale|neigh.Delay|neigh.Probe) != 0 && !e.IP.IsMulticast() {
			inUse = append(inUse, e)
		}
	}
	v := &diagnose.VerifyFacts{InUse: len(inUse)}
	if len(inUse) == 0 {
		return v
	}
	if len(inUse) > o.verifyLimit {
		inUse = inUse[:o.verifyLimit]
	}
	start := time.Now()
	v.Results, v.Err = c.Probe(ctx, inUse, neigh.ProbeOptions{Timeout: o.Timeout, Retries: 2})
	v.Took = time.Since(start)
	return v
}

// doctorTrace watches the handshakes for --trace, on -i or the default
// route's interface. Only an interface named with -i that does not exist
// is trouble; anything else that keeps the capture from running skips it.
func doctorTrace(ctx context.Context, o *doctorOptions, c neighClient) (*diagnose.TraceFacts, error) {
	t := &diagnose.TraceFacts{Interface: o.Interface, Duration: o.Trace}
	if t.Interface == "" {
		if t.Interface, t.Err = c.DefaultRouteInterface(); t.Err != nil {
			// Name what could be traced instead.
			if ifs, err := c.Interfaces(); err == nil {
				for _, ifi := range ifs {
					if ifi.Flags&unix.IFF_LOOPBACK == 0 && len(ifi.MAC) == 6 {
						t.Interfaces = append(t.Interfaces, ifi.Name)
					}
				}
			}
			return t, nil
		}
	}
	live, err := o.openCapture(o.NetNS, t.Interface, capture.Filter{})
	var ie *neigh.InterfaceError
	switch {
	case errors.As(err, &ie) && o.Interface != "":
		return nil, err
	case err != nil:
		t.Err = err
		return t, nil
	}
	defer live.Close()
	fmt.Fprintf(o.io.ErrOut, "tracing handshakes on %s for %s: retry the failing connection now\n", t.Interface, o.Trace)
	cfg := capture.RunConfig{Sources: []capture.Source{live.Source}, Duration: o.Trace, CountOK: true, Host: live.Host,
		Emit: func(f capture.Finding) { t.Findings = capture.AddFinding(t.Findings, f) }}
	if t.Summary, err = capture.Run(ctx, cfg); err != nil {
		t.Err = fmt.Errorf("the trace failed: %w", err)
		t.Summary = nil
	}
	return t, nil
}

// doctorView renders the report as text.
type doctorView struct {
	rep *diagnose.Report
	p   palette
	// width is the terminal's, for wrapping long lines; 0 in a pipe.
	width int
}

func (v doctorView) render(w io.Writer) error {
	var b strings.Builder
	v.checks(&b, v.rep.Checks)
	switch dg := v.rep.Diagnosis; {
	case dg == nil && v.rep.Complete:
		b.WriteString(v.p.green("\nNo problem found.") + "\n")
	case dg == nil:
		b.WriteString("\nNo problem found in the checks that ran.\n")
	default:
		v.diagnosis(&b, dg)
	}
	if !v.rep.Complete {
		v.incomplete(&b, v.rep.Incomplete)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// checks writes a line per check, its evidence and next commands.
func (v doctorView) checks(b *strings.Builder, checks []diagnose.Check) {
	for _, ch := range checks {
		verdict := string(ch.Verdict)
		switch ch.Verdict {
		case diagnose.Problem:
			verdict = v.p.red(verdict)
		case diagnose.Warning:
			verdict = v.p.yellow(verdict)
		case diagnose.OK:
			verdict = v.p.green(verdict)
		}
		pad := strings.Repeat(" ", len(diagnose.Problem)-len(ch.Verdict))
		head := fmt.Sprintf("%-11s %s%s  ", strings.ToUpper(ch.Name), verdict, pad)
		indent := 11 + 1 + len(diagnose.Problem) + 2
		b.WriteString(head + v.wrap(ch.Summary, indent) + "\n")
		for _, e := range ch.Evidence {
			b.WriteString("  " + v.wrap(e, 4) + "\n")
		}
		for _, n := range ch.Next {
			// Never wrapped: a command line is for copying whole.
			fmt.Fprintf(b, "  next: %s\n", v.p.bold(escape(n.String())))
		}
	}
}

func (v doctorView) diagnosis(b *strings.Builder, dg *diagnose.Diagnosis) {
	line := "\n" + v.wrap(fmt.Sprintf("DIAGNOSIS (%s): %s", dg.Certainty, dg.Summary), 2)
	if dg.Certainty == "proven" {
		line = v.p.red(line)
	} else {
		line = v.p.yellow(line)
	}
	b.WriteString(line + "\n")
	for _, n := range dg.Next {
		fmt.Fprintf(b, "  run: %s\n", v.p.bold(escape(n.String())))
	}
}

// incomplete ends a report that could not run every check: the last line
// says which, and what would complete it.
func (v doctorView) incomplete(b *strings.Builder, in []diagnose.Incomplete) {
	var parts []string
	for _, i := range in {
		p := strings.ToUpper(i.Check) + " skipped"
		if i.Run != nil {
			p += " (run: " + i.Run.String() + ")"
		}
		parts = append(parts, p)
	}
	b.WriteString(v.p.yellow(escape("INCOMPLETE: "+strings.Join(parts, "; "))) + "\n")
}

// wrap escapes a line of the report (it quotes interface names and
// settings from outside) and wraps it to the terminal, the continuation
// indented; the first indent columns are already on the line.
func (v doctorView) wrap(line string, indent int) string {
	line = escape(line)
	if v.width <= 0 {
		return line
	}
	return strings.TrimPrefix(wrap(strings.Repeat(" ", indent)+line, v.width, indent), strings.Repeat(" ", indent))
}
