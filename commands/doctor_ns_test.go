package commands

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

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
		if ch.Verdict == verdictProblem || ch.Verdict == verdictSkipped {
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
	if v.Verdict != verdictProblem || len(v.Evidence) != 1 ||
		!strings.HasPrefix(v.Evidence[0], "192.0.2.50: the cache says 02:00:00:00:50:a1 but 02:00:00:00:50:b2 answers") {
		t.Errorf("verify: %s %q", v.Verdict, v.Evidence)
	}
	dg := rep.Diagnosis
	if dg == nil || dg.Certainty != "proven" ||
		!strings.HasPrefix(dg.Summary, "stale neighbor entry for 192.0.2.50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2") ||
		dg.Next[0] != "arpdoctor --netns "+in.Server.Name+" flush --ip 192.0.2.50 -i eth0" {
		t.Errorf("diagnosis: %+v", dg)
	}

	code, out, _ := run(t, false, "--netns", in.Server.Name, "doctor", "--timeout", "500ms")
	for _, want := range []string{"\nVERIFY      problem  ", "\nDIAGNOSIS (proven): stale neighbor entry for 192.0.2.50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2",
		"\n  run: arpdoctor --netns " + in.Server.Name + " flush --ip 192.0.2.50 -i eth0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if code != ExitProblems {
		t.Errorf("text: exit %d", code)
	}
}
