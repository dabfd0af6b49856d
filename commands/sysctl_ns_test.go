package commands

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/google/go-cmp/cmp"
)

// In a namespace of its own, check reads the interface's keys from the
// namespace's /proc/sys and the table-wide ones over netlink, and says so.
func TestSysctlCheckNetns(t *testing.T) {
	lab := neightest.NewLab(t)
	host := lab.AddHost(neightest.HostConfig{Name: "server", MAC: "02:00:00:00:00:10", Addrs: []string{"192.0.2.10/24"}})
	if err := host.Sysctl("net.ipv4.neigh.eth0.base_reachable_time_ms", "12000"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, false, "--netns", host.Name, "sysctl", "check", "-o", "json", "--profile", "none",
		"--expect", "net.ipv4.neigh.eth0.base_reachable_time_ms=12000", "--expect", "net.ipv4.neigh.default.gc_thresh3>=1")
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	var rep sysctl.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Results {
		got = append(got, string(r.Status)+" "+r.Key+" "+r.Source)
	}
	want := []string{"OK net.ipv4.neigh.eth0.base_reachable_time_ms /proc/sys", "OK net.ipv4.neigh.default.gc_thresh3 netlink"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	wantNotes := []string{
		"net.ipv4.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink",
		"net.ipv6.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink",
		"config files set the initial network namespace's values at boot, and this is another one: whether its values persist was not checked",
	}
	if d := cmp.Diff(wantNotes, rep.Notes); d != "" {
		t.Errorf("notes (-want +got):\n%s", d)
	}
}

// fix in a namespace of its own sets the namespace's arp_notify live and
// leaves the host's alone; the table-wide keys are not in the namespace's
// /proc/sys, so they are reported, never written elsewhere. The file goes
// to a temporary directory, never /etc.
func TestSysctlFixNetns(t *testing.T) {
	ns := neightest.NewNamespace(t, "fix")
	if err := ns.Sysctl("net.ipv4.conf.all.arp_notify", "0"); err != nil {
		t.Fatal(err)
	}
	hostBefore, _ := os.ReadFile("/proc/sys/net/ipv4/conf/all/arp_notify")
	path := filepath.Join(t.TempDir(), "60-arpdoctor.conf")
	code, out, errOut := run(t, false, "--netns", ns.Name, "sysctl", "fix", "--path", path)
	if code == ExitTrouble {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "set net.ipv4.conf.all.arp_notify = 1 live (was 0)\n") {
		t.Errorf("output does not say arp_notify was set:\n%s", out)
	}
	if v, err := ns.ReadSysctl("net.ipv4.conf.all.arp_notify"); err != nil || v != "1" {
		t.Errorf("arp_notify in the namespace = %q, %v; want 1", v, err)
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/conf/all/arp_notify"); !bytes.Equal(after, hostBefore) {
		t.Errorf("the host's arp_notify changed from %q to %q", hostBefore, after)
	}
	code, out, _ = run(t, false, "--netns", ns.Name, "sysctl", "fix", "--path", path)
	if strings.Contains(out, "live (was") || strings.Contains(out, "wrote") {
		t.Errorf("second fix changed something (exit %d):\n%s", code, out)
	}
}
