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
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/spf13/cobra"
)

type doctorOptions struct {
	*globalOptions
	Timeout   time.Duration
	Root      string
	Trace     time.Duration
	Interface string
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

  settings    the neighbor-cache sysctls against the cloud profile (what
              'arpdoctor sysctl check' reports); a failed rule is a warning
              here: it makes trouble possible, it is not trouble itself
  table       the entries by state, FAILED and INCOMPLETE ones, how full the
              table is against gc_thresh3
  statistics  the kernel's counters since boot: table overflows (a problem),
              forced collections, failed resolutions, packets dropped for
              want of a neighbor
  verify      every entry in use (REACHABLE, STALE, DELAY, PROBE) probed, as
              'arpdoctor verify' does: stale, dead and contested entries are
              problems; needs CAP_NET_RAW, and is skipped, saying so, without
  trace       with --trace DURATION: the TCP handshakes on the default
              route's interface (or -i) for that long, as 'arpdoctor trace'
              sees them: a SYN-ACK sent to the wrong MAC, unanswered
              handshakes, dead MACs probed in vain; needs CAP_NET_RAW

Nothing is changed. Exit code 1 when a check found a problem, 0 otherwise.`,
		Example: `  arpdoctor doctor
  arpdoctor doctor --trace 30s          # and watch the handshakes while the problem happens
  arpdoctor --netns blue doctor -o json`,
		Args:        cobra.NoArgs,
		Annotations: outputs("table", "json"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Timeout <= 0 {
				return flagErrorf("--timeout must be positive")
			}
			if o.Trace < 0 {
				return flagErrorf("--trace must not be negative")
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
	return cmd
}

// Verdicts of doctor's checks.
const (
	verdictOK      = "ok"
	verdictWarning = "warning"
	verdictProblem = "problem"
	verdictSkipped = "skipped"
)

// doctorReport is what doctor found.
type doctorReport struct {
	OK     bool          `json:"ok"`
	NetNS  string        `json:"netns,omitempty"`
	Time   time.Time     `json:"time"`
	Checks []doctorCheck `json:"checks"`
	// Diagnosis is the most likely explanation, nil when all is well.
	Diagnosis *diagnosis `json:"diagnosis"`
}

// doctorCheck is one check's verdict, evidence and next command.
type doctorCheck struct {
	Name     string   `json:"name"`
	Verdict  string   `json:"verdict"`
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence"`
	Next     []string `json:"next"`
	// Data is the check's full result, as the command it stands for
	// reports it in JSON.
	Data any `json:"data,omitempty"`
}

// diagnosis is the single most likely explanation.
type diagnosis struct {
	// Certainty: "proven" when probes or packets showed it, "exposed"
	// when only the settings make it possible.
	Certainty string   `json:"certainty"`
	Summary   string   `json:"summary"`
	Next      []string `json:"next"`
}

func runDoctor(ctx context.Context, o *doctorOptions) error {
	c, err := neigh.Open(o.NetNS)
	if err != nil {
		return err
	}
	defer c.Close()
	d := &doctor{o: o, c: c, rep: &doctorReport{NetNS: o.NetNS, Time: time.Now(), OK: true}}
	d.prefix = "arpdoctor "
	if o.NetNS != "" {
		d.prefix += "--netns " + o.NetNS + " "
	}
	entries, err := c.List(neigh.Filter{States: neigh.AllStates})
	if err != nil {
		return err
	}
	tables, err := c.Tables("")
	if err != nil {
		return err
	}
	sysrep := d.settings(readTable{Client: c, entries: entries, tables: tables})
	d.table(entries, tables, sysrep)
	d.statistics(tables, sysrep)
	d.verify(ctx, entries)
	if err := d.trace(ctx); err != nil {
		return err
	}
	d.diagnose(sysrep)
	for _, ch := range d.rep.Checks {
		if ch.Verdict == verdictProblem {
			d.rep.OK = false
		}
	}
	if o.Output == "json" {
		err = writeJSON(o.io.Out, d.rep)
	} else {
		err = doctorView{rep: d.rep, p: palette{on: o.color}}.render(o.io.Out)
	}
	if err != nil {
		return err
	}
	if !d.rep.OK {
		return ErrProblems
	}
	return nil
}

type doctor struct {
	o      *doctorOptions
	c      *neigh.Client
	rep    *doctorReport
	prefix string // "arpdoctor --netns X " for next commands
	// results of the probes and the trace, for the diagnosis
	probed   []neigh.ProbeResult
	findings []capture.Finding
}

func (d *doctor) add(ch doctorCheck) {
	if ch.Evidence == nil {
		ch.Evidence = []string{}
	}
	if ch.Next == nil {
		ch.Next = []string{}
	}
	d.rep.Checks = append(d.rep.Checks, ch)
}

// settings runs the sysctl check, live, with the cloud profile.
func (d *doctor) settings(k readTable) *sysctl.Report {
	rules, _ := sysctl.Profile("cloud")
	src := sysctl.LiveSource{Root: d.o.Root, Do: d.c.NetNS().Do, Kernel: k}
	opts := sysctl.CheckOptions{Profile: "cloud"}
	snap, err := readLive(src, d.o.Root, nil, &opts)
	if err != nil {
		d.add(doctorCheck{Name: "settings", Verdict: verdictSkipped, Summary: "the settings could not be read: " + oneLine(err.Error()),
			Next: []string{d.prefix + "sysctl check"}})
		return nil
	}
	rep := sysctl.Check(snap, rules, opts)
	ch := doctorCheck{Name: "settings", Verdict: verdictOK, Data: rep}
	bad := 0
	for _, r := range rep.Results {
		if !settingsRule(r.Rule) || r.Status == sysctl.StatusOK {
			continue
		}
		if r.Status == sysctl.StatusFail || r.Status == sysctl.StatusWarn {
			ch.Verdict = verdictWarning
			bad++
		}
		ch.Evidence = append(ch.Evidence, fmt.Sprintf("%s %s = %s (%s): %s", r.Status, r.Key, r.Value, r.Source, r.Message))
	}
	if bad == 0 {
		ch.Summary = "the neighbor-cache settings keep stale entries from living on"
	} else {
		ch.Summary = fmt.Sprintf("%d %s the cloud profile: stale entries can live on", bad, plural(bad, "setting breaks", "settings break"))
		// The thresholds are the machine's, kept by the host's config
		// files: the fix runs on the host, whatever namespace was read.
		ch.Next = []string{d.prefix + "sysctl check", "arpdoctor sysctl fix"}
	}
	d.add(ch)
	return rep
}

// readTable answers the settings check's questions about the table with
// what doctor has already read, rather than dump it twice; anything else
// goes to the client.
type readTable struct {
	*neigh.Client
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

func (r readTable) List(f neigh.Filter) ([]neigh.Entry, error) {
	var out []neigh.Entry
	for i := range r.entries {
		if f.Match(&r.entries[i]) {
			out = append(out, r.entries[i])
		}
	}
	return out, nil
}

// settingsRule tells the rules of settings from those about the table's
// use and counters, which doctor reports in sections of their own.
func settingsRule(id string) bool {
	switch id {
	case "table-usage", "table-full", "forced-gc":
		return false
	}
	return true
}

// table summarises the entries.
func (d *doctor) table(entries []neigh.Entry, tables []neigh.Table, sysrep *sysctl.Report) {
	ch := doctorCheck{Name: "table", Verdict: verdictOK}
	var shown []neigh.Entry
	for _, e := range entries {
		if e.State != neigh.NoARP && e.State != neigh.None {
			shown = append(shown, e)
		}
	}
	ch.Summary = summaryLine(shown, tables)
	var failing []string
	for _, e := range shown {
		if e.State == neigh.Failed || e.State == neigh.Incomplete {
			failing = append(failing, e.IP.String())
		}
	}
	if len(failing) > 0 {
		ch.Verdict = verdictWarning
		ch.Evidence = append(ch.Evidence, fmt.Sprintf("%d %s nobody answers (FAILED or INCOMPLETE): %s",
			len(failing), plural(len(failing), "IP", "IPs"), strings.Join(limit(failing, 8), ", ")))
		ch.Next = append(ch.Next, d.prefix+"neigh --state failed,incomplete")
	}
	if sysrep != nil {
		for _, r := range sysrep.Results {
			if r.Rule == "table-usage" && r.Status == sysctl.StatusWarn {
				ch.Verdict = verdictWarning
				ch.Evidence = append(ch.Evidence, r.Key+": "+r.Message)
				ch.Next = append(ch.Next, d.prefix+"sysctl check --profile kubernetes")
			}
		}
	}
	ch.Data = struct {
		Entries int `json:"entries"`
		Failing int `json:"failed_or_incomplete"`
	}{len(shown), len(failing)}
	d.add(ch)
}

// statistics reports the kernel's counters: overflows are a problem,
// forced collections and drops for want of a neighbor a warning.
func (d *doctor) statistics(tables []neigh.Table, sysrep *sysctl.Report) {
	ch := doctorCheck{Name: "statistics", Verdict: verdictOK}
	type counters struct {
		Table              string  `json:"table"`
		TableFulls         uint64  `json:"table_fulls"`
		ForcedGCRuns       uint64  `json:"forced_gc_runs"`
		ResFailed          uint64  `json:"res_failed"`
		UnresolvedDiscards *uint64 `json:"unresolved_discards"`
	}
	var data []counters
	var parts []string
	for _, t := range tables {
		cs := counters{Table: t.Name, TableFulls: t.Stats.TableFulls, ForcedGCRuns: t.Stats.ForcedGCRuns, ResFailed: t.Stats.ResFailed}
		ps, err := neigh.ReadProcStats(d.o.Root, t.Name)
		switch {
		case err == nil:
			v := ps["unresolved_discards"]
			cs.UnresolvedDiscards = &v
		case !errors.Is(err, fs.ErrNotExist):
			ch.Evidence = append(ch.Evidence, oneLine(err.Error()))
		}
		data = append(data, cs)
		if cs.TableFulls > 0 {
			ch.Verdict = verdictProblem
			ch.Evidence = append(ch.Evidence, fmt.Sprintf("%s overflowed %d times: the kernel refused new neighbors (\"neighbour table overflow\")", t.Name, cs.TableFulls))
			ch.Next = append(ch.Next, d.prefix+"sysctl fix --profile kubernetes")
		}
		if cs.ForcedGCRuns > 0 {
			ch.Verdict = worst(ch.Verdict, verdictWarning)
			ch.Evidence = append(ch.Evidence, fmt.Sprintf("%s: %d forced collections: the table went past gc_thresh2", t.Name, cs.ForcedGCRuns))
		}
		if cs.UnresolvedDiscards != nil && *cs.UnresolvedDiscards > 0 {
			ch.Verdict = worst(ch.Verdict, verdictWarning)
			ch.Evidence = append(ch.Evidence, fmt.Sprintf("%s: %d packets dropped while their neighbor did not resolve", t.Name, *cs.UnresolvedDiscards))
		}
		p := fmt.Sprintf("%s: %d overflows, %d forced collections, %d failed resolutions", t.Name, cs.TableFulls, cs.ForcedGCRuns, cs.ResFailed)
		if cs.UnresolvedDiscards != nil {
			p += fmt.Sprintf(", %d unresolved drops", *cs.UnresolvedDiscards)
		}
		parts = append(parts, p)
	}
	ch.Summary = strings.Join(parts, "; ") + " (machine-wide, since boot)"
	if data != nil && data[0].UnresolvedDiscards == nil {
		ch.Evidence = append(ch.Evidence, "unresolved drops are counted in /proc/net/stat, which only the initial network namespace shows")
	}
	ch.Data = data
	d.add(ch)
}

// verify probes the entries in use, when it may.
func (d *doctor) verify(ctx context.Context, entries []neigh.Entry) {
	var inUse []neigh.Entry
	for _, e := range entries {
		if e.State&(neigh.Reachable|neigh.Stale|neigh.Delay|neigh.Probe) != 0 && !e.IP.IsMulticast() {
			inUse = append(inUse, e)
		}
	}
	ch := doctorCheck{Name: "verify", Verdict: verdictOK}
	if len(inUse) == 0 {
		ch.Summary = "no entry in use to probe"
		d.add(ch)
		return
	}
	if len(inUse) > d.o.verifyLimit {
		ch.Evidence = append(ch.Evidence, fmt.Sprintf("probed the first %d of %d entries in use", d.o.verifyLimit, len(inUse)))
		inUse = inUse[:d.o.verifyLimit]
	}
	start := time.Now()
	rs, err := d.c.Probe(ctx, inUse, neigh.ProbeOptions{Timeout: d.o.Timeout, Retries: 2})
	var pe *neigh.PrivilegeError
	switch {
	case errors.As(err, &pe):
		ch.Verdict = verdictSkipped
		ch.Summary = fmt.Sprintf("%d %s in use not probed: %s", len(inUse), plural(len(inUse), "entry", "entries"), err)
		ch.Next = []string{"sudo " + d.prefix + "doctor"}
		d.add(ch)
		return
	case err != nil:
		ch.Verdict = verdictSkipped
		ch.Summary = "probing failed: " + oneLine(err.Error())
		d.add(ch)
		return
	}
	d.probed = rs
	counts := map[neigh.Verdict]int{}
	v := verifyView{netns: d.o.NetNS}
	remaining := false // problems the kernel did not correct from the answers
	for i := range rs {
		r := &rs[i]
		counts[r.Verdict]++
		if r.Problem() {
			ch.Verdict = verdictProblem
			ch.Evidence = append(ch.Evidence, v.note(r))
			remaining = remaining || !r.Corrected()
		}
	}
	ch.Summary = fmt.Sprintf("%d %s in use probed in %s: %d ok, %d mismatch, %d no_answer, %d duplicate",
		len(rs), plural(len(rs), "entry", "entries"), time.Since(start).Round(10*time.Millisecond), counts[neigh.VerdictOK],
		counts[neigh.VerdictMismatch], counts[neigh.VerdictNoAnswer], counts[neigh.VerdictDuplicate])
	if n := counts[neigh.VerdictUnprobed]; n > 0 {
		ch.Summary += fmt.Sprintf(", %d not probed", n)
		for i := range rs {
			if rs[i].Verdict == neigh.VerdictUnprobed && len(ch.Evidence) < 10 {
				ch.Evidence = append(ch.Evidence, v.note(&rs[i]))
			}
		}
	}
	if remaining {
		ch.Next = []string{d.prefix + "verify --fix"}
	}
	views := make([]verifyJSON, len(rs))
	for i := range rs {
		views[i] = newVerifyJSON(&rs[i])
	}
	ch.Data = views
	d.add(ch)
}

// trace watches the handshakes for --trace, on -i or the default route's
// interface. Only an interface named with -i that does not exist is
// trouble; anything else that keeps the capture from running skips it.
func (d *doctor) trace(ctx context.Context) error {
	if d.o.Trace == 0 {
		return nil
	}
	ch := doctorCheck{Name: "trace", Verdict: verdictOK}
	skip := func(why string, next ...string) error {
		ch.Verdict, ch.Summary, ch.Next = verdictSkipped, why, next
		d.add(ch)
		return nil
	}
	ifname := d.o.Interface
	if ifname == "" {
		var err error
		if ifname, err = d.c.DefaultRouteInterface(); err != nil {
			return skip("no handshakes traced: "+oneLine(err.Error())+"; name the interface with -i", d.prefix+"doctor --trace "+d.o.Trace.String()+" -i IF")
		}
	}
	src, err := capture.OpenLive(capture.LiveConfig{NetNS: d.o.NetNS, Interface: ifname})
	var ie *neigh.InterfaceError
	switch {
	case errors.As(err, &ie) && d.o.Interface != "":
		return err
	case errors.Is(err, capture.ErrNoCapNetRaw):
		return skip("no handshakes traced: "+oneLine(err.Error()), "sudo "+d.prefix+"doctor --trace "+d.o.Trace.String())
	case err != nil:
		return skip("no handshakes traced: " + oneLine(err.Error()))
	}
	defer src.Close()
	fmt.Fprintf(d.o.io.ErrOut, "tracing handshakes on %s for %s\n", ifname, d.o.Trace)
	cfg := capture.RunConfig{Sources: []capture.Source{src}, Duration: d.o.Trace, CountOK: true,
		Emit: func(f capture.Finding) { d.findings = withFinding(d.findings, f) }}
	if kv, err := capture.OpenKernelView(d.o.NetNS, ifname); err == nil {
		defer kv.Close()
		cfg.Host = kv
	}
	sum, err := capture.Run(ctx, cfg)
	if err != nil {
		return skip("the trace failed: " + oneLine(err.Error()))
	}
	tv := &traceView{netns: d.o.NetNS}
	seen := map[string]bool{}
	for i := range d.findings {
		f := &d.findings[i]
		if f.Severity != capture.Problem {
			continue
		}
		ch.Verdict = verdictProblem
		if len(ch.Evidence) < 10 {
			ch.Evidence = append(ch.Evidence, string(f.Kind)+": "+f.Message)
		}
		for _, n := range tv.nextCommands(f) {
			if !seen[n] {
				seen[n] = true
				ch.Next = append(ch.Next, n)
			}
		}
	}
	ok := sum.Handshakes[capture.HandshakeOK]
	total := 0
	for _, n := range sum.Handshakes {
		total += n
	}
	ch.Summary = fmt.Sprintf("%s on %s: %d %s, %d completed; %d %s", d.o.Trace, ifname, total,
		plural(total, "handshake", "handshakes"), ok, sum.Problems, plural(sum.Problems, "problem", "problems"))
	ch.Data = struct {
		Summary  *capture.Summary  `json:"summary"`
		Findings []capture.Finding `json:"findings"`
	}{sum, d.findings}
	d.add(ch)
	return nil
}

// withFinding adds f to fs; a correction takes the place of the finding
// it corrects, so that a handshake that completed late counts once.
func withFinding(fs []capture.Finding, f capture.Finding) []capture.Finding {
	if f.Correction {
		for i := range fs {
			if fs[i].ID == f.Corrects {
				fs[i] = f
				return fs
			}
		}
	}
	return append(fs, f)
}

// diagnose picks the single most likely explanation: what probes proved
// first, by how directly it breaks connections; then what the counters
// show; then what the settings make possible.
func (d *doctor) diagnose(sysrep *sysctl.Report) {
	prevent := ""
	if sysrep != nil {
		for _, r := range sysrep.Results {
			if r.Rule == "stale-entries" && r.Status == sysctl.StatusFail {
				prevent = "arpdoctor sysctl fix"
			}
		}
	}
	// Each candidate, in order, returns a diagnosis or nil.
	for _, find := range []func() *diagnosis{
		func() *diagnosis { return d.fromProbes(neigh.VerdictMismatch, prevent) },
		func() *diagnosis { return d.fromTrace(capture.SynAckToWrongMAC, prevent) },
		func() *diagnosis { return d.fromProbes(neigh.VerdictDuplicate, prevent) },
		func() *diagnosis { return d.fromTrace(capture.DuplicateIP, prevent) },
		func() *diagnosis { return d.fromProbes(neigh.VerdictNoAnswer, prevent) },
		func() *diagnosis {
			for _, ch := range d.rep.Checks {
				if ch.Name == "statistics" && ch.Verdict == verdictProblem {
					return &diagnosis{Certainty: "proven",
						Summary: "the neighbor table overflows: the kernel refuses new neighbors, and connections to them fail",
						Next:    []string{"arpdoctor sysctl fix --profile kubernetes"}}
				}
			}
			return nil
		},
		func() *diagnosis {
			if prevent == "" {
				return nil
			}
			return &diagnosis{Certainty: "exposed",
				Summary: "no wrong entry found now, but gc_thresh1 keeps the kernel from retiring stale entries: a reused IP will break connections",
				Next:    []string{prevent}}
		},
	} {
		if dg := find(); dg != nil {
			d.rep.Diagnosis = dg
			return
		}
	}
}

// fromProbes diagnoses the first entry in use whose probe gave verdict k.
func (d *doctor) fromProbes(k neigh.Verdict, prevent string) *diagnosis {
	for i := range d.probed {
		r := &d.probed[i]
		if r.Verdict != k || !r.Problem() {
			continue
		}
		e := r.Entry
		sel := fmt.Sprintf("--ip %s -i %s", e.IP, e.Interface)
		dg := &diagnosis{Certainty: "proven", Next: []string{}}
		switch k {
		case neigh.VerdictMismatch:
			dg.Summary = fmt.Sprintf("stale neighbor entry for %s: cached %s, owner %s", e.IP, e.MAC, r.Answered[0])
			if r.Corrected() {
				dg.Summary += "; the probe's answer made the kernel correct it, for now"
			} else {
				dg.Next = append(dg.Next, d.prefix+"flush "+sel)
			}
			if prevent != "" {
				dg.Summary += "; gc_thresh1 keeps the kernel from retiring such entries"
				dg.Next = append(dg.Next, prevent)
			}
		case neigh.VerdictDuplicate:
			dg.Summary = fmt.Sprintf("%d hosts claim %s: %s", len(r.Answered), e.IP, strings.Join(r.Answered, ", "))
			dg.Next = append(dg.Next, d.prefix+"watch "+sel)
		case neigh.VerdictNoAnswer:
			dg.Summary = fmt.Sprintf("dead neighbor entry for %s: the cache holds %s, nobody answers", e.IP, e.MAC)
			dg.Next = append(dg.Next, d.prefix+"flush "+sel)
		}
		return dg
	}
	return nil
}

// fromTrace diagnoses the first problem finding of kind k.
func (d *doctor) fromTrace(k capture.Kind, prevent string) *diagnosis {
	for i := range d.findings {
		f := &d.findings[i]
		if f.Kind != k || f.Severity != capture.Problem {
			continue
		}
		switch {
		case k == capture.SynAckToWrongMAC && len(f.SynAckTo) > 0:
			dg := &diagnosis{Certainty: "proven",
				Summary: fmt.Sprintf("stale neighbor entry for %s: the SYN came from %s, the SYN-ACKs went to %s",
					f.Client.Addr(), f.ClientMAC, f.SynAckTo[0].MAC),
				Next: []string{d.prefix + "flush --ip " + f.Client.Addr().String()}}
			if prevent != "" {
				dg.Next = append(dg.Next, prevent)
			}
			return dg
		case k == capture.DuplicateIP:
			return &diagnosis{Certainty: "proven",
				Summary: fmt.Sprintf("%d hosts claim %s: %s", len(f.MACs), f.IP, strings.Join(f.MACs, ", ")),
				Next:    []string{d.prefix + "watch --ip " + f.IP.String()}}
		}
	}
	return nil
}

func worst(a, b string) string {
	rank := map[string]int{verdictOK: 0, verdictSkipped: 0, verdictWarning: 1, verdictProblem: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

func limit(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}

// doctorView renders the report as text.
type doctorView struct {
	rep *doctorReport
	p   palette
}

func (v doctorView) render(w io.Writer) error {
	var b strings.Builder
	for _, ch := range v.rep.Checks {
		verdict := ch.Verdict
		switch ch.Verdict {
		case verdictProblem:
			verdict = v.p.red(verdict)
		case verdictWarning:
			verdict = v.p.yellow(verdict)
		case verdictOK:
			verdict = v.p.green(verdict)
		}
		pad := strings.Repeat(" ", len(verdictProblem)-len(ch.Verdict))
		fmt.Fprintf(&b, "%-11s %s%s  %s\n", strings.ToUpper(ch.Name), verdict, pad, ch.Summary)
		for _, e := range ch.Evidence {
			fmt.Fprintf(&b, "  %s\n", e)
		}
		if len(ch.Next) > 0 {
			next := make([]string, len(ch.Next))
			for i, n := range ch.Next {
				next[i] = v.p.bold(n)
			}
			fmt.Fprintf(&b, "  next: %s\n", strings.Join(next, ", then "))
		}
	}
	switch dg := v.rep.Diagnosis; {
	case dg == nil:
		b.WriteString(v.p.green("\nNo problem found.") + "\n")
	default:
		line := fmt.Sprintf("\nDIAGNOSIS (%s): %s", dg.Certainty, dg.Summary)
		if dg.Certainty == "proven" {
			line = v.p.red(line)
		} else {
			line = v.p.yellow(line)
		}
		b.WriteString(line + "\n")
		for _, n := range dg.Next {
			fmt.Fprintf(&b, "  run: %s\n", v.p.bold(n))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
