package commands

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/internal/words"
	"github.com/arpdoctor/arpdoctor/namespaces"
	"github.com/arpdoctor/arpdoctor/neigh"
)

// What --all-netns does for each command: the same work in every network
// namespace of the machine, a few at a time, each entry and finding
// attributed to its namespace.

// discoverAll finds the namespaces, and says on stderr what it could not
// read.
func discoverAll(ctx context.Context, g *globalOptions) ([]netnsTarget, error) {
	targets, notes, err := g.discover(ctx, g.ProcRoot)
	if err != nil {
		return nil, fmt.Errorf("finding the network namespaces: %w", err)
	}
	for _, n := range notes {
		if n.Reason == namespaces.ReasonExited || n.Reason == namespaces.ReasonVanished {
			continue // namespaces and processes come and go
		}
		fmt.Fprintf(g.io.ErrOut, "arpdoctor: note: %d %s left out (%s)%s\n", n.Count,
			words.Plural(n.Count, "namespace or process", "namespaces or processes"), n.Reason, exampleOf(n))
	}
	return targets, nil
}

func exampleOf(n namespaces.Note) string {
	if n.Example == "" {
		return ""
	}
	return ", e.g. " + n.Example
}

// noteSkipped says on stderr which namespaces were left out, and why.
func noteSkipped(w io.Writer, skipped []netnsSkip) {
	for _, s := range skipped {
		fmt.Fprintf(w, "arpdoctor: note: network namespace %s skipped: %s\n", s.NetNS.Label, s.Why)
	}
}

// nsEntry is an entry with its namespace, as -o json writes it.
type nsEntry struct {
	neigh.Entry
	NetNS *netnsRef `json:"netns"`
}

// listAll lists the entries that match f in every namespace. A namespace
// without the interface a filter names has no entries, not an error.
func listAll(ctx context.Context, g *globalOptions, f neigh.Filter) ([]netnsTarget, [][]neigh.Entry, error) {
	targets, err := discoverAll(ctx, g)
	if err != nil {
		return nil, nil, err
	}
	lists, _, skipped, err := eachNetNS(ctx, targets, maxNetNSAtOnce, func(_ context.Context, _ *netnsTarget, c neighClient) ([]neigh.Entry, error) {
		es, err := c.List(f)
		var ie *neigh.InterfaceError
		if errors.As(err, &ie) {
			return nil, nil
		}
		return es, err
	})
	if err != nil {
		return nil, nil, err
	}
	noteSkipped(g.io.ErrOut, skipped)
	return targets, lists, nil
}

func runNeighAll(ctx context.Context, o *neighOptions) error {
	targets, lists, err := listAll(ctx, o.globalOptions, o.filter)
	if err != nil {
		return err
	}
	if o.Output == "json" {
		var out []nsEntry
		for i := range targets {
			ref := newNetNSRef(&targets[i].ns)
			for _, e := range lists[i] {
				out = append(out, nsEntry{Entry: e, NetNS: ref})
			}
		}
		if out == nil {
			out = []nsEntry{}
		}
		return writeJSON(o.io.Out, out)
	}
	t := &table{header: []string{"NETNS", "IP", "MAC", "INTERFACE", "STATE", "CONFIRMED", "USED", "UPDATED"}}
	var all []neigh.Entry
	t.paint = func(row, col int, cell string) string {
		if col != 4 {
			return cell
		}
		return paintWord(cell, func(s string) string { return stateColor(palette{on: o.color}, all[row].State, s) })
	}
	holding := 0
	for i := range targets {
		if len(lists[i]) > 0 {
			holding++
		}
		col := netnsColumn(&targets[i].ns)
		for _, e := range lists[i] {
			all = append(all, e)
			t.add(col, e.IP.String(), e.MAC, e.Interface, e.State.String(),
				e.ConfirmedAgo.String(), e.UsedAgo.String(), e.UpdatedAgo.String())
		}
	}
	if err := t.render(o.io.Out, o.tableStyle()); err != nil {
		return err
	}
	if o.io.OutTTY {
		fmt.Fprintf(o.io.Out, "%s\n", palette{on: o.color}.faint(fmt.Sprintf("%s in %s with entries, of %s",
			diagnose.TableSummary(all, nil), words.Count(holding, "namespace", "namespaces"), words.Count(len(targets), "namespace", "namespaces"))))
	}
	return nil
}

// nsProbeRecord is a probe result with its namespace.
type nsProbeRecord struct {
	diagnose.ProbeRecord
	NetNS *netnsRef `json:"netns"`
}

func runVerifyAll(ctx context.Context, o *verifyOptions) error {
	targets, err := discoverAll(ctx, o.globalOptions)
	if err != nil {
		return err
	}
	start := time.Now()
	results, done, skipped, err := eachNetNS(ctx, targets, maxNetNSAtOnce, func(ctx context.Context, _ *netnsTarget, c neighClient) ([]neigh.ProbeResult, error) {
		es, err := c.List(o.filter)
		var ie *neigh.InterfaceError
		if errors.As(err, &ie) || len(es) == 0 {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		rs, err := c.Probe(ctx, es, neigh.ProbeOptions{Timeout: o.Timeout, Retries: o.Retries})
		if err != nil {
			return nil, err
		}
		if o.Fix {
			err = c.Fix(rs, o.IncludePermanent)
		}
		return rs, err
	})
	if err != nil {
		return err
	}
	noteSkipped(o.io.ErrOut, skipped)
	problems := false
	var recs []nsProbeRecord
	t := &table{header: []string{"NETNS", "IP", "INTERFACE", "STATE", "CACHED MAC", "ANSWERED", "VERDICT"}}
	if o.Fix {
		t.header = append(t.header, "FIX")
	}
	var notes strings.Builder
	n := 0
	for i := range targets {
		if !done[i] {
			continue
		}
		ref := newNetNSRef(&targets[i].ns)
		col := netnsColumn(&targets[i].ns)
		for j := range results[i] {
			r := &results[i][j]
			n++
			if r.Problem() && (!o.Fix || !r.Fix.Fixed()) {
				problems = true
			}
			recs = append(recs, nsProbeRecord{ProbeRecord: diagnose.NewProbeRecord(r), NetNS: ref})
			row := []string{col, r.Entry.IP.String(), r.Entry.Interface, r.Entry.State.String(), r.Entry.MAC, strings.Join(r.Answered, ","), string(r.Verdict)}
			if o.Fix {
				row = append(row, diagnose.FixText(r))
			}
			t.add(row...)
			if note, next := diagnose.ProbeNote(r, netnsSpec(&targets[i].ns), o.Fix); note != "" {
				fmt.Fprintf(&notes, "%s: %s\n", escape(col), escape(note))
				for _, c := range o.suggest(next) {
					fmt.Fprintf(&notes, "  next: %s\n", escape(c.String()))
				}
			}
		}
	}
	if o.Output == "json" {
		if recs == nil {
			recs = []nsProbeRecord{}
		}
		if err := writeJSON(o.io.Out, recs); err != nil {
			return err
		}
	} else {
		if err := t.render(o.io.Out, o.tableStyle()); err != nil {
			return err
		}
		w := o.io.Out
		if !o.io.OutTTY {
			w = o.io.ErrOut
		}
		fmt.Fprintf(w, "%s probed in %s, in %s\n%s", words.Count(n, "entry", "entries"),
			time.Since(start).Round(10*time.Millisecond), words.Count(len(targets), "namespace", "namespaces"), notes.String())
	}
	if problems {
		return ErrProblems
	}
	return nil
}

// nsFlush is one namespace's flush, as -o json writes it.
type nsFlush struct {
	NetNS *netnsRef `json:"netns"`
	neigh.FlushResult
}

func runFlushAll(ctx context.Context, o *flushOptions, fo neigh.FlushOptions) error {
	targets, err := discoverAll(ctx, o.globalOptions)
	if err != nil {
		return err
	}
	results, done, skipped, err := eachNetNS(ctx, targets, maxNetNSAtOnce, func(ctx context.Context, _ *netnsTarget, c neighClient) (neigh.FlushResult, error) {
		res, err := c.Flush(ctx, o.filter, fo)
		var ie *neigh.InterfaceError
		if errors.As(err, &ie) {
			return neigh.FlushResult{DryRun: fo.DryRun, Deleted: []neigh.Entry{}, Kept: []neigh.Kept{}, Gone: []neigh.Entry{}}, nil
		}
		return res, err
	})
	if err != nil {
		return err
	}
	noteSkipped(o.io.ErrOut, skipped)
	var out []nsFlush
	var total neigh.FlushResult
	total.DryRun = fo.DryRun
	bw := bufio.NewWriter(o.io.Out)
	for i := range targets {
		if !done[i] {
			continue
		}
		res := results[i]
		out = append(out, nsFlush{NetNS: newNetNSRef(&targets[i].ns), FlushResult: res})
		total.Deleted = append(total.Deleted, res.Deleted...)
		total.Kept = append(total.Kept, res.Kept...)
		total.Gone = append(total.Gone, res.Gone...)
		if o.Output != "json" && (len(res.Deleted) > 0 || len(res.Gone) > 0) {
			fmt.Fprintf(bw, "%s: %s\n", netnsColumn(&targets[i].ns), flushSummary(res))
			if o.Verbose || fo.DryRun {
				flushView{res: res}.deleted(bw)
			}
		}
	}
	if o.Output == "json" {
		if out == nil {
			out = []nsFlush{}
		}
		return writeJSON(o.io.Out, out)
	}
	fmt.Fprintf(bw, "%s in %s\n", flushSummary(total), words.Count(len(out), "namespace", "namespaces"))
	return bw.Flush()
}

// watchAll watches every namespace found at the start, one event stream
// each, and writes their events as JSON lines with the namespace's label.
func watchAll(ctx context.Context, o *watchOptions, wo neigh.WatchOptions, note func([]neigh.Event)) error {
	targets, err := discoverAll(ctx, o.globalOptions)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	bw := bufio.NewWriterSize(o.io.Out, 64<<10)
	var buf []byte
	// A watch lasts: every namespace at once, or the first few would
	// starve the rest.
	_, _, skipped, err := eachNetNS(ctx, targets, len(targets), func(ctx context.Context, t *netnsTarget, c neighClient) (struct{}, error) {
		label := netnsColumn(&t.ns)
		err := c.Watch(ctx, wo, func(evs []neigh.Event) error {
			mu.Lock()
			defer mu.Unlock()
			note(evs)
			for i := range evs {
				buf = evs[i].AppendJSON(buf[:0])
				buf = append(buf[:len(buf)-1], `,"netns":`...)
				buf = appendQuoted(buf, label)
				buf = append(buf, "}\n"...)
				bw.Write(buf)
			}
			return bw.Flush()
		})
		var ie *neigh.InterfaceError
		if errors.As(err, &ie) {
			err = nil
		}
		return struct{}{}, err
	})
	noteSkipped(o.io.ErrOut, skipped)
	return err
}

func appendQuoted(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// sortedLabels lists the labels of the namespaces that hold problems.
func sortedLabels(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// allNetNSReport is doctor --all-netns: what the machine shares, judged
// once, and a section for each namespace that has something to report.
type allNetNSReport struct {
	OK         bool                  `json:"ok"`
	Complete   bool                  `json:"complete"`
	Incomplete []diagnose.Incomplete `json:"incomplete"`
	Time       time.Time             `json:"time"`
	Summary    allNetNSSummary       `json:"summary"`
	// Machine holds the checks of what every namespace shares: the
	// settings, the table's use against gc_thresh, the counters.
	Machine *diagnose.Report `json:"machine"`
	// Namespaces are the namespaces with a finding, each with its checks
	// and diagnosis.
	Namespaces []nsReport  `json:"namespaces"`
	Skipped    []netnsSkip `json:"skipped"`
}

type allNetNSSummary struct {
	Namespaces int `json:"namespaces"`
	Entries    int `json:"entries"`
	// WithProblems and WithWarnings are the labels of the namespaces.
	WithProblems []string `json:"with_problems"`
	WithWarnings []string `json:"with_warnings"`
}

type nsReport struct {
	NetNS *netnsRef `json:"netns"`
	*diagnose.Report
}

func runDoctorAll(ctx context.Context, o *doctorOptions) error {
	c, err := o.openNeigh("")
	if err != nil {
		return err
	}
	machine := &diagnose.Facts{Profile: "cloud"}
	machine.Entries, err = c.List(neigh.Filter{States: neigh.AllStates})
	if err == nil {
		machine.Tables, err = c.Tables("")
	}
	if err != nil {
		c.Close()
		return err
	}
	machine.Settings, machine.SettingsErr = doctorSettings(c, o.Root, machine)
	machine.ProcStats, machine.ProcStatsErr = readProcStats(o.Root, machine.Tables)
	c.Close()

	targets, err := discoverAll(ctx, o.globalOptions)
	if err != nil {
		return err
	}
	reps, done, skipped, err := eachNetNS(ctx, targets, maxNetNSAtOnce, func(ctx context.Context, t *netnsTarget, c neighClient) (*diagnose.Report, error) {
		f := &diagnose.Facts{NetNS: netnsSpec(&t.ns), Settings: machine.Settings, Profile: machine.Profile}
		var err error
		if f.Entries, err = c.List(neigh.Filter{States: neigh.AllStates}); err != nil {
			return nil, err
		}
		if !o.Passive {
			f.Verify = doctorVerify(ctx, o, c, f.Entries)
		}
		return diagnose.AssessNamespace(f), nil
	})
	if err != nil {
		return err
	}
	machineRep := diagnose.AssessMachine(machine)
	o.suggestReport(machineRep)
	for _, r := range reps {
		if r != nil {
			o.suggestReport(r)
		}
	}
	rep := &allNetNSReport{Machine: machineRep, Time: time.Now(), Skipped: skipped,
		Namespaces: []nsReport{}, Incomplete: []diagnose.Incomplete{}}
	if rep.Skipped == nil {
		rep.Skipped = []netnsSkip{}
	}
	rep.Incomplete = append(rep.Incomplete, rep.Machine.Incomplete...)
	problems, warnings := map[string]bool{}, map[string]bool{}
	for i := range targets {
		if !done[i] {
			continue
		}
		rep.Summary.Namespaces++
		r := reps[i]
		ref := newNetNSRef(&targets[i].ns)
		for _, ch := range r.Checks {
			if ch.Name == diagnose.CheckTable {
				if d, ok := ch.Data.(diagnose.TableData); ok {
					rep.Summary.Entries += d.Entries
				}
			}
			switch ch.Verdict {
			case diagnose.Problem:
				problems[ref.Label] = true
			case diagnose.Warning:
				warnings[ref.Label] = true
			}
		}
		for _, in := range r.Incomplete {
			in.Check = ref.Label + ": " + in.Check
			rep.Incomplete = append(rep.Incomplete, in)
		}
		if problems[ref.Label] || warnings[ref.Label] || r.Diagnosis != nil || !r.Complete {
			rep.Namespaces = append(rep.Namespaces, nsReport{NetNS: ref, Report: r})
		}
	}
	for k := range problems {
		delete(warnings, k)
	}
	rep.Summary.WithProblems, rep.Summary.WithWarnings = sortedLabels(problems), sortedLabels(warnings)
	rep.OK = rep.Machine.OK && len(problems) == 0
	rep.Complete = len(rep.Incomplete) == 0
	if o.Output == "json" {
		err = writeJSON(o.io.Out, rep)
	} else {
		err = renderAllNetNS(o.io.Out, rep, doctorView{p: palette{on: o.color}, width: o.termWidth()})
	}
	if err != nil {
		return err
	}
	return reportOutcome(rep.OK, rep.Complete)
}

func renderAllNetNS(w io.Writer, rep *allNetNSReport, dv doctorView) error {
	p := dv.p
	var b strings.Builder
	b.WriteString(p.bold("MACHINE (shared by every namespace)") + "\n")
	dv.checks(&b, rep.Machine.Checks)
	if dg := rep.Machine.Diagnosis; dg != nil {
		dv.diagnosis(&b, dg)
	}
	for _, n := range rep.Namespaces {
		fmt.Fprintf(&b, "\n%s\n", p.bold(escape("NETNS "+describeNetNS(n.NetNS))))
		dv.checks(&b, n.Checks)
		if n.Diagnosis != nil {
			dv.diagnosis(&b, n.Diagnosis)
		}
	}
	s := rep.Summary
	line := fmt.Sprintf("\nSUMMARY: %s, %s", words.Count(s.Namespaces, "namespace", "namespaces"), words.Count(s.Entries, "entry", "entries"))
	switch {
	case len(s.WithProblems) > 0:
		line = p.red(line + "; problems in " + strings.Join(s.WithProblems, ", "))
	case rep.Machine.OK && len(s.WithWarnings) == 0:
		line = p.green(line + "; no problem found")
	}
	if len(s.WithWarnings) > 0 {
		line += "; warnings in " + strings.Join(s.WithWarnings, ", ")
	}
	b.WriteString(line + "\n")
	for _, sk := range rep.Skipped {
		fmt.Fprintf(&b, "skipped %s: %s\n", escape(sk.NetNS.Label), escape(sk.Why))
	}
	if !rep.Complete {
		dv.incomplete(&b, rep.Incomplete)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// describeNetNS names a namespace and says whose it is.
func describeNetNS(r *netnsRef) string {
	var parts []string
	if r.Name != "" {
		parts = append(parts, r.Name)
	}
	if r.PodUID != "" {
		parts = append(parts, "pod "+r.PodUID)
		if r.QoSClass != "" {
			parts[len(parts)-1] += " (" + string(r.QoSClass) + ")"
		}
	}
	if r.ContainerID != "" {
		rt := string(r.Runtime)
		if rt == "" {
			rt = "container"
		}
		parts = append(parts, rt+" "+r.ContainerID)
	}
	if r.Initial {
		parts = append(parts, "the host's own")
	}
	if len(parts) == 0 {
		parts = append(parts, r.Label)
	}
	s := strings.Join(parts, ", ")
	if len(r.PIDs) > 0 {
		pids := make([]string, 0, 4)
		for i, pid := range r.PIDs {
			if i == 3 {
				pids = append(pids, fmt.Sprintf("and %d more", len(r.PIDs)-3))
				break
			}
			pids = append(pids, fmt.Sprint(pid))
		}
		s += "; pids " + strings.Join(pids, ", ")
	}
	return s + "; --netns " + r.Path
}
