package commands

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/capture/capturetest"
	"github.com/arpdoctor/arpdoctor/neigh"
)

// stockRoot is a machine's /proc/sys and sysctl files as a stock kernel
// has them: gc_thresh1 128, so the cloud profile fails.
const stockRoot = "../sysctl/testdata/stock"

func entry(ip, mac, ifname string, s neigh.State) neigh.Entry {
	return neigh.Entry{IP: mustAddr(ip), MAC: mac, Interface: ifname, IfIndex: 2, State: s, Family: neigh.Inet,
		ConfirmedAgo: neigh.Age(2 * time.Hour), UsedAgo: neigh.Age(14 * time.Minute), UpdatedAgo: neigh.Age(14 * time.Minute)}
}

// incidentTable is the server of the incident, as its table shows it: the
// reused IP cached with the dead instance's MAC, a healthy neighbor, a
// dead one nobody uses any more.
func incidentTable() *fakeNeigh {
	return &fakeNeigh{
		entries: []neigh.Entry{
			entry("192.0.2.9", "02:00:00:00:00:09", "eth0", neigh.Reachable),
			entry("192.0.2.50", "02:00:00:00:50:a1", "eth0", neigh.Stale),
			entry("198.51.100.7", "", "eth1", neigh.Failed),
			{IP: mustAddr("ff02::1"), MAC: "33:33:00:00:00:01", Interface: "eth0", State: neigh.NoARP, Family: neigh.Inet6},
		},
		tables: []neigh.Table{
			{Family: neigh.Inet, Name: "arp_cache", Thresh1: 128, Thresh2: 512, Thresh3: 1024, Entries: 3,
				Stats: neigh.Stats{ResFailed: 39}},
			{Family: neigh.Inet6, Name: "ndisc_cache", Thresh1: 128, Thresh2: 512, Thresh3: 1024, Entries: 1},
		},
		results: map[netip.Addr]neigh.ProbeResult{
			mustAddr("192.0.2.9"):  {Answered: []string{"02:00:00:00:00:09"}, Verdict: neigh.VerdictOK},
			mustAddr("192.0.2.50"): {Answered: []string{"02:00:00:00:50:b2"}, Verdict: neigh.VerdictMismatch},
		},
		defaultIf: "eth0",
	}
}

func TestDoctorIncidentWithoutRoot(t *testing.T) {
	f := incidentTable()
	code, out, errOut := runWith(t, fakeSeams(f, nil), false, "--netns", "blue", "doctor", "--root", stockRoot)
	if code != ExitProblems || errOut != "" {
		t.Errorf("exit %d, stderr %q; want 1 and nothing", code, errOut)
	}
	golden(t, "doctor-incident", maskDurations(out))
	if len(f.probed) != 2 || !f.closed {
		t.Errorf("probed %d entries (want the 2 in use), closed %v", len(f.probed), f.closed)
	}

	code, out, _ = runWith(t, fakeSeams(incidentTable(), nil), false, "doctor", "--root", stockRoot, "-o", "json")
	rep := decodeDoctor(t, out)
	if code != ExitProblems || rep.OK || !rep.Complete {
		t.Errorf("json: exit %d, ok %v, complete %v", code, rep.OK, rep.Complete)
	}
	var names []string
	for _, ch := range rep.Checks {
		names = append(names, ch.Name+":"+ch.Verdict)
		if len(ch.Data) == 0 || ch.Data[0] != '{' {
			t.Errorf("%s: data is not an object: %s", ch.Name, ch.Data)
		}
	}
	if got, want := strings.Join(names, " "), "settings:warning table:warning statistics:ok verify:problem"; got != want {
		t.Errorf("checks %q, want %q", got, want)
	}
	if rep.Diagnosis == nil || rep.Diagnosis.Next[0] != "arpdoctor verify --fix --ip 192.0.2.50 -i eth0" {
		t.Errorf("diagnosis %+v", rep.Diagnosis)
	}
}

// --passive sends nothing: no probe at all, no verify check, and the
// report is complete all the same.
func TestDoctorPassive(t *testing.T) {
	f := incidentTable()
	code, out, _ := runWith(t, fakeSeams(f, nil), false, "doctor", "--root", stockRoot, "--passive", "-o", "json")
	rep := decodeDoctor(t, out)
	if f.probed != nil {
		t.Errorf("--passive probed %d entries", len(f.probed))
	}
	for _, ch := range rep.Checks {
		if ch.Name == "verify" {
			t.Errorf("--passive has a verify check: %+v", ch)
		}
	}
	if code != ExitOK || !rep.Complete || rep.Diagnosis == nil || rep.Diagnosis.Certainty != "exposed" {
		t.Errorf("exit %d, complete %v, diagnosis %+v", code, rep.Complete, rep.Diagnosis)
	}
}

// Without the privilege to probe, the report says it is incomplete, in
// its last line and in JSON, names what completes it, and exits 2.
func TestDoctorIncomplete(t *testing.T) {
	f := incidentTable()
	f.probeErr = &neigh.PrivilegeError{Op: "probing on eth0", Cap: neigh.CapNetRaw}
	code, out, _ := runWith(t, fakeSeams(f, nil), false, "--netns", "blue", "doctor", "--root", stockRoot)
	golden(t, "doctor-incomplete", out)
	if code != ExitTrouble {
		t.Errorf("exit %d, want %d", code, ExitTrouble)
	}
	_, out, _ = runWith(t, fakeSeams(incidentTable(), nil), false, "doctor", "--root", stockRoot, "--trace", "5s", "-o", "json")
	rep := decodeDoctor(t, out)
	if rep.Complete || len(rep.Incomplete) != 1 || rep.Incomplete[0].Check != "trace" ||
		rep.Incomplete[0].Run != "sudo arpdoctor doctor --trace 5s" {
		t.Errorf("incomplete %+v", rep.Incomplete)
	}
	// A problem found beats an incomplete report: exit 1.
	if !strings.Contains(out, `"verdict":"problem"`) {
		t.Errorf("no problem in %s", out)
	}
}

// doctor --trace captures before probing: the packets of the failing
// handshake show the SYN-ACKs going to the dead MAC, and the diagnosis
// cites the trace and the probe.
func TestDoctorTraceBeforeProbes(t *testing.T) {
	f := incidentTable()
	pcap := incidentCapture(t).Pcap(capturetest.LinkEthernet)
	code, out, errOut := runWith(t, fakeSeams(f, pcap), false, "doctor", "--root", stockRoot, "--trace", "30s", "-o", "json")
	rep := decodeDoctor(t, out)
	if code != ExitProblems || !strings.Contains(errOut, "tracing handshakes on eth0 for 30s") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	var order []string
	for _, ch := range rep.Checks {
		order = append(order, ch.Name)
	}
	if got := strings.Join(order, ","); got != "settings,table,statistics,trace,verify" {
		t.Errorf("order %s: the trace must come before the probes", got)
	}
	dg := rep.Diagnosis
	if dg == nil || !strings.Contains(dg.Summary, "cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2") ||
		!strings.Contains(dg.Summary, "the trace saw the SYN come from 02:00:00:00:50:b2 and the SYN-ACKs go to 02:00:00:00:50:a1") {
		t.Errorf("diagnosis %+v", dg)
	}
}

func TestDoctorBadRoot(t *testing.T) {
	code, _, errOut := runWith(t, fakeSeams(incidentTable(), nil), false, "doctor", "--root", "/nonexistent")
	if code != ExitTrouble || !strings.HasPrefix(errOut, "arpdoctor: --root: ") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestDoctorOpenFails(t *testing.T) {
	s := fakeSeams(incidentTable(), nil)
	s.openNeigh = func(string) (neighClient, error) {
		return nil, &neigh.PrivilegeError{Op: "entering network namespace /run/netns/blue", Cap: neigh.CapSysAdmin}
	}
	code, _, errOut := runWith(t, s, false, "--netns", "blue", "doctor", "--root", stockRoot)
	if want := "arpdoctor: entering network namespace /run/netns/blue needs CAP_SYS_ADMIN: run as root\n"; code != ExitTrouble || errOut != want {
		t.Errorf("exit %d, stderr %q, want %q", code, errOut, want)
	}
	s.openNeigh = func(string) (neighClient, error) { return nil, errors.New("boom") }
	if code, _, _ := runWith(t, s, false, "doctor", "--root", stockRoot); code != ExitTrouble {
		t.Errorf("exit %d", code)
	}
}

// maskDurations replaces the measured probing time, the one thing in the
// report that differs from run to run.
func maskDurations(s string) string {
	const mark = " probed in "
	var b strings.Builder
	for {
		i := strings.Index(s, mark)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+len(mark)])
		s = s[i+len(mark):]
		j := strings.IndexAny(s, ":\n")
		b.WriteString("DURATION")
		s = s[j:]
	}
}
