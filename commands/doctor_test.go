package commands

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/google/go-cmp/cmp"
)

func TestDoctorRender(t *testing.T) {
	rep := &doctorReport{Checks: []doctorCheck{
		{Name: "settings", Verdict: verdictWarning, Summary: "1 setting breaks the cloud profile: stale entries can live on",
			Evidence: []string{"FAIL net.ipv4.neigh.default.gc_thresh1 = 128 (/proc/sys): want 0"},
			Next:     []string{"arpdoctor sysctl check", "arpdoctor sysctl fix"}},
		{Name: "table", Verdict: verdictOK, Summary: "2 entries: 2 STALE"},
		{Name: "verify", Verdict: verdictProblem, Summary: "2 entries in use probed in 1.4s: 1 ok, 1 mismatch, 0 no_answer, 0 duplicate",
			Evidence: []string{"192.0.2.50: the cache says 02:00:00:00:50:a1 but 02:00:00:00:50:b2 answers: the entry is stale"},
			Next:     []string{"arpdoctor verify --fix"}},
	}, Diagnosis: &diagnosis{Certainty: "proven", Summary: "stale neighbor entry for 192.0.2.50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2",
		Next: []string{"arpdoctor flush --ip 192.0.2.50 -i eth0", "arpdoctor sysctl fix"}}}
	var b bytes.Buffer
	if err := (doctorView{rep: rep}).render(&b); err != nil {
		t.Fatal(err)
	}
	want := `SETTINGS    warning  1 setting breaks the cloud profile: stale entries can live on
  FAIL net.ipv4.neigh.default.gc_thresh1 = 128 (/proc/sys): want 0
  next: arpdoctor sysctl check, then arpdoctor sysctl fix
TABLE       ok       2 entries: 2 STALE
VERIFY      problem  2 entries in use probed in 1.4s: 1 ok, 1 mismatch, 0 no_answer, 0 duplicate
  192.0.2.50: the cache says 02:00:00:00:50:a1 but 02:00:00:00:50:b2 answers: the entry is stale
  next: arpdoctor verify --fix

DIAGNOSIS (proven): stale neighbor entry for 192.0.2.50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2
  run: arpdoctor flush --ip 192.0.2.50 -i eth0
  run: arpdoctor sysctl fix
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	b.Reset()
	(doctorView{rep: &doctorReport{Checks: rep.Checks[1:2]}}).render(&b)
	if want := "TABLE       ok       2 entries: 2 STALE\n\nNo problem found.\n"; b.String() != want {
		t.Errorf("healthy: %q", b.String())
	}
}

// The diagnosis prefers what probes proved, by how directly it breaks
// connections, then overflows, then what the settings make possible.
func TestDiagnose(t *testing.T) {
	e := func(ip, mac string) neigh.Entry {
		return neigh.Entry{IP: mustAddr(ip), MAC: mac, State: neigh.Stale, Interface: "eth0"}
	}
	thresh1 := &sysctl.Report{Results: []sysctl.Result{{Rule: "stale-entries", Status: sysctl.StatusFail}}}
	tests := []struct {
		name   string
		probed []neigh.ProbeResult
		checks []doctorCheck
		sys    *sysctl.Report
		want   *diagnosis
	}{
		{"nothing", nil, nil, nil, nil},
		{"exposed", nil, nil, thresh1, &diagnosis{Certainty: "exposed",
			Summary: "no wrong entry found now, but gc_thresh1 keeps the kernel from retiring stale entries: a reused IP will break connections",
			Next:    []string{"arpdoctor sysctl fix"}}},
		{"overflow", nil, []doctorCheck{{Name: "statistics", Verdict: verdictProblem}}, thresh1, &diagnosis{Certainty: "proven",
			Summary: "the neighbor table overflows: the kernel refuses new neighbors, and connections to them fail",
			Next:    []string{"arpdoctor sysctl fix --profile kubernetes"}}},
		{"mismatch before dead", []neigh.ProbeResult{
			{Entry: e("192.0.2.99", "02:00:00:00:99:99"), Verdict: neigh.VerdictNoAnswer},
			{Entry: e("192.0.2.50", "02:00:00:00:50:a1"), Answered: []string{"02:00:00:00:50:b2"}, Verdict: neigh.VerdictMismatch},
		}, nil, thresh1, &diagnosis{Certainty: "proven",
			Summary: "stale neighbor entry for 192.0.2.50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2; gc_thresh1 keeps the kernel from retiring such entries",
			Next:    []string{"arpdoctor flush --ip 192.0.2.50 -i eth0", "arpdoctor sysctl fix"}}},
		{"dead", []neigh.ProbeResult{{Entry: e("192.0.2.99", "02:00:00:00:99:99"), Verdict: neigh.VerdictNoAnswer}}, nil, nil,
			&diagnosis{Certainty: "proven", Summary: "dead neighbor entry for 192.0.2.99: the cache holds 02:00:00:00:99:99, nobody answers",
				Next: []string{"arpdoctor flush --ip 192.0.2.99 -i eth0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &doctor{rep: &doctorReport{Checks: tt.checks}, prefix: "arpdoctor ", probed: tt.probed}
			d.diagnose(tt.sys)
			if diff := cmp.Diff(tt.want, d.rep.Diagnosis); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
