package diagnose

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/internal/words"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
)

// Assess turns the facts into checks, in the order they ran, and the
// diagnosis. Only what was gathered is assessed: a nil Trace or Verify
// adds no check.
func Assess(f *Facts) *Report { return assess(f, true, true) }

// AssessMachine judges only what the whole machine shares: the settings
// and the kernel's counters. With AssessNamespace for each namespace it
// makes the report of a machine with many namespaces.
func AssessMachine(f *Facts) *Report { return assess(f, true, false) }

// AssessNamespace judges only what is a namespace's own: its entries, its
// handshakes and its probes. f.Settings, when given, is not reported but
// lets the diagnosis say that the settings keep stale entries alive.
func AssessNamespace(f *Facts) *Report { return assess(f, false, true) }

func assess(f *Facts, machine, namespace bool) *Report {
	a := &assessment{f: f, machine: machine,
		rep: &Report{NetNS: f.NetNS, OK: true, Complete: true, Incomplete: []Incomplete{}, Checks: []Check{}}}
	if machine {
		a.settings()
	}
	switch {
	case namespace:
		a.table()
	case machine:
		a.tableUsage()
	}
	if machine {
		a.statistics()
	}
	if namespace {
		if f.Trace != nil {
			a.trace()
		}
		if f.Verify != nil {
			a.verify()
		}
	}
	a.diagnose()
	for _, ch := range a.rep.Checks {
		if ch.Verdict == Problem {
			a.rep.OK = false
		}
	}
	a.rep.Complete = len(a.rep.Incomplete) == 0
	return a.rep
}

type assessment struct {
	f   *Facts
	rep *Report
	// machine says the report covers what the machine shares.
	machine bool
}

func (a *assessment) add(ch Check) {
	if ch.Evidence == nil {
		ch.Evidence = []string{}
	}
	if ch.Next == nil {
		ch.Next = []Command{}
	}
	a.rep.Checks = append(a.rep.Checks, ch)
}

// skip records a check that could not run, and what would complete it.
func (a *assessment) skip(ch Check, err error, run *Command) {
	ch.Verdict = Skipped
	if run != nil {
		ch.Next = []Command{*run}
	}
	a.add(ch)
	a.rep.Incomplete = append(a.rep.Incomplete, Incomplete{Check: ch.Name, Why: words.OneLine(err.Error()), Run: run})
}

// tableRule tells the rules about the table's use and counters, which
// have checks of their own, from the settings.
func tableRule(id string) bool {
	switch id {
	case sysctl.RuleTableUsage, sysctl.RuleTableFull, sysctl.RuleForcedGC:
		return true
	}
	return false
}

func (a *assessment) settings() {
	f := a.f
	ch := Check{Name: CheckSettings, Verdict: OK}
	if f.Settings == nil {
		err := f.SettingsErr
		if err == nil {
			err = errors.New("the settings were not read")
		}
		ch.Summary = "the settings could not be read: " + words.OneLine(err.Error())
		run := In(f.NetNS, "sysctl", "check")
		a.skip(ch, err, &run)
		return
	}
	ch.Data = SettingsData{Report: f.Settings}
	bad := 0
	for _, r := range f.Settings.Results {
		if tableRule(r.Rule) || r.Status == sysctl.StatusOK {
			continue
		}
		if r.Status == sysctl.StatusFail || r.Status == sysctl.StatusWarn {
			ch.Verdict = Warning
			bad++
		}
		ch.Evidence = append(ch.Evidence, fmt.Sprintf("%s %s = %s (%s): %s", r.Status, r.Key, r.Value, r.Source, r.Message))
	}
	if bad == 0 {
		ch.Summary = "the neighbor-cache settings keep stale entries from living on"
	} else {
		ch.Summary = fmt.Sprintf("%d %s the %s profile: stale entries can live on", bad,
			words.Plural(bad, "setting breaks", "settings break"), f.Profile)
		// The thresholds are the machine's, kept by the host's config
		// files: the fix runs on the host, whatever namespace was read.
		ch.Next = []Command{In(f.NetNS, "sysctl", "check"), MachineWide("sysctl", "fix")}
	}
	a.add(ch)
}

// shown are the entries `ip neigh show` shows: not NOARP, not NONE.
func shown(entries []neigh.Entry) []neigh.Entry {
	var out []neigh.Entry
	for _, e := range entries {
		if e.State != neigh.NoARP && e.State != neigh.None {
			out = append(out, e)
		}
	}
	return out
}

func (a *assessment) table() {
	f := a.f
	ch := Check{Name: CheckTable, Verdict: OK}
	entries := shown(f.Entries)
	ch.Summary = TableSummary(entries, f.Tables)
	var failing []string
	for _, e := range entries {
		if e.State == neigh.Failed || e.State == neigh.Incomplete {
			failing = append(failing, e.IP.String())
		}
	}
	if len(failing) > 0 {
		ch.Verdict = Warning
		ch.Evidence = append(ch.Evidence, fmt.Sprintf("%d %s nobody answers (FAILED or INCOMPLETE): %s",
			len(failing), words.Plural(len(failing), "IP", "IPs"), strings.Join(limit(failing, 8), ", ")))
		ch.Next = append(ch.Next, In(f.NetNS, "neigh", "--state", "failed,incomplete"))
	}
	a.tableUsageRule(&ch)
	ch.Data = TableData{Entries: len(entries), Failing: len(failing)}
	a.add(ch)
}

// tableUsage judges how full the kernel's tables are, all namespaces
// together: what the machine shares, where the report of each namespace
// judges its own entries.
func (a *assessment) tableUsage() {
	f := a.f
	ch := Check{Name: CheckTable, Verdict: OK}
	var parts []string
	for _, t := range f.Tables {
		parts = append(parts, fmt.Sprintf("%s %d of gc_thresh3 %d (gc_thresh1/2 %d/%d)", t.Family, t.Entries, t.Thresh3, t.Thresh1, t.Thresh2))
	}
	ch.Summary = "entries in all namespaces: " + strings.Join(parts, ", ")
	a.tableUsageRule(&ch)
	ch.Data = TableData{Entries: len(shown(f.Entries))}
	a.add(ch)
}

// tableUsageRule adds the settings' verdict on how full the table is.
func (a *assessment) tableUsageRule(ch *Check) {
	if a.f.Settings == nil || !a.machine {
		return
	}
	for _, r := range a.f.Settings.Results {
		if r.Rule == sysctl.RuleTableUsage && r.Status == sysctl.StatusWarn {
			ch.Verdict = Worse(ch.Verdict, Warning)
			ch.Evidence = append(ch.Evidence, r.Key+": "+r.Message)
			ch.Next = append(ch.Next, MachineWide("sysctl", "check", "--profile", "kubernetes"))
		}
	}
}

// statistics reports the kernel's counters: overflows are a problem,
// forced collections and drops for want of a neighbor a warning.
func (a *assessment) statistics() {
	f := a.f
	ch := Check{Name: CheckStatistics, Verdict: OK}
	data := StatisticsData{Tables: []TableCounters{}}
	var parts []string
	if f.ProcStatsErr != nil {
		ch.Evidence = append(ch.Evidence, words.OneLine(f.ProcStatsErr.Error()))
	}
	for _, t := range f.Tables {
		cs := TableCounters{Table: t.Name, TableFulls: t.Stats.TableFulls, ForcedGCRuns: t.Stats.ForcedGCRuns, ResFailed: t.Stats.ResFailed}
		if ps, ok := f.ProcStats[t.Name]; ok {
			v := ps["unresolved_discards"]
			cs.UnresolvedDiscards = &v
		}
		data.Tables = append(data.Tables, cs)
		if cs.TableFulls > 0 {
			ch.Verdict = Problem
			ch.Evidence = append(ch.Evidence, fmt.Sprintf("%s overflowed %d times: the kernel refused new neighbors (\"neighbour table overflow\")", t.Name, cs.TableFulls))
			ch.Next = append(ch.Next, MachineWide("sysctl", "fix", "--profile", "kubernetes"))
		}
		if cs.ForcedGCRuns > 0 {
			ch.Verdict = Worse(ch.Verdict, Warning)
			ch.Evidence = append(ch.Evidence, fmt.Sprintf("%s: %d forced collections: the table went past gc_thresh2", t.Name, cs.ForcedGCRuns))
		}
		if cs.UnresolvedDiscards != nil && *cs.UnresolvedDiscards > 0 {
			ch.Verdict = Worse(ch.Verdict, Warning)
			ch.Evidence = append(ch.Evidence, fmt.Sprintf("%s: %d packets dropped while their neighbor did not resolve", t.Name, *cs.UnresolvedDiscards))
		}
		p := fmt.Sprintf("%s: %d overflows, %d forced collections, %d failed resolutions", t.Name, cs.TableFulls, cs.ForcedGCRuns, cs.ResFailed)
		if cs.UnresolvedDiscards != nil {
			p += fmt.Sprintf(", %d unresolved drops", *cs.UnresolvedDiscards)
		}
		parts = append(parts, p)
	}
	ch.Summary = strings.Join(parts, "; ") + " (machine-wide, since boot)"
	if len(data.Tables) > 0 && data.Tables[0].UnresolvedDiscards == nil {
		ch.Evidence = append(ch.Evidence, "unresolved drops are counted in /proc/net/stat, which only the initial network namespace shows")
	}
	ch.Data = data
	a.add(ch)
}

func (a *assessment) trace() {
	f, t := a.f, a.f.Trace
	ch := Check{Name: CheckTrace, Verdict: OK}
	if t.Err != nil {
		ch.Summary = "no handshakes traced: " + words.OneLine(t.Err.Error())
		var run *Command
		var pe *neigh.PrivilegeError
		switch {
		case errors.As(t.Err, &pe):
			c := In(f.NetNS, append([]string{"doctor", "--trace", t.Duration.String()}, f.DoctorFlags...)...)
			c.Sudo = true
			run = &c
		case errors.Is(t.Err, neigh.ErrNoDefaultRoute):
			// One interface to trace: name it; several: list them.
			ifname := "IF"
			ch.Summary += "; name the interface with -i"
			switch {
			case len(t.Interfaces) == 1:
				ifname = t.Interfaces[0]
			case len(t.Interfaces) > 1:
				ch.Summary += " (" + strings.Join(t.Interfaces, ", ") + ")"
			}
			c := In(f.NetNS, append([]string{"doctor", "--trace", t.Duration.String(), "-i", ifname}, f.DoctorFlags...)...)
			run = &c
		}
		a.skip(ch, t.Err, run)
		return
	}
	// A verdict given while the client retried and corrected since says
	// its last word in the correction; an entry the probes proved right
	// since leaves only why the old one lived.
	superseded := map[uint64]bool{}
	for i := range t.Findings {
		if fd := &t.Findings[i]; fd.Correction {
			superseded[fd.Corrects] = true
		}
	}
	provenOK := map[netip.Addr]bool{}
	if f.Verify != nil {
		for _, r := range f.Verify.Results {
			if r.Verdict == neigh.VerdictOK {
				provenOK[r.Entry.IP] = true
			}
		}
	}
	seen := map[string]bool{}
	for i := range t.Findings {
		fd := &t.Findings[i]
		if fd.Severity != capture.Problem || superseded[fd.ID] {
			continue
		}
		ch.Verdict = Problem
		if len(ch.Evidence) < 10 {
			ch.Evidence = append(ch.Evidence, string(fd.Kind)+": "+fd.Message)
		}
		next := TraceNext(fd, f.NetNS)
		if provenOK[fd.Peer()] && len(next) > 0 {
			next = []Command{In(f.NetNS, "sysctl", "check")}
		}
		for _, n := range next {
			if s := n.String(); !seen[s] {
				seen[s] = true
				ch.Next = append(ch.Next, n)
			}
		}
	}
	total := 0
	for _, n := range t.Summary.Handshakes {
		total += n
	}
	// Handshakes that completed: those that worked, and those that
	// completed only late, whose finding is a problem all the same.
	ok := t.Summary.Handshakes[capture.HandshakeOK]
	for i := range t.Findings {
		if fd := &t.Findings[i]; fd.Kind != capture.HandshakeOK && (fd.Outcome == capture.Completed || fd.Outcome == capture.CompletedLate) {
			ok++
		}
	}
	ch.Summary = fmt.Sprintf("%s on %s: %s, %d completed; %s", t.Duration, t.Interface,
		words.Count(total, "handshake", "handshakes"), ok, words.Count(t.Summary.Problems, "problem", "problems"))
	findings := t.Findings
	if findings == nil {
		findings = []capture.Finding{}
	}
	ch.Data = TraceData{Summary: t.Summary, Findings: findings}
	a.add(ch)
}

func (a *assessment) verify() {
	f, v := a.f, a.f.Verify
	ch := Check{Name: CheckVerify, Verdict: OK}
	if v.Err != nil {
		var pe *neigh.PrivilegeError
		if errors.As(v.Err, &pe) {
			ch.Summary = fmt.Sprintf("%s in use not probed: %s", words.Count(v.InUse, "entry", "entries"), v.Err)
			c := In(f.NetNS, "doctor")
			c.Sudo = true
			a.skip(ch, v.Err, &c)
			return
		}
		ch.Summary = "probing failed: " + words.OneLine(v.Err.Error())
		a.skip(ch, v.Err, nil)
		return
	}
	if v.InUse == 0 {
		ch.Summary = "no entry in use to probe"
		a.add(ch)
		return
	}
	rs := v.Results
	if len(rs) < v.InUse {
		ch.Evidence = append(ch.Evidence, fmt.Sprintf("probed the first %d of %d entries in use", len(rs), v.InUse))
	}
	counts := map[neigh.Verdict]int{}
	corrected := 0
	// The next steps are each entry's own, as verify and the diagnosis
	// name them, so that one entry gets one next step wherever it shows.
	var fixes, others []Command
	seen := map[string]bool{}
	for i := range rs {
		r := &rs[i]
		counts[r.Verdict]++
		if !r.Problem() {
			continue
		}
		ch.Verdict = Problem
		note, _ := ProbeNote(r, f.NetNS, true)
		ch.Evidence = append(ch.Evidence, note)
		if r.Corrected() {
			corrected++
		}
		_, next := ProbeNote(r, f.NetNS, false)
		for _, n := range next {
			if s := n.String(); !seen[s] {
				seen[s] = true
				if len(n.Args) > 1 && n.Args[0] == "verify" && n.Args[1] == "--fix" {
					fixes = append(fixes, n)
				} else {
					others = append(others, n)
				}
			}
		}
	}
	// Past a few entries, one verify --fix fixes them all, with the
	// same selection.
	if len(fixes) > maxNamedFixes {
		fixes = []Command{In(f.NetNS, "verify", "--fix")}
	}
	ch.Next = append(fixes, limitCommands(others, maxNamedFixes)...)
	ch.Summary = fmt.Sprintf("%s in use probed in %s: %d ok, %d mismatch, %d no_answer, %d duplicate",
		words.Count(len(rs), "entry", "entries"), v.Took.Round(10*time.Millisecond), counts[neigh.VerdictOK],
		counts[neigh.VerdictMismatch], counts[neigh.VerdictNoAnswer], counts[neigh.VerdictDuplicate])
	if n := counts[neigh.VerdictUnprobed]; n > 0 {
		ch.Summary += fmt.Sprintf(", %d not probed", n)
		for i := range rs {
			if rs[i].Verdict == neigh.VerdictUnprobed && len(ch.Evidence) < 10 {
				note, _ := ProbeNote(&rs[i], f.NetNS, true)
				ch.Evidence = append(ch.Evidence, note)
			}
		}
	}
	if corrected > 0 {
		ch.Evidence = append(ch.Evidence, fmt.Sprintf("probing changed the cache: the kernel took the new MAC from the answer for %s, so the stale %s now gone",
			words.Count(corrected, "entry", "entries"), words.Plural(corrected, "mapping is", "mappings are")))
	}
	records := make([]ProbeRecord, len(rs))
	for i := range rs {
		records[i] = NewProbeRecord(&rs[i])
	}
	ch.Data = VerifyData{Results: records}
	a.add(ch)
}

// maxNamedFixes bounds the entries the VERIFY check names a fix for.
const maxNamedFixes = 3

func limitCommands(cs []Command, n int) []Command {
	if len(cs) <= n {
		return cs
	}
	return cs[:n:n]
}

func limit(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], fmt.Sprintf("and %d more", len(s)-n))
}
