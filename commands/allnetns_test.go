package commands

import (
	"context"
	"strings"
	"testing"

	"net/netip"

	"github.com/arpdoctor/arpdoctor/namespaces"
	"github.com/arpdoctor/arpdoctor/neigh"
)

// fakeNode is a Kubernetes node: the host's namespace, a pod's with the
// stale entry of the incident, and a named one that is gone by the time it
// is read.
func fakeNode() (seams, map[string]*fakeNeigh) {
	host := &fakeNeigh{entries: []neigh.Entry{entry("192.0.2.1", "02:00:00:00:00:01", "eth0", neigh.Reachable)},
		tables: incidentTable().tables, results: map[netip.Addr]neigh.ProbeResult{
			mustAddr("192.0.2.1"): {Answered: []string{"02:00:00:00:00:01"}, Verdict: neigh.VerdictOK}}}
	pod := incidentTable()
	pod.tables = nil
	pod.flush = neigh.FlushResult{Deleted: []neigh.Entry{pod.entries[1]}, Kept: []neigh.Kept{}, Gone: []neigh.Entry{}}
	tables := map[string]*fakeNeigh{"host": host, "pod": pod}
	targets := []netnsTarget{
		{ns: namespaces.Namespace{ID: namespaces.ID{Inode: 4026531840}, Path: "/proc/1/ns/net", Initial: true,
			Processes: []namespaces.Process{{PID: 1, Comm: "systemd"}}},
			open: func() (neighClient, error) { return host, nil }},
		{ns: namespaces.Namespace{ID: namespaces.ID{Inode: 4026532999}, Path: "/proc/4242/ns/net",
			Processes: []namespaces.Process{{PID: 4242, Comm: "pause"}, {PID: 4300, Comm: "redis-server"}},
			Attribution: namespaces.Attribution{Runtime: "containerd", ContainerID: "4b2e9c0d1a7f" + strings.Repeat("0", 52),
				PodUID: "1f2e3d4c-5b6a-4789-8abc-def012345678", QoSClass: "burstable"}},
			open: func() (neighClient, error) { return pod, nil }},
		{ns: namespaces.Namespace{ID: namespaces.ID{Inode: 4026533001}, Path: "/run/netns/gone", Name: "gone"},
			open: func() (neighClient, error) { return nil, namespaces.ErrGone }},
	}
	s := fakeSeams(host, nil)
	s.openNeigh = func(string) (neighClient, error) { return host, nil }
	s.discover = func(context.Context, string) ([]netnsTarget, []namespaces.Note, error) { return targets, nil, nil }
	return s, tables
}

func TestAllNetNS(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"allnetns-neigh", []string{"neigh"}, ExitOK},
		{"allnetns-neigh-json", []string{"neigh", "-o", "json"}, ExitOK},
		{"allnetns-verify", []string{"verify"}, ExitProblems},
		{"allnetns-flush", []string{"flush", "--state", "stale", "--dry-run"}, ExitOK},
		{"allnetns-doctor", []string{"doctor", "--root", stockRoot}, ExitProblems},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := fakeNode()
			code, out, errOut := runWith(t, s, true, append([]string{"--all-netns", "--color", "never"}, tt.args...)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, errOut)
			}
			golden(t, tt.name, maskDurations(out)+"--- stderr\n"+maskDurations(errOut))
		})
	}
}

func TestAllNetNSDoctorJSON(t *testing.T) {
	s, _ := fakeNode()
	code, out, _ := runWith(t, s, false, "--all-netns", "doctor", "--root", stockRoot, "-o", "json")
	if code != ExitProblems {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{
		`"summary":{"namespaces":2,"entries":4,"with_problems":["1f2e3d4c-5b6a-4789-8abc-def012345678"],"with_warnings":[]}`,
		`"pod_uid":"1f2e3d4c-5b6a-4789-8abc-def012345678","qos_class":"burstable"`,
		`"skipped":[{"netns":{"label":"gone"`,
		`"why":"gone while being read"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("JSON lacks %s:\n%s", want, out)
		}
	}
}

func TestAllNetNSFlags(t *testing.T) {
	s, _ := fakeNode()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--all-netns", "--netns", "blue", "neigh"}, "arpdoctor: --netns and --all-netns exclude each other (see 'arpdoctor neigh --help')\n"},
		{[]string{"--all-netns", "trace", "-i", "eth0"}, "arpdoctor: trace does not take --all-netns (see 'arpdoctor trace --help')\n"},
		{[]string{"--all-netns", "flush"}, "arpdoctor: flush needs a selector: -i IF, --ip IP|CIDR, --state STATE, --only-wrong, or --all (see 'arpdoctor flush --help')\n"},
		{[]string{"--all-netns", "doctor", "--trace", "5s"}, "arpdoctor: --trace watches one namespace's interface: give --netns instead of --all-netns (see 'arpdoctor doctor --help')\n"},
	} {
		code, _, errOut := runWith(t, s, false, tt.args...)
		if code != ExitTrouble || errOut != tt.want {
			t.Errorf("%v: exit %d, stderr %q, want %q", tt.args, code, errOut, tt.want)
		}
	}
}

func TestAllNetNSWatch(t *testing.T) {
	s, tables := fakeNode()
	e := tables["pod"].entries[1]
	tables["pod"].events = [][]neigh.Event{{{Kind: neigh.EventMACChanged, Entry: e, OldMAC: "02:00:00:00:50:b2"}}}
	code, out, _ := runWith(t, s, false, "--all-netns", "watch", "--duration", "50ms")
	if code != ExitProblems || !strings.Contains(out, `"event":"mac_changed"`) || !strings.Contains(out, `"netns":"pod:1f2e3d4c"}`) {
		t.Errorf("exit %d, out %s", code, out)
	}
}
