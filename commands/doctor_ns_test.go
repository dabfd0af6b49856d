package commands

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
)

func doctorJSON(t *testing.T, args ...string) (int, doctorReport) {
	t.Helper()
	code, out, errOut := run(t, false, append(args, "doctor", "-o", "json", "--timeout", "500ms")...)
	var rep doctorReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d, stderr %q: %v\n%s", code, errOut, err, out)
	}
	return code, rep
}

func checkNamed(t *testing.T, rep doctorReport, name string) doctorCheck {
	t.Helper()
	for _, ch := range rep.Checks {
		if ch.Name == name {
			return ch
		}
	}
	t.Fatalf("no %s check in %+v", name, rep.Checks)
	return doctorCheck{}
}

// A healthy lab: every entry answers from its cached MAC; no problem,
// exit 0, every check present in the JSON.
func TestDoctorHealthy(t *testing.T) {
	lab := neightest.NewLab(t)
	a := lab.AddHost(neightest.HostConfig{Name: "a", MAC: "02:00:00:00:00:0a", Addrs: []string{"192.0.2.1/24"}})
	lab.AddHost(neightest.HostConfig{Name: "b", MAC: "02:00:00:00:00:0b", Addrs: []string{"192.0.2.2/24"}})
	a.SetNeigh(netip.MustParseAddr("192.0.2.2"), "02:00:00:00:00:0b", neigh.Stale)
	code, rep := doctorJSON(t, "--netns", a.Name)
	if code != 0 || !rep.OK {
		t.Errorf("exit %d, ok %v; want 0 and true: %+v", code, rep.OK, rep)
	}
	for _, name := range []string{"settings", "table", "statistics", "verify"} {
		ch := checkNamed(t, rep, name)
		if ch.Verdict == "problem" || ch.Verdict == "skipped" {
			t.Errorf("%s: %s: %s %v", name, ch.Verdict, ch.Summary, ch.Evidence)
		}
	}
	if v := checkNamed(t, rep, "verify"); !strings.HasPrefix(v.Summary, "1 entry in use probed in ") || !strings.Contains(v.Summary, ": 1 ok, 0 mismatch") {
		t.Errorf("verify: %s", v.Summary)
	}
	if rep.Diagnosis != nil && rep.Diagnosis.Certainty == "proven" {
		t.Errorf("diagnosis in a healthy lab: %+v", rep.Diagnosis)
	}
}

// The incident's server: doctor proves the stale entry, names both MACs
// and the next command, and exits 1.
func TestDoctorIncident(t *testing.T) {
	in := neightest.NewIncident(t)
	code, rep := doctorJSON(t, "--netns", in.Server.Name)
	if code != ExitProblems || rep.OK {
		t.Errorf("exit %d, ok %v; want 1 and false", code, rep.OK)
	}
	v := checkNamed(t, rep, "verify")
	if v.Verdict != "problem" || len(v.Evidence) != 1 ||
		!strings.HasPrefix(v.Evidence[0], "192.0.2.50: the cache says 02:00:00:00:50:a1 but 02:00:00:00:50:b2 answers") {
		t.Errorf("verify: %s %q", v.Verdict, v.Evidence)
	}
	dg := rep.Diagnosis
	if dg == nil || dg.Certainty != "proven" ||
		!strings.HasPrefix(dg.Summary, "stale neighbor entry for 192.0.2.50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2") {
		t.Fatalf("diagnosis: %+v", dg)
	}
	// Whether the kernel took the new MAC from the probe's answer depends
	// on how long ago the entry last changed (its locktime): either the
	// diagnosis says so, or it names the fix, the same as the VERIFY
	// check does.
	fix := "arpdoctor --netns " + in.Server.Name + " verify --fix --ip 192.0.2.50 -i eth0"
	if !strings.Contains(dg.Summary, "the probe's answer made the kernel correct it") {
		if len(dg.Next) == 0 || dg.Next[0] != fix {
			t.Errorf("diagnosis names neither the correction nor %q: %+v", fix, dg)
		}
		if len(v.Next) == 0 || v.Next[0] != fix {
			t.Errorf("VERIFY check does not name %q: %q", fix, v.Next)
		}
	}
	in.Server.SetNeigh(netip.MustParseAddr(neightest.ClientIP), neightest.OldMAC, neigh.Stale)

	code, out, _ := run(t, false, "--netns", in.Server.Name, "doctor", "--timeout", "500ms")
	for _, want := range []string{"\nVERIFY      problem  ", "\nDIAGNOSIS (proven): stale neighbor entry for 192.0.2.50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if code != ExitProblems {
		t.Errorf("text: exit %d", code)
	}
}

// traceDoctor runs doctor --trace in the background; connect runs once
// the capture has begun; the report comes back.
func traceDoctor(t *testing.T, connect func(), args ...string) (int, doctorReport) {
	t.Helper()
	ios, _, _, _ := TestStreams()
	w := startArpdoctor(t, ios, append(args, "doctor", "-o", "json", "--timeout", "500ms")...)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(w.errOut.String(), "tracing handshakes on ") {
		if time.Now().After(deadline) {
			t.Fatalf("the trace never began; stderr %q", w.errOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	connect()
	var rep doctorReport
	if err := json.Unmarshal([]byte(w.nextLine(t)), &rep); err != nil {
		t.Fatal(err)
	}
	return w.stop(t), rep
}

// doctor --trace on the incident's server catches the SYN-ACK sent to the
// dead instance's MAC while the new client tries to connect.
func TestDoctorTraceIncident(t *testing.T) {
	in := neightest.NewIncident(t)
	// The trace runs before any probe: the entry is still stale while the
	// new client retries.
	code, rep := traceDoctor(t, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
		defer cancel()
		in.Connect(ctx)
	}, "--netns", in.Server.Name, "--trace", "6s", "-i", "eth0")
	if code != ExitProblems {
		t.Errorf("exit %d, want %d", code, ExitProblems)
	}
	tr := checkNamed(t, rep, "trace")
	if tr.Verdict != "problem" || len(tr.Evidence) == 0 || !strings.HasPrefix(tr.Evidence[0], "synack_to_wrong_mac: ") ||
		!strings.Contains(tr.Evidence[0], neightest.OldMAC) || !strings.Contains(tr.Evidence[0], neightest.NewMAC) {
		t.Errorf("trace: %s %q", tr.Verdict, tr.Evidence)
	}
	if !strings.HasPrefix(tr.Summary, "6s on eth0: ") {
		t.Errorf("trace summary %q", tr.Summary)
	}
	// The diagnosis cites the packets, and the probe that ran after them.
	dg := rep.Diagnosis
	if dg == nil || !strings.HasPrefix(dg.Summary, "stale neighbor entry for 192.0.2.50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2") ||
		!strings.Contains(dg.Summary, "the trace saw the SYN come from 02:00:00:00:50:b2 and the SYN-ACKs go to 02:00:00:00:50:a1") {
		t.Errorf("diagnosis %+v", dg)
	}
}

// doctor --trace on the new client sees its SYNs go unanswered.
func TestDoctorTraceClient(t *testing.T) {
	in := neightest.NewIncident(t)
	_, rep := traceDoctor(t, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		in.Connect(ctx)
	}, "--netns", in.NewClient.Name, "--trace", "5s", "-i", "eth0")
	tr := checkNamed(t, rep, "trace")
	if tr.Verdict != "problem" || len(tr.Evidence) == 0 || !strings.HasPrefix(tr.Evidence[0], "syn_unanswered: ") {
		t.Errorf("trace: %s %q", tr.Verdict, tr.Evidence)
	}
	code, _, errOut := run(t, false, "--netns", in.NewClient.Name, "doctor", "--trace", "1s", "-i", "eth9")
	if code != ExitTrouble || !strings.Contains(errOut, `interface "eth9" not found`) {
		t.Errorf("unknown -i: exit %d, stderr %q", code, errOut)
	}
}

// In another namespace, sysctl fix sets the namespace's live values and
// writes no file: this machine's config files do not set them at boot.
func TestSysctlFixInNamespaceWritesNoFile(t *testing.T) {
	ns := neightest.NewNamespace(t, "fix")
	code, out, errOut := run(t, false, "--netns", ns.Name, "sysctl", "fix", "--dry-run", "-o", "json")
	var rep struct {
		FileSkipped string `json:"file_skipped"`
		Diff        string `json:"diff"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("exit %d, stderr %q: %v\n%s", code, errOut, err, out)
	}
	if !strings.Contains(rep.FileSkipped, "not written: this machine's config files do not set network namespace "+ns.Name) || rep.Diff != "" {
		t.Errorf("file_skipped %q, diff %q", rep.FileSkipped, rep.Diff)
	}
}
