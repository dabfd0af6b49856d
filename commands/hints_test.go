package commands

import (
	"go/ast"
	"go/parser"
	"go/token"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/exporter"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/spf13/cobra"
)

// checkCommandLine says what is wrong with a suggested command line: a
// subcommand that does not exist, or a flag that the command lacks.
func checkCommandLine(root *cobra.Command, args []string) string {
	if len(args) > 0 && args[0] == "--netns" {
		args = args[2:]
	}
	cmd, rest, err := root.Find(args)
	if err != nil || cmd == root {
		return "no such command"
	}
	for _, a := range rest {
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		name, _, _ := strings.Cut(a, "=")
		var ok bool
		if strings.HasPrefix(name, "--") {
			ok = cmd.Flags().Lookup(name[2:]) != nil || cmd.InheritedFlags().Lookup(name[2:]) != nil
		} else {
			ok = cmd.Flags().ShorthandLookup(name[1:]) != nil || cmd.InheritedFlags().ShorthandLookup(name[1:]) != nil
		}
		if !ok {
			return cmd.CommandPath() + " has no flag " + name
		}
	}
	return ""
}

// everyHint assesses facts that reach every branch of the diagnosis, and
// gathers every command line it suggests.
func everyHint() []diagnose.Command {
	e := func(ip, mac string, s neigh.State) neigh.Entry {
		return neigh.Entry{IP: netip.MustParseAddr(ip), MAC: mac, State: s, Interface: "eth0", Family: neigh.Inet}
	}
	probes := []neigh.ProbeResult{
		{Entry: e("192.0.2.50", "02:00:00:00:50:a1", neigh.Stale), Answered: []string{"02:00:00:00:50:b2"}, Verdict: neigh.VerdictMismatch},
		{Entry: e("192.0.2.66", "02:00:00:00:66:66", neigh.Stale), Verdict: neigh.VerdictNoAnswer},
		{Entry: e("192.0.2.88", "02:00:00:00:88:88", neigh.Reachable), Answered: []string{"02:00:00:00:88:88", "02:00:00:00:88:01"}, Verdict: neigh.VerdictDuplicate},
		{Entry: e("192.0.2.77", "", neigh.Stale), Verdict: neigh.VerdictUnprobed, Unprobed: "no Ethernet"},
	}
	findings := []capture.Finding{}
	for _, k := range capture.Kinds {
		findings = append(findings, capture.Finding{Kind: k, Severity: capture.Problem, IP: netip.MustParseAddr("192.0.2.50"),
			Client: netip.MustParseAddrPort("192.0.2.50:41000"), ClientMAC: "02:00:00:00:50:b2",
			SynAckTo: []capture.MACCount{{MAC: "02:00:00:00:50:a1", Count: 1}}, MACs: []string{"02:00:00:00:50:a1", "02:00:00:00:50:b2"}})
	}
	settings := &sysctl.Report{Results: []sysctl.Result{
		{Rule: sysctl.RuleStaleEntries, Status: sysctl.StatusFail},
		{Rule: sysctl.RuleTableUsage, Status: sysctl.StatusWarn},
	}}
	tables := []neigh.Table{{Name: "arp_cache", Stats: neigh.Stats{TableFulls: 1, ForcedGCRuns: 1}}}
	entries := []neigh.Entry{e("198.51.100.7", "", neigh.Failed)}
	var out []diagnose.Command
	for _, netns := range []string{"", "blue"} {
		pe := &neigh.PrivilegeError{Op: "probing", Cap: neigh.CapNetRaw}
		for _, f := range []*diagnose.Facts{
			{NetNS: netns, Entries: entries, Tables: tables, Settings: settings, Profile: "cloud",
				Verify: &diagnose.VerifyFacts{InUse: 4, Results: probes},
				Trace:  &diagnose.TraceFacts{Interface: "eth0", Duration: time.Second, Summary: &capture.Summary{}, Findings: findings}},
			{NetNS: netns, Tables: tables, Settings: settings, Verify: &diagnose.VerifyFacts{InUse: 1, Results: probes[1:2]}},
			{NetNS: netns, Tables: tables, Settings: settings},
			{NetNS: netns, SettingsErr: pe, Verify: &diagnose.VerifyFacts{InUse: 2, Err: pe},
				Trace: &diagnose.TraceFacts{Duration: time.Second, Err: pe}},
			{NetNS: netns, Settings: settings, Trace: &diagnose.TraceFacts{Duration: time.Second, Err: neigh.ErrNoDefaultRoute}},
		} {
			rep := diagnose.Assess(f)
			for _, ch := range rep.Checks {
				out = append(out, ch.Next...)
			}
			if rep.Diagnosis != nil {
				out = append(out, rep.Diagnosis.Next...)
			}
			for _, in := range rep.Incomplete {
				if in.Run != nil {
					out = append(out, *in.Run)
				}
			}
		}
		for i := range probes {
			for _, fixing := range []bool{false, true} {
				_, next := diagnose.ProbeNote(&probes[i], netns, fixing)
				out = append(out, next...)
			}
		}
		for i := range findings {
			out = append(out, diagnose.TraceNext(&findings[i], netns)...)
		}
		// The events watch and the exporter report.
		for _, k := range []neigh.EventKind{neigh.EventMACChanged, neigh.EventFlipFlop, neigh.EventFailed} {
			ev := neigh.Event{Kind: k, Entry: e("192.0.2.50", "02:00:00:00:50:b2", neigh.Reachable), OldMAC: "02:00:00:00:50:a1"}
			note, next := diagnose.EventNote(&ev, netns)
			if note == "" || len(next) == 0 {
				panic("no note or next command for " + string(k))
			}
			out = append(out, next...)
		}
	}
	return out
}

// checkRecords checks the next commands of the exporter's findings
// against the command tree, as TestEveryHintIsValid checks the others.
func checkRecords(t *testing.T, p exporter.FindingsPage) {
	t.Helper()
	ios, _, _, _ := TestStreams()
	root := NewRootCmd(ios)
	for _, r := range p.Findings {
		if r.Severity == "problem" && len(r.Next) == 0 {
			t.Errorf("%s %s %s: no next command", r.Source, r.Kind, r.IP)
		}
		for _, n := range r.Next {
			args := n.Args
			if n.NetNS != "" && !n.MachineWide {
				args = append([]string{"--netns", n.NetNS}, args...)
			}
			if msg := checkCommandLine(root, args); msg != "" {
				t.Errorf("%s %s: %s: %s", r.Source, r.Kind, n, msg)
			}
		}
	}
}

// Every command line arpdoctor suggests names a command that exists, with
// flags it has, keeps --netns where it applies, and drops it where the
// command acts on the whole machine.
func TestEveryHintIsValid(t *testing.T) {
	ios, _, _, _ := TestStreams()
	root := NewRootCmd(ios)
	hints := everyHint()
	if len(hints) < 20 {
		t.Fatalf("only %d hints gathered", len(hints))
	}
	seen := map[string]bool{}
	for _, h := range hints {
		s := h.String()
		if seen[s] {
			continue
		}
		seen[s] = true
		args := h.Args
		if h.NetNS != "" && !h.MachineWide {
			args = append([]string{"--netns", h.NetNS}, args...)
		}
		if msg := checkCommandLine(root, args); msg != "" {
			t.Errorf("%s: %s", s, msg)
		}
		if h.MachineWide && strings.Contains(s, "--netns") {
			t.Errorf("%s: a machine-wide command runs on the host", s)
		}
		if len(h.Args) > 0 && h.Args[0] == "sysctl" && len(h.Args) > 1 && h.Args[1] == "fix" && !h.MachineWide {
			t.Errorf("%s: sysctl fix changes the machine's thresholds: say so", s)
		}
	}
}

// hintPattern finds command lines written out in the code's own strings.
var hintPattern = regexp.MustCompile(`arpdoctor((?: --?[a-z][a-z0-9-]*(?: [A-Za-z0-9_./:%\[\]-]+)?)*(?: [a-z]+){1,2}(?: --?[a-z][a-z0-9.-]*(?:[ =][A-Za-z0-9_./:%,-]+)?)*)`)

// The command lines written out in the code (help texts, messages) name
// flags their commands have.
func TestWrittenHintsAreValid(t *testing.T) {
	ios, _, _, _ := TestStreams()
	root := NewRootCmd(ios)
	var files []string
	for _, dir := range []string{".", "../diagnose", "../sysctl", "../neigh", "../capture"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	names := map[string]bool{}
	for _, c := range root.Commands() {
		names[c.Name()] = true
		for _, a := range c.Aliases {
			names[a] = true
		}
	}
	checked := 0
	for _, path := range files {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, line := range strings.Split(s, "\n") {
				for _, m := range hintPattern.FindAllStringSubmatch(line, -1) {
					args := strings.Fields(strings.ReplaceAll(m[1], "=", " "))
					if len(args) == 0 || strings.Contains(m[0], "%") || !names[firstWord(args)] {
						continue // prose: "arpdoctor finds the ..."
					}
					checked++
					if msg := checkCommandLine(root, args); msg != "" {
						t.Errorf("%s: %q: %s", fset.Position(lit.Pos()), m[0], msg)
					}
				}
			}
			return true
		})
	}
	if checked < 20 {
		t.Errorf("only %d command lines found in the code", checked)
	}
}

// firstWord is the subcommand of a command line, past the global flags.
func firstWord(args []string) string {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--netns" || a == "-o" || a == "--output" || a == "--color":
			i++
		case !strings.HasPrefix(a, "-"):
			return a
		}
	}
	return ""
}
