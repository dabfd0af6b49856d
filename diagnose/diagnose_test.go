package diagnose

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/google/go-cmp/cmp"
)

func stale(ip, mac string) neigh.Entry {
	return neigh.Entry{IP: netip.MustParseAddr(ip), MAC: mac, State: neigh.Stale, Interface: "eth0", Family: neigh.Inet}
}

var thresh1 = &sysctl.Report{Results: []sysctl.Result{{Rule: sysctl.RuleStaleEntries, Status: sysctl.StatusFail}}}

func strs(cs []Command) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.String())
	}
	return out
}

// The diagnosis prefers what probes or packets proved, by how directly it
// breaks connections, then overflows, then what the settings make
// possible.
func TestDiagnosis(t *testing.T) {
	mismatch := neigh.ProbeResult{Entry: stale("192.0.2.50", "02:00:00:00:50:a1"), Answered: []string{"02:00:00:00:50:b2"}, Verdict: neigh.VerdictMismatch}
	corrected := mismatch
	corrected.After = &neigh.Entry{MAC: "02:00:00:00:50:b2", State: neigh.Reachable}
	dead := neigh.ProbeResult{Entry: stale("192.0.2.99", "02:00:00:00:99:99"), Verdict: neigh.VerdictNoAnswer}
	dup := neigh.ProbeResult{Entry: stale("192.0.2.88", "02:00:00:00:88:88"), Answered: []string{"02:00:00:00:88:88", "02:00:00:00:88:01"}, Verdict: neigh.VerdictDuplicate}
	wrongMAC := capture.Finding{Kind: capture.SynAckToWrongMAC, Severity: capture.Problem,
		Client: netip.MustParseAddrPort("192.0.2.50:41000"), ClientMAC: "02:00:00:00:50:b2",
		SynAckTo: []capture.MACCount{{MAC: "02:00:00:00:50:a1", Count: 3}}}
	overflow := []neigh.Table{{Name: "arp_cache", Stats: neigh.Stats{TableFulls: 3}}}
	tests := []struct {
		name      string
		probed    []neigh.ProbeResult
		findings  []capture.Finding
		tables    []neigh.Table
		sys       *sysctl.Report
		certainty string
		summary   string
		next      []string
	}{
		{name: "nothing"},
		{name: "exposed", sys: thresh1, certainty: "exposed",
			summary: "no wrong entry found now, but gc_thresh1 keeps the kernel from retiring stale entries: a reused IP will break connections",
			next:    []string{"arpdoctor sysctl fix  # on the host: changes the host's settings"}},
		{name: "overflow", tables: overflow, sys: thresh1, certainty: "proven",
			summary: "the neighbor table overflows: the kernel refuses new neighbors, and connections to them fail",
			next:    []string{"arpdoctor sysctl fix --profile kubernetes  # on the host: changes the host's settings"}},
		{name: "mismatch before dead", probed: []neigh.ProbeResult{dead, mismatch}, sys: thresh1, certainty: "proven",
			summary: "stale neighbor entry for 192.0.2.50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2; gc_thresh1 keeps the kernel from retiring such entries",
			next: []string{"arpdoctor --netns blue verify --fix --ip 192.0.2.50 -i eth0",
				"arpdoctor sysctl fix  # on the host: changes the host's settings"}},
		{name: "corrected by the probe: no flush", probed: []neigh.ProbeResult{corrected}, certainty: "proven",
			summary: "stale neighbor entry for 192.0.2.50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2; the probe's answer made the kernel correct it, for now",
			next:    []string{}},
		{name: "trace and probe", probed: []neigh.ProbeResult{mismatch}, findings: []capture.Finding{wrongMAC}, certainty: "proven",
			summary: "stale neighbor entry for 192.0.2.50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2; the trace saw the SYN come from 02:00:00:00:50:b2 and the SYN-ACKs go to 02:00:00:00:50:a1",
			next:    []string{"arpdoctor --netns blue verify --fix --ip 192.0.2.50 -i eth0"}},
		{name: "trace alone", findings: []capture.Finding{wrongMAC}, certainty: "proven",
			summary: "stale neighbor entry for 192.0.2.50: the SYN came from 02:00:00:00:50:b2, the SYN-ACKs went to 02:00:00:00:50:a1",
			next:    []string{"arpdoctor --netns blue verify --fix --ip 192.0.2.50"}},
		{name: "trace alone, the kernel corrected it since", findings: []capture.Finding{func() capture.Finding {
			f := wrongMAC
			f.KernelCorrected = true
			return f
		}()}, certainty: "proven",
			summary: "stale neighbor entry for 192.0.2.50: the SYN came from 02:00:00:00:50:b2, the SYN-ACKs went to 02:00:00:00:50:a1; the kernel has corrected the entry since",
			next:    []string{}},
		{name: "duplicate before dead", probed: []neigh.ProbeResult{dead, dup}, certainty: "proven",
			summary: "2 hosts claim 192.0.2.88: 02:00:00:00:88:88, 02:00:00:00:88:01",
			next:    []string{"arpdoctor --netns blue watch --ip 192.0.2.88 -i eth0"}},
		{name: "dead", probed: []neigh.ProbeResult{dead}, certainty: "proven",
			summary: "dead neighbor entry for 192.0.2.99: the cache holds 02:00:00:00:99:99, nobody answers",
			next:    []string{"arpdoctor --netns blue verify --fix --ip 192.0.2.99 -i eth0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Facts{NetNS: "blue", Tables: tt.tables, Settings: tt.sys, Profile: "cloud"}
			if f.Settings == nil {
				f.Settings = &sysctl.Report{}
			}
			if tt.probed != nil {
				f.Verify = &VerifyFacts{InUse: len(tt.probed), Results: tt.probed}
			}
			if tt.findings != nil {
				f.Trace = &TraceFacts{Interface: "eth0", Duration: time.Second, Summary: &capture.Summary{}, Findings: tt.findings}
			}
			dg := Assess(f).Diagnosis
			if tt.certainty == "" {
				if dg != nil {
					t.Fatalf("diagnosis %+v, want none", dg)
				}
				return
			}
			if dg == nil {
				t.Fatal("no diagnosis")
			}
			if dg.Certainty != tt.certainty || dg.Summary != tt.summary {
				t.Errorf("got (%s) %s\nwant (%s) %s", dg.Certainty, dg.Summary, tt.certainty, tt.summary)
			}
			if diff := cmp.Diff(tt.next, strs(dg.Next)); diff != "" {
				t.Errorf("next (-want +got):\n%s", diff)
			}
		})
	}
}

func verdictOf(rep *Report, name string) Verdict {
	for _, ch := range rep.Checks {
		if ch.Name == name {
			return ch.Verdict
		}
	}
	return ""
}

func TestChecks(t *testing.T) {
	pe := &neigh.PrivilegeError{Op: "probing on eth0", Cap: neigh.CapNetRaw}
	tests := []struct {
		name     string
		f        Facts
		check    string
		verdict  Verdict
		ok       bool
		complete bool
	}{
		{"failed entries warn", Facts{Entries: []neigh.Entry{{IP: netip.MustParseAddr("192.0.2.7"), State: neigh.Failed}}},
			CheckTable, Warning, true, false},
		{"overflow is a problem", Facts{Tables: []neigh.Table{{Name: "arp_cache", Stats: neigh.Stats{TableFulls: 1}}}},
			CheckStatistics, Problem, false, false},
		{"forced gc warns", Facts{Tables: []neigh.Table{{Name: "arp_cache", Stats: neigh.Stats{ForcedGCRuns: 1}}}},
			CheckStatistics, Warning, true, false},
		{"settings unreadable", Facts{SettingsErr: errors.New("reading /x/proc/sys: denied")}, CheckSettings, Skipped, true, false},
		{"no privilege to probe", Facts{Settings: &sysctl.Report{}, Verify: &VerifyFacts{InUse: 2, Err: pe}}, CheckVerify, Skipped, true, false},
		{"nothing to probe", Facts{Settings: &sysctl.Report{}, Verify: &VerifyFacts{}}, CheckVerify, OK, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := Assess(&tt.f)
			if got := verdictOf(rep, tt.check); got != tt.verdict {
				t.Errorf("%s: %s, want %s", tt.check, got, tt.verdict)
			}
			if rep.OK != tt.ok || rep.Complete != tt.complete {
				t.Errorf("ok %v complete %v, want %v %v (incomplete %+v)", rep.OK, rep.Complete, tt.ok, tt.complete, rep.Incomplete)
			}
		})
	}
}

func TestIncompleteNamesWhatCompletesIt(t *testing.T) {
	pe := &neigh.PrivilegeError{Op: "probing on eth0", Cap: neigh.CapNetRaw}
	rep := Assess(&Facts{NetNS: "blue", Settings: &sysctl.Report{}, Verify: &VerifyFacts{InUse: 2, Err: pe},
		Trace: &TraceFacts{Duration: 5 * time.Second, Err: neigh.ErrNoDefaultRoute}})
	var got []string
	for _, in := range rep.Incomplete {
		got = append(got, in.Check+": "+in.Why+": "+in.Run.String())
	}
	want := []string{
		"trace: no default route: arpdoctor --netns blue doctor --trace 5s -i IF",
		"verify: probing on eth0 needs CAP_NET_RAW: sudo arpdoctor --netns blue doctor",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestTableSummary(t *testing.T) {
	if got := TableSummary(nil, nil); got != "0 entries" {
		t.Errorf("empty: %q", got)
	}
	es := []neigh.Entry{{State: neigh.Failed}, {State: neigh.Stale}, {State: neigh.None}, {State: neigh.Stale}}
	tables := []neigh.Table{{Family: neigh.Inet, Thresh1: 128, Thresh2: 512, Thresh3: 1024}, {Family: neigh.Inet6, Thresh1: 1, Thresh2: 2, Thresh3: 3}}
	if got, want := TableSummary(es, tables), "4 entries: 2 STALE, 1 FAILED, 1 NONE; gc_thresh1/2/3 inet 128/512/1024, inet6 1/2/3"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCommandString(t *testing.T) {
	tests := []struct {
		c    Command
		want string
	}{
		{In("", "neigh"), "arpdoctor neigh"},
		{In("blue", "flush", "--ip", "192.0.2.50"), "arpdoctor --netns blue flush --ip 192.0.2.50"},
		{In("/proc/42/ns/net", "verify"), "arpdoctor --netns /proc/42/ns/net verify"},
		{In("it's", "verify"), `arpdoctor --netns 'it'\''s' verify`},
		{In("a b", "verify"), "arpdoctor --netns 'a b' verify"},
		{In("lab", "flush", "-i", "x\x1b[2J"), `arpdoctor --netns lab flush -i $'x\x1b[2J'`},
		{In("lab", "flush", "-i", "it's\x07"), `arpdoctor --netns lab flush -i $'it\'s\x07'`},
		{Command{NetNS: "blue", Args: []string{"doctor"}, Sudo: true}, "sudo arpdoctor --netns blue doctor"},
		{MachineWide("sysctl", "fix"), "arpdoctor sysctl fix  # on the host: changes the host's settings"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
		var back Command
		if err := back.UnmarshalText([]byte(tt.want)); err != nil {
			t.Errorf("reading %q: %v", tt.want, err)
		} else if diff := cmp.Diff(tt.c, back); diff != "" {
			t.Errorf("%q read back (-want +got):\n%s", tt.want, diff)
		}
	}
	if !strings.HasPrefix(MachineWide("x").String(), "arpdoctor x") {
		t.Error("machine-wide prefix")
	}
}

// A handshake that completed late is counted as completed, though its
// finding is a problem.
func TestTraceCountsLateCompletions(t *testing.T) {
	late := capture.Finding{Kind: capture.SynAckToWrongMAC, Severity: capture.Problem, Outcome: capture.CompletedLate,
		Client: netip.MustParseAddrPort("192.0.2.50:41000"), ClientMAC: "02:00:00:00:50:b2",
		SynAckTo: []capture.MACCount{{MAC: "02:00:00:00:50:a1", Count: 9}}}
	rep := Assess(&Facts{Settings: &sysctl.Report{}, Trace: &TraceFacts{Interface: "eth0", Duration: 15 * time.Second,
		Summary: &capture.Summary{Handshakes: map[capture.Kind]int{capture.SynAckToWrongMAC: 1}, Problems: 1}, Findings: []capture.Finding{late}},
		DoctorFlags: []string{"--passive"}})
	for _, ch := range rep.Checks {
		if ch.Name == CheckTrace && ch.Summary != "15s on eth0: 1 handshake, 1 completed; 1 problem" {
			t.Errorf("trace summary %q", ch.Summary)
		}
	}
	rep = Assess(&Facts{Settings: &sysctl.Report{}, DoctorFlags: []string{"--passive"},
		Trace: &TraceFacts{Duration: 5 * time.Second, Err: neigh.ErrNoDefaultRoute}})
	if got := rep.Incomplete[0].Run.String(); got != "arpdoctor doctor --trace 5s -i IF --passive" {
		t.Errorf("the suggested run drops the user's flags: %q", got)
	}
}

// With no default route, the suggested trace names the one interface
// there is to trace, or lists them.
func TestTraceWithoutDefaultRoute(t *testing.T) {
	for _, tt := range []struct {
		ifs     []string
		run     string
		summary string
	}{
		{[]string{"eth0"}, "arpdoctor --netns blue doctor --trace 5s -i eth0", "no handshakes traced: no default route; name the interface with -i"},
		{[]string{"eth0", "eth1"}, "arpdoctor --netns blue doctor --trace 5s -i IF", "no handshakes traced: no default route; name the interface with -i (eth0, eth1)"},
	} {
		rep := Assess(&Facts{NetNS: "blue", Settings: &sysctl.Report{},
			Trace: &TraceFacts{Duration: 5 * time.Second, Err: neigh.ErrNoDefaultRoute, Interfaces: tt.ifs}})
		if got := rep.Incomplete[0].Run.String(); got != tt.run {
			t.Errorf("%v: run %q, want %q", tt.ifs, got, tt.run)
		}
		for _, ch := range rep.Checks {
			if ch.Name == CheckTrace && ch.Summary != tt.summary {
				t.Errorf("%v: summary %q, want %q", tt.ifs, ch.Summary, tt.summary)
			}
		}
	}
}

func TestCommandUnmarshalRejects(t *testing.T) {
	for _, line := range []string{"", "ls -l", "arpdoctor --netns 'blue", "arpdoctor -i $'x\\q'", "arpdoctor -i $'\\x4'", "arpdoctor x\\"} {
		var c Command
		if err := c.UnmarshalText([]byte(line)); err == nil {
			t.Errorf("%q read as %+v", line, c)
		}
	}
}

// FuzzCommandText: whatever the namespace and arguments, the line String
// writes reads back as the same command.
func FuzzCommandText(f *testing.F) {
	f.Add("blue", "flush", "-i", false, false)
	f.Add("it's", "x\x1b[2J", "", true, false)
	f.Add("", "sysctl", "fix", false, true)
	f.Fuzz(func(t *testing.T, netns, a, b string, sudo, machine bool) {
		c := Command{NetNS: netns, Args: []string{"verify", a, b}, Sudo: sudo, MachineWide: machine}
		if machine {
			c.NetNS = ""
		}
		var back Command
		if err := back.UnmarshalText([]byte(c.String())); err != nil {
			t.Fatalf("%q: %v", c.String(), err)
		}
		if diff := cmp.Diff(c, back); diff != "" {
			t.Fatalf("%q read back (-want +got):\n%s", c.String(), diff)
		}
	})
}

// Each problem event says what happened, where, what it means, and what
// to run next, in the namespace it happened in.
func TestEventNote(t *testing.T) {
	at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	entry := func(mac string, s neigh.State) neigh.Entry {
		return neigh.Entry{IP: netip.MustParseAddr("192.0.2.50"), MAC: mac, State: s, Interface: "eth0", Family: neigh.Inet}
	}
	tests := []struct {
		ev   neigh.Event
		note string
		next []string
	}{
		{neigh.Event{Time: at, Kind: neigh.EventMACChanged, Entry: entry("02:00:00:00:50:b2", neigh.Reachable), OldMAC: "02:00:00:00:50:a1"},
			"192.0.2.50: 02:00:00:00:50:a1 -> 02:00:00:00:50:b2 on eth0: the IP now belongs to another host (a reused IP?)",
			[]string{"arpdoctor --netns blue verify --ip 192.0.2.50 -i eth0", "arpdoctor --netns blue sysctl check"}},
		{neigh.Event{Time: at, Kind: neigh.EventFlipFlop, Entry: entry("02:00:00:00:50:a1", neigh.Reachable), OldMAC: "02:00:00:00:50:b2"},
			"192.0.2.50: 02:00:00:00:50:b2 -> 02:00:00:00:50:a1 on eth0, back to the MAC it had before the last change: two hosts claim this IP",
			[]string{"arpdoctor --netns blue verify --ip 192.0.2.50 -i eth0"}},
		{neigh.Event{Time: at, Kind: neigh.EventFailed, Entry: entry("", neigh.Failed)},
			"192.0.2.50: FAILED on eth0: nobody answers",
			[]string{"arpdoctor --netns blue verify --ip 192.0.2.50 -i eth0"}},
		{neigh.Event{Time: at, Kind: neigh.EventNew, Entry: entry("02:00:00:00:50:a1", neigh.Reachable)}, "", []string{}},
	}
	for _, tt := range tests {
		note, next := EventNote(&tt.ev, "blue")
		if note != tt.note {
			t.Errorf("%s: note %q, want %q", tt.ev.Kind, note, tt.note)
		}
		if diff := cmp.Diff(tt.next, strs(next)); diff != "" {
			t.Errorf("%s: next (-want +got):\n%s", tt.ev.Kind, diff)
		}
	}
}

// A stale or dead entry gets one next step, verify --fix of that entry,
// whether verify, doctor's VERIFY check, the diagnosis or a trace names it.
func TestOneFixForOneEntry(t *testing.T) {
	mismatch := neigh.ProbeResult{Entry: stale("192.0.2.50", "02:00:00:00:50:a1"), Answered: []string{"02:00:00:00:50:b2"}, Verdict: neigh.VerdictMismatch}
	dead := neigh.ProbeResult{Entry: stale("192.0.2.99", "02:00:00:00:99:99"), Verdict: neigh.VerdictNoAnswer}
	const fix50 = "arpdoctor --netns blue verify --fix --ip 192.0.2.50 -i eth0"
	const fix99 = "arpdoctor --netns blue verify --fix --ip 192.0.2.99 -i eth0"

	_, next := ProbeNote(&mismatch, "blue", false)
	if diff := cmp.Diff([]string{fix50, "arpdoctor --netns blue sysctl check"}, strs(next)); diff != "" {
		t.Errorf("verify's note (-want +got):\n%s", diff)
	}
	_, next = ProbeNote(&dead, "blue", false)
	if diff := cmp.Diff([]string{fix99}, strs(next)); diff != "" {
		t.Errorf("verify's note, dead (-want +got):\n%s", diff)
	}

	rep := Assess(&Facts{NetNS: "blue", Settings: &sysctl.Report{}, Verify: &VerifyFacts{InUse: 2, Results: []neigh.ProbeResult{mismatch, dead}}})
	var check []string
	for _, ch := range rep.Checks {
		if ch.Name == CheckVerify {
			check = strs(ch.Next)
		}
	}
	if diff := cmp.Diff([]string{fix50, fix99, "arpdoctor --netns blue sysctl check"}, check); diff != "" {
		t.Errorf("VERIFY check (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{fix50}, strs(rep.Diagnosis.Next)); diff != "" {
		t.Errorf("diagnosis (-want +got):\n%s", diff)
	}

	// Past a few entries, one verify --fix for them all.
	var many []neigh.ProbeResult
	for _, ip := range []string{"192.0.2.91", "192.0.2.92", "192.0.2.93", "192.0.2.94"} {
		many = append(many, neigh.ProbeResult{Entry: stale(ip, "02:00:00:00:99:99"), Verdict: neigh.VerdictNoAnswer})
	}
	rep = Assess(&Facts{NetNS: "blue", Settings: &sysctl.Report{}, Verify: &VerifyFacts{InUse: 4, Results: many}})
	for _, ch := range rep.Checks {
		if ch.Name == CheckVerify {
			if diff := cmp.Diff([]string{"arpdoctor --netns blue verify --fix"}, strs(ch.Next)); diff != "" {
				t.Errorf("VERIFY check, many (-want +got):\n%s", diff)
			}
		}
	}

	f := capture.Finding{Kind: capture.SynAckToWrongMAC, Severity: capture.Problem, Client: netip.MustParseAddrPort("192.0.2.50:41000")}
	if diff := cmp.Diff([]string{"arpdoctor --netns blue verify --fix --ip 192.0.2.50"}, strs(TraceNext(&f, "blue"))); diff != "" {
		t.Errorf("trace (-want +got):\n%s", diff)
	}
}
