package commands

import (
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
)

// unprivileged is a user without root and without capabilities.
func unprivileged() privileges { return privileges{caps: map[string]bool{}} }

// withPrivileges are fake seams whose process has the privileges p.
func withPrivileges(s seams, p privileges) seams {
	s.readPrivileges = func() privileges { return p }
	return s
}

// Each suggested command gets sudo when the process lacks what it needs,
// as its help says: probing CAP_NET_RAW, changing the table CAP_NET_ADMIN,
// another namespace CAP_SYS_ADMIN, sysctl files root.
func TestSuggestSudo(t *testing.T) {
	netRaw := privileges{caps: map[string]bool{neigh.CapNetRaw: true}}
	capsNoRoot := privileges{caps: map[string]bool{neigh.CapNetRaw: true, neigh.CapNetAdmin: true, neigh.CapSysAdmin: true}}
	rootNoCaps := privileges{root: true, caps: map[string]bool{}}
	tests := []struct {
		c    diagnose.Command
		p    privileges
		want string
	}{
		{diagnose.In("", "verify", "--ip", "192.0.2.50"), unprivileged(), "sudo arpdoctor verify --ip 192.0.2.50"},
		{diagnose.In("", "verify", "--ip", "192.0.2.50"), netRaw, "arpdoctor verify --ip 192.0.2.50"},
		{diagnose.In("", "verify", "--fix", "--ip", "192.0.2.50"), netRaw, "sudo arpdoctor verify --fix --ip 192.0.2.50"},
		{diagnose.In("", "verify", "--fix", "--ip", "192.0.2.50"), capsNoRoot, "arpdoctor verify --fix --ip 192.0.2.50"},
		{diagnose.In("blue", "verify", "--ip", "192.0.2.50"), netRaw, "sudo arpdoctor --netns blue verify --ip 192.0.2.50"},
		{diagnose.In("", "flush", "--ip", "192.0.2.50"), netRaw, "sudo arpdoctor flush --ip 192.0.2.50"},
		{diagnose.In("", "flush", "--dry-run"), unprivileged(), "arpdoctor flush --dry-run"},
		{diagnose.In("", "watch", "--ip", "192.0.2.50"), unprivileged(), "arpdoctor watch --ip 192.0.2.50"},
		{diagnose.In("", "neigh", "--state", "failed"), unprivileged(), "arpdoctor neigh --state failed"},
		{diagnose.In("", "sysctl", "check"), unprivileged(), "arpdoctor sysctl check"},
		{diagnose.In("", "doctor"), unprivileged(), "sudo arpdoctor doctor"},
		{diagnose.In("", "doctor", "--passive"), unprivileged(), "arpdoctor doctor --passive"},
		{diagnose.In("", "trace", "-r", "x.pcap"), unprivileged(), "arpdoctor trace -r x.pcap"},
		{diagnose.In("", "trace", "-i", "eth0"), unprivileged(), "sudo arpdoctor trace -i eth0"},
		{diagnose.MachineWide("sysctl", "fix"), capsNoRoot, "sudo arpdoctor sysctl fix  # on the host: changes the host's settings"},
		{diagnose.MachineWide("sysctl", "fix"), rootNoCaps, "arpdoctor sysctl fix  # on the host: changes the host's settings"},
		{diagnose.MachineWide("sysctl", "fix", "--dry-run"), unprivileged(), "arpdoctor sysctl fix --dry-run  # on the host: reads the host's settings"},
		// Already marked by the diagnosis: kept.
		{diagnose.Command{Args: []string{"doctor"}, Sudo: true}, allPrivileges(), "sudo arpdoctor doctor"},
	}
	for _, tt := range tests {
		g := &globalOptions{seams: withPrivileges(seams{}, tt.p)}
		in := []diagnose.Command{tt.c}
		if got := g.suggest(in)[0].String(); got != tt.want {
			t.Errorf("%s with %+v: %q, want %q", tt.c, tt.p, got, tt.want)
		}
		if in[0].Sudo != tt.c.Sudo {
			t.Errorf("%s: suggest changed the command it was given", tt.c)
		}
	}
	// Without the seam (tests, fakes) nothing is marked.
	g := &globalOptions{}
	if got := g.suggest([]diagnose.Command{diagnose.In("", "flush")})[0].String(); got != "arpdoctor flush" {
		t.Errorf("no seam: %q", got)
	}
}

// An unprivileged user reads, in doctor's report and verify's notes,
// sudo on the commands that need it and on no other.
func TestSudoInReports(t *testing.T) {
	code, out, _ := runWith(t, withPrivileges(fakeSeams(incidentTable(), nil), unprivileged()), false, "doctor", "--root", stockRoot)
	if code != ExitProblems {
		t.Errorf("doctor: exit %d", code)
	}
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  next: ") || strings.HasPrefix(l, "  run: ") {
			got = append(got, l)
		}
	}
	want := []string{
		"  next: arpdoctor sysctl check",
		"  next: sudo arpdoctor sysctl fix  # on the host: changes the host's settings",
		"  next: arpdoctor neigh --state failed,incomplete",
		"  next: sudo arpdoctor verify --fix --ip 192.0.2.50 -i eth0",
		"  next: arpdoctor sysctl check",
		"  run: sudo arpdoctor verify --fix --ip 192.0.2.50 -i eth0",
		"  run: sudo arpdoctor sysctl fix  # on the host: changes the host's settings",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("doctor's commands (-want +got):\n%s\n%s", diff, out)
	}

	code, out, _ = runWith(t, withPrivileges(fakeSeams(incidentTable(), nil), unprivileged()), false, "doctor", "--root", stockRoot, "-o", "json")
	if code != ExitProblems || !strings.Contains(out, `"sudo arpdoctor verify --fix --ip 192.0.2.50 -i eth0"`) {
		t.Errorf("doctor -o json: exit %d, no sudo on the fix:\n%s", code, out)
	}

	// verify's notes go to stderr in a pipe.
	code, _, errOut := runWith(t, withPrivileges(fakeSeams(incidentTable(), nil), privileges{caps: map[string]bool{neigh.CapNetRaw: true}}), false, "verify")
	if code != ExitProblems || !strings.Contains(errOut, "  next: sudo arpdoctor verify --fix --ip 192.0.2.50 -i eth0\n  next: arpdoctor sysctl check\n") {
		t.Errorf("verify: exit %d, notes:\n%s", code, errOut)
	}
}
