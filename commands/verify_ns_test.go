package commands

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
)

// The incident, verified from the server: the entry for the reused IP is
// a mismatch with both MACs; a connection from the new client fails
// before and succeeds after verify --fix.
func TestVerifyIncident(t *testing.T) {
	in := neightest.NewIncident(t)
	in.Server.SetNeigh(netip.MustParseAddr("192.0.2.99"), "02:00:00:00:99:99", neigh.Stale)

	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	err := in.Connect(ctx)
	cancel()
	if err == nil {
		t.Fatal("the new client connected although the server caches the old MAC")
	}
	// The failed connect left the entry in DELAY or PROBE; put the
	// incident's state back.
	in.Server.SetNeigh(netip.MustParseAddr(neightest.ClientIP), neightest.OldMAC, neigh.Stale)

	code, out, errOut := run(t, false, "--netns", in.Server.Name, "verify", "-o", "json", "--timeout", "500ms")
	if code != ExitProblems {
		t.Fatalf("exit %d, want %d; stderr %s", code, ExitProblems, errOut)
	}
	var got []diagnose.ProbeRecord
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []diagnose.ProbeRecord{
		{IP: neightest.ClientIP, Interface: "eth0", StateBefore: "STALE", CachedMAC: neightest.OldMAC,
			AnsweredMACs: []string{neightest.NewMAC}, Verdict: "mismatch", Problem: true},
		{IP: "192.0.2.99", Interface: "eth0", StateBefore: "STALE", CachedMAC: "02:00:00:00:99:99",
			AnsweredMACs: []string{}, Verdict: "no_answer", Problem: true},
	}
	if diff := cmp.Diff(want, got, cmpIgnoreAfter); diff != "" {
		t.Errorf("verify (-want +got):\n%s", diff)
	}

	in.Server.SetNeigh(netip.MustParseAddr(neightest.ClientIP), neightest.OldMAC, neigh.Stale)
	code, out, errOut = run(t, true, "--netns", in.Server.Name, "--color", "never", "verify", "--fix", "--timeout", "500ms")
	// Every wrong entry was fixed: exit 0.
	if code != ExitOK {
		t.Fatalf("--fix: exit %d; stderr %s", code, errOut)
	}
	squeezed := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"IP INTERFACE STATE CACHED MAC ANSWERED VERDICT FIX",
		// The fix is a replacement, or nothing when the kernel took the
		// new MAC from the answer itself.
		"192.0.2.50 eth0 STALE 02:00:00:00:50:a1 02:00:00:00:50:b2 mismatch ",
		"192.0.2.99 eth0 STALE 02:00:00:00:99:99 - no_answer deleted",
		"2 entries probed in ",
		"192.0.2.50: the cache says 02:00:00:00:50:a1 but 02:00:00:00:50:b2 answers: the entry is stale",
	} {
		if !strings.Contains(squeezed, want) {
			t.Errorf("--fix output lacks %q:\n%s", want, out)
		}
	}
	c, err := neigh.Open(in.Server.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	es, _ := c.List(neigh.Filter{States: neigh.AllStates})
	macs := map[string]string{}
	for _, e := range es {
		macs[e.IP.String()] = e.MAC
	}
	if macs[neightest.ClientIP] != neightest.NewMAC {
		t.Errorf("after --fix the server maps %s to %q, want %s", neightest.ClientIP, macs[neightest.ClientIP], neightest.NewMAC)
	}
	if _, ok := macs["192.0.2.99"]; ok {
		t.Error("the dead entry is still there")
	}
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := in.Connect(ctx); err != nil {
		t.Errorf("after verify --fix the new client still cannot connect: %v", err)
	}
}

var cmpIgnoreAfter = cmp.FilterPath(func(p cmp.Path) bool {
	switch p.Last().String() {
	case ".StateAfter", ".MACAfter", ".Fix", ".CorrectedByKernel":
		return true
	}
	return false
}, cmp.Ignore())

func TestVerifyHealthy(t *testing.T) {
	lab := neightest.NewLab(t)
	a := lab.AddHost(neightest.HostConfig{Name: "a", MAC: "02:00:00:00:00:0a", Addrs: []string{"192.0.2.1/24", "2001:db8::1/64"}})
	lab.AddHost(neightest.HostConfig{Name: "b", MAC: "02:00:00:00:00:0b", Addrs: []string{"192.0.2.2/24", "2001:db8::2/64"}})
	a.SetNeigh(netip.MustParseAddr("192.0.2.2"), "02:00:00:00:00:0b", neigh.Stale)
	a.SetNeigh(netip.MustParseAddr("2001:db8::2"), "02:00:00:00:00:0b", neigh.Reachable)
	code, out, errOut := run(t, false, "--netns", a.Name, "verify", "--timeout", "300ms")
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, errOut)
	}
	want := "IP INTERFACE STATE CACHED MAC ANSWERED VERDICT\n" +
		"192.0.2.2 eth0 STALE 02:00:00:00:00:0b 02:00:00:00:00:0b ok\n" +
		"2001:db8::2 eth0 REACHABLE 02:00:00:00:00:0b 02:00:00:00:00:0b ok\n"
	if squeezed(out) != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if !strings.HasPrefix(errOut, "2 entries probed in ") || !strings.HasSuffix(errOut, ": 2 ok\n") {
		t.Errorf("stderr %q", errOut)
	}
}

// A dead PERMANENT entry goes with --fix --include-permanent; an entry on
// an interface that cannot be probed is reported unprobed, and the others
// are probed all the same.
func TestVerifyPermanentAndUnprobed(t *testing.T) {
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "h", Addrs: []string{"192.0.2.1/24"}})
	h.SetNeigh(netip.MustParseAddr("192.0.2.98"), "02:00:00:00:00:98", neigh.Permanent)
	// A tun device is made by an ioctl on /dev/net/tun, in the namespace
	// of the thread that opens it, whatever netlink handle asks: inside.
	err := h.Do(func() error {
		return netlink.LinkAdd(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "tun0"}, Mode: netlink.TUNTAP_MODE_TUN})
	})
	if err != nil {
		neightest.Skip(t, "no tun device: %v", err)
	}
	if err := neightest.SetNeigh(h.Namespace, "tun0", netip.MustParseAddr("203.0.113.5"), "", neigh.Stale, 0); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, false, "--netns", h.Name, "verify", "--fix", "--include-permanent", "-o", "json", "--timeout", "300ms")
	if code != 0 {
		t.Errorf("exit %d; stderr %s", code, errOut)
	}
	var got []diagnose.ProbeRecord
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []diagnose.ProbeRecord{
		{IP: "192.0.2.98", Interface: "eth0", StateBefore: "PERMANENT", CachedMAC: "02:00:00:00:00:98", AnsweredMACs: []string{},
			Verdict: "no_answer", StateAfter: "gone", Fix: "deleted"},
		// On a point-to-point device the kernel keys its one neighbor
		// entry by 0.0.0.0, whatever IP it is given.
		{IP: "0.0.0.0", Interface: "tun0", StateBefore: "STALE", AnsweredMACs: []string{}, Verdict: "unprobed",
			StateAfter: "STALE", Fix: "none: not probed", Unprobed: "probing on tun0: tun0 has no Ethernet address"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	code, _, errOut = run(t, false, "--netns", h.Name, "verify", "--state", "noarp")
	if code != ExitTrouble || !strings.Contains(errOut, "NOARP entries are not resolved by asking the network") {
		t.Errorf("--state noarp: exit %d, stderr %q", code, errOut)
	}
}

// On the real kernel: an IP the cache does not hold is probed as arping
// would, and its owner named; two owners make it a duplicate.
func TestVerifyUncachedInLab(t *testing.T) {
	lab := neightest.NewLab(t)
	a := lab.AddHost(neightest.HostConfig{Name: "a", MAC: "02:00:00:00:00:0a", Addrs: []string{"192.0.2.1/24"}})
	lab.AddHost(neightest.HostConfig{Name: "b", MAC: "02:00:00:00:00:0b", Addrs: []string{"192.0.2.2/24"}})
	lab.AddHost(neightest.HostConfig{Name: "c", MAC: "02:00:00:00:00:0c", Addrs: []string{"192.0.2.3/24"}})
	lab.AddHost(neightest.HostConfig{Name: "d", MAC: "02:00:00:00:00:0d", Addrs: []string{"192.0.2.3/24"}})
	code, out, errOut := run(t, false, "--netns", a.Name, "verify", "--ip", "192.0.2.2", "--ip", "192.0.2.3", "--ip", "192.0.2.9",
		"-o", "json", "--timeout", "300ms")
	if code != ExitProblems {
		t.Errorf("exit %d (want 1: 192.0.2.3 is claimed twice); stderr %s", code, errOut)
	}
	var got []diagnose.ProbeRecord
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	verdicts := map[string]string{}
	for _, r := range got {
		verdicts[r.IP] = r.Verdict + " " + strings.Join(r.AnsweredMACs, ",")
	}
	want := map[string]string{
		"192.0.2.2": "not_cached 02:00:00:00:00:0b",
		"192.0.2.9": "not_cached ",
	}
	for ip, v := range want {
		if verdicts[ip] != v {
			t.Errorf("%s: %q, want %q", ip, verdicts[ip], v)
		}
	}
	if !strings.HasPrefix(verdicts["192.0.2.3"], "duplicate ") {
		t.Errorf("192.0.2.3: %q, want a duplicate", verdicts["192.0.2.3"])
	}
}
