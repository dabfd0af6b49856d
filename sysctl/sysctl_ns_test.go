package sysctl_test

import (
	"errors"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
)

func setSysctl(t *testing.T, ns *neightest.Namespace, key, value string) {
	t.Helper()
	if err := ns.Sysctl(key, value); err != nil {
		t.Fatal(err)
	}
}

// Per-interface keys come from the namespace's own /proc/sys, read from a
// thread inside it; the table-wide keys, which no namespace but the
// initial one has in /proc/sys, come over netlink and say so.
func TestLiveInNamespace(t *testing.T) {
	lab := neightest.NewLab(t)
	host := lab.AddHost(neightest.HostConfig{Name: "server", MAC: "02:00:00:00:00:10",
		Addrs: []string{"192.0.2.10/24", "2001:db8::10/64"}})
	setSysctl(t, host.Namespace, "net.ipv4.neigh.eth0.base_reachable_time_ms", "12000")
	setSysctl(t, host.Namespace, "net.ipv6.neigh.eth0.ucast_solicit", "5")
	setSysctl(t, host.Namespace, "net.ipv4.conf.eth0.arp_notify", "1")
	setSysctl(t, host.Namespace, "net.ipv6.conf.eth0.ndisc_notify", "1")
	host.SetNeigh(netip.MustParseAddr("192.0.2.50"), "02:00:00:00:50:a1", neigh.Stale)
	host.SetNeigh(netip.MustParseAddr("192.0.2.52"), "02:00:00:00:50:a2", neigh.Permanent)
	// A tunnel speaks no ARP: its arp_notify means nothing, and it is left
	// out of the interfaces the ARP rules judge. (A tun device is made in
	// the namespace of the thread that opens /dev/net/tun: inside.)
	tunErr := host.Do(func() error {
		return netlink.LinkAdd(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "tun0"}, Mode: netlink.TUNTAP_MODE_TUN})
	})
	if tunErr != nil {
		neightest.Skip(t, "no tun device: %v", tunErr)
	}

	c, err := neigh.Open(host.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	extra := []sysctl.Key{"net.ipv4.conf.eth9.arp_notify", "net.ipv4.neigh.default.gc_thresh3", "net.ipv4.conf.*.arp_notify"}
	s, err := sysctl.ReadRunning(sysctl.Running{Root: "/", Do: host.Do, Kernel: c}, extra)
	if err != nil {
		t.Fatal(err)
	}
	if s.InitialNamespace {
		t.Error("a namespace of the lab taken for the initial one")
	}
	if diff := cmp.Diff([]string{"eth0"}, s.Interfaces); diff != "" {
		t.Errorf("interfaces (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"eth0"}, s.IPv6Interfaces); diff != "" {
		t.Errorf("IPv6 interfaces (-want +got):\n%s", diff)
	}
	for key, want := range map[sysctl.Key]string{
		"net.ipv4.neigh.eth0.base_reachable_time_ms": "12000 /proc/sys",
		"net.ipv6.neigh.eth0.ucast_solicit":          "5 /proc/sys",
		"net.ipv4.conf.eth0.arp_notify":              "1 /proc/sys",
		"net.ipv6.conf.eth0.ndisc_notify":            "1 /proc/sys",
	} {
		got := "absent"
		if v, ok := s.Lookup(key); ok {
			got = v.Value + " " + v.Source
		}
		if got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}

	tables, err := c.Tables("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		dir := map[neigh.Family]string{neigh.Inet: "ipv4", neigh.Inet6: "ipv6"}[tb.Family]
		for i, want := range []uint32{tb.Thresh1, tb.Thresh2, tb.Thresh3} {
			key := sysctl.Key("net." + dir + ".neigh.default.gc_thresh" + strconv.Itoa(i+1))
			v, ok := s.Lookup(key)
			if !ok || v.Source != sysctl.SourceNetlink || v.Value != strconv.FormatUint(uint64(want), 10) {
				t.Errorf("%s = %+v, want %d from netlink", key, v, want)
			}
			// The table is machine-wide: where this process sees the
			// initial namespace's /proc/sys, it shows the same value.
			if b, err := os.ReadFile("/proc/sys/" + key.Path()); err == nil && strings.TrimSpace(string(b)) != v.Value {
				t.Errorf("%s: netlink says %s, /proc/sys of the initial namespace %s", key, v.Value, b)
			}
		}
	}
	wantNotes := []string{
		"net.ipv4.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink",
		"net.ipv6.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink",
	}
	if diff := cmp.Diff(wantNotes, s.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	use, ok := s.Table(neigh.Inet)
	if !ok || use.Entries < 1 || use.Name != "arp_cache" {
		t.Errorf("arp_cache use = %+v, %v; want the STALE entry counted", use, ok)
	}

	rules, _ := sysctl.Profile("cloud")
	rep := sysctl.Check(s, rules, sysctl.CheckOptions{})
	for _, r := range rep.Results {
		if (r.Rule == "arp-notify" || r.Rule == "ndisc-notify") && r.Status != sysctl.StatusOK {
			t.Errorf("%s = %+v, want OK: eth0, the only interface, announces", r.Rule, r)
		}
	}

	// The namespace has no eth9: a rule of the user's on it fails. A
	// glob covers every interface, lo too; gc_thresh3 is the table's,
	// read over netlink.
	var mine []sysctl.Rule
	for _, x := range []string{"net.ipv4.conf.eth9.arp_notify=1", "net.ipv4.neigh.default.gc_thresh3>=1", "net.ipv4.conf.*.arp_notify<=1"} {
		r, err := sysctl.ExpectRule(x, sysctl.StatusFail)
		if err != nil {
			t.Fatal(err)
		}
		mine = append(mine, r)
	}
	var got []string
	for _, r := range sysctl.Check(s, mine, sysctl.CheckOptions{}).Results {
		got = append(got, string(r.Status)+" "+r.Key+": "+r.Message)
	}
	want := []string{
		"FAIL net.ipv4.conf.eth9.arp_notify: no such setting: net.ipv4.conf.eth9.arp_notify is not in /proc/sys here: there is no interface eth9 in this network namespace",
		"OK net.ipv4.neigh.default.gc_thresh3: as --expect wants",
		"OK net.ipv4.conf.all.arp_notify: as --expect wants",
		"OK net.ipv4.conf.default.arp_notify: as --expect wants",
		"OK net.ipv4.conf.eth0.arp_notify: as --expect wants",
		"OK net.ipv4.conf.tun0.arp_notify: as --expect wants",
		"OK net.ipv4.conf.lo.arp_notify: as --expect wants",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rules of the user's (-want +got):\n%s", diff)
	}
}

// Applying live writes the namespace's own /proc/sys, and a key the
// namespace does not have fails there instead of reaching the host's.
func TestApplyLiveInNamespace(t *testing.T) {
	ns := neightest.NewNamespace(t, "fix")
	setSysctl(t, ns, "net.ipv4.conf.all.arp_notify", "0")
	hostBefore, _ := os.ReadFile("/proc/sys/net/ipv4/conf/all/arp_notify")

	changes := []sysctl.LiveChange{{Key: "net.ipv4.conf.all.arp_notify", From: "0", To: "1"}}
	if err := sysctl.ApplyLive("/", ns.Do, changes); err != nil {
		t.Fatal(err)
	}
	if !changes[0].Applied {
		t.Error("change not marked applied")
	}
	if v, err := ns.ReadSysctl("net.ipv4.conf.all.arp_notify"); err != nil || v != "1" {
		t.Errorf("arp_notify in the namespace = %q, %v; want 1", v, err)
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/conf/all/arp_notify"); string(after) != string(hostBefore) {
		t.Errorf("the host's arp_notify changed from %q to %q", hostBefore, after)
	}

	// Should the namespace switch ever fail silently, this writes the
	// host's own value back to it: harmless.
	same := "128"
	if b, err := os.ReadFile("/proc/sys/net/ipv4/neigh/default/gc_thresh1"); err == nil {
		same = strings.TrimSpace(string(b))
	}
	err := sysctl.ApplyLive("/", ns.Do, []sysctl.LiveChange{{Key: "net.ipv4.neigh.default.gc_thresh1", To: same}})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("setting gc_thresh1 inside a namespace: %v, want not exist", err)
	}
}
