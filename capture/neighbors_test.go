package capture

import (
	"net/netip"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
)

// The server's kernel, its entry for 192.0.2.50 stale, probes the cached
// MAC with unicast ARP requests (NUD PROBE); the dead instance never
// answers. Then the kernel asks by broadcast, and the new instance does.
func TestUnansweredARPProbe(t *testing.T) {
	w := newWire(t)
	// Long before, the old instance answered for the IP: that is how the
	// server learned its MAC.
	w.after(-10*s).arp(arpReply, oldMAC, serverMAC, "192.0.2.50", serverMAC, "192.0.2.10")
	for _, d := range []int{0, 1, 2} {
		w.after(time.Duration(d)*s).arp(arpRequest, serverMAC, oldMAC, "192.0.2.10", oldMAC, "192.0.2.50")
	}
	w.after(6*s).arp(arpRequest, serverMAC, bcastMAC, "192.0.2.10", "", "192.0.2.50")
	w.after(6*s+100*us).arp(arpReply, newMAC, serverMAC, "192.0.2.50", serverMAC, "192.0.2.10")
	// A probe that is answered is no finding.
	w.after(7*s).arp(arpRequest, serverMAC, newMAC, "192.0.2.10", newMAC, "192.0.2.50")
	w.after(7*s+100*us).arp(arpReply, newMAC, serverMAC, "192.0.2.50", serverMAC, "192.0.2.10")
	w.later()
	found, sum := traceOK(t, RunConfig{}, namedCapture{"server.pcap", w.pcap(LinkTypeEthernet)})
	want := []Finding{
		{
			Kind: UnansweredARPProbe, Severity: Problem, Source: "server.pcap",
			Message: "192.0.2.10 probed 192.0.2.50 at its cached MAC 02:00:00:00:50:a1 with 3 ARP requests and got no reply: " +
				"02:00:00:00:50:a1 is gone, the entry is stale",
			Time: t0, End: at(2 * s),
			IP: netip.MustParseAddr("192.0.2.50"), MAC: oldMAC, Prober: netip.MustParseAddr("192.0.2.10"), Probes: 3, Protocol: "arp",
		},
		{
			Kind: MACChanged, Severity: Info, Source: "server.pcap",
			Message: "192.0.2.50 moved from 02:00:00:00:50:a1 to 02:00:00:00:50:b2 (ARP): " +
				"hosts that still cache 02:00:00:00:50:a1 send to a MAC that no longer owns it",
			Time: at(6*s + 100*us),
			IP:   netip.MustParseAddr("192.0.2.50"), OldMAC: oldMAC, MAC: newMAC, Protocol: "arp",
		},
	}
	numbered(want)
	if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if sum.Problems != 1 || sum.Neighbors[UnansweredARPProbe] != 1 || sum.Neighbors[MACChanged] != 1 {
		t.Errorf("summary: %d problems, neighbors %v", sum.Problems, sum.Neighbors)
	}
}

// NDP's probe is a neighbor solicitation sent to the neighbor's own
// address instead of its solicited-node multicast group.
func TestUnansweredNDPProbe(t *testing.T) {
	w := newWire(t)
	w.after(0).ns(serverMAC, oldMAC, "2001:db8::10", "2001:db8::50", "2001:db8::50", serverMAC)
	w.after(1*s).ns(serverMAC, oldMAC, "2001:db8::10", "2001:db8::50", "2001:db8::50", serverMAC)
	// Resolution by multicast is not a probe; the advertisement claims
	// the address for the new MAC.
	w.after(2*s).ns(serverMAC, "33:33:ff:00:00:50", "2001:db8::10", "ff02::1:ff00:50", "2001:db8::50", serverMAC)
	w.after(2*s+100*us).na(newMAC, serverMAC, "2001:db8::50", "2001:db8::10", "2001:db8::50", newMAC)
	w.later()
	found, _ := traceOK(t, RunConfig{}, namedCapture{"server.pcap", w.pcap(LinkTypeEthernet)})
	want := []Finding{{
		Kind: UnansweredARPProbe, Severity: Problem, Source: "server.pcap",
		Message: "2001:db8::10 probed 2001:db8::50 at its cached MAC 02:00:00:00:50:a1 with 2 neighbor solicitations and got no reply: " +
			"02:00:00:00:50:a1 is gone, the entry is stale; 2001:db8::50 answered from 02:00:00:00:50:b2 instead",
		Time: t0, End: at(1 * s),
		IP: netip.MustParseAddr("2001:db8::50"), MAC: oldMAC, Prober: netip.MustParseAddr("2001:db8::10"), Probes: 2, Protocol: "ndp",
	}}
	numbered(want)
	if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// Two hosts answer for one IP in turn: a change, a change back (which a
// failback also makes), and a third change is a fight.
func TestDuplicateIP(t *testing.T) {
	w := newWire(t)
	macs := []string{oldMAC, newMAC, oldMAC, newMAC, oldMAC, newMAC}
	for i, m := range macs {
		w.after(time.Duration(i)*s).arp(arpReply, m, serverMAC, "192.0.2.50", serverMAC, "192.0.2.10")
	}
	// NDP: the same, told by advertisements without the target option.
	for i, m := range macs[:4] {
		w.after(10*s+time.Duration(i)*s).na(m, serverMAC, "2001:db8::50", "2001:db8::10", "2001:db8::50", "")
	}
	found, sum := traceOK(t, RunConfig{}, namedCapture{"lan.pcap", w.pcap(LinkTypeEthernet)})
	ip4, ip6 := netip.MustParseAddr("192.0.2.50"), netip.MustParseAddr("2001:db8::50")
	changed := func(ip netip.Addr, sec int, from, to, proto, upper string) Finding {
		return Finding{
			Kind: MACChanged, Severity: Info, Source: "lan.pcap", Time: at(time.Duration(sec) * s),
			Message: ip.String() + " moved from " + from + " to " + to + " (" + upper + "): hosts that still cache " + from +
				" send to a MAC that no longer owns it",
			IP: ip, OldMAC: from, MAC: to, Protocol: proto,
		}
	}
	want := []Finding{
		changed(ip4, 1, oldMAC, newMAC, "arp", "ARP"),
		changed(ip4, 2, newMAC, oldMAC, "arp", "ARP"),
		{
			Kind: DuplicateIP, Severity: Problem, Source: "lan.pcap", Time: at(3 * s),
			Message: "192.0.2.50 is claimed by both 02:00:00:00:50:a1 and 02:00:00:00:50:b2, back and forth 2 times (ARP): two hosts use one IP",
			IP:      ip4, MACs: []string{oldMAC, newMAC}, Flips: 2, Protocol: "arp",
		},
		changed(ip6, 11, oldMAC, newMAC, "ndp", "NDP"),
		changed(ip6, 12, newMAC, oldMAC, "ndp", "NDP"),
		{
			Kind: DuplicateIP, Severity: Problem, Source: "lan.pcap", Time: at(13 * s),
			Message: "2001:db8::50 is claimed by both 02:00:00:00:50:a1 and 02:00:00:00:50:b2, back and forth 2 times (NDP): two hosts use one IP",
			IP:      ip6, MACs: []string{oldMAC, newMAC}, Flips: 2, Protocol: "ndp",
		},
	}
	numbered(want)
	if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if sum.Problems != 2 {
		t.Errorf("problems = %d, want 2", sum.Problems)
	}
}

// fakeHost is a live host's kernel, as a test wants it.
type fakeHost struct {
	entries map[netip.Addr]KernelEntry
	offLink map[netip.Addr]bool
}

func (h fakeHost) Neighbor(ip netip.Addr) (KernelEntry, bool) {
	e, ok := h.entries[ip]
	return e, ok
}

func (h fakeHost) OnLink(ip netip.Addr) (bool, bool) { return !h.offLink[ip], true }

// Live, the finding carries the kernel's entry for the IP; a client that
// the routing table puts behind a gateway is no stale entry.
func TestLiveExtras(t *testing.T) {
	w := newWire(t)
	w.synAndSynAck(0, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000)
	w.synAndSynAck(1*ms, newMAC, oldMAC, "198.51.100.7:41000", "192.0.2.10:6379", 3000, 6000)
	for _, d := range []int{0, 1, 2} {
		w.after(2*s+time.Duration(d)*s).arp(arpRequest, serverMAC, oldMAC, "192.0.2.10", oldMAC, "192.0.2.50")
	}
	w.later()
	stale := KernelEntry{IP: netip.MustParseAddr("192.0.2.50"), MAC: oldMAC, State: neigh.Probe, Interface: "eth0"}
	host := fakeHost{
		entries: map[netip.Addr]KernelEntry{stale.IP: stale},
		offLink: map[netip.Addr]bool{netip.MustParseAddr("198.51.100.7"): true},
	}
	found, _ := traceOK(t, RunConfig{Host: host}, namedCapture{"eth0", w.pcap(LinkTypeEthernet)})
	type brief struct {
		Kind      Kind
		Severity  Severity
		Peer      netip.Addr
		ViaRouter string
		Kernel    *KernelEntry
	}
	var got []brief
	for _, f := range found {
		got = append(got, brief{f.Kind, f.Severity, f.Peer(), f.ViaRouter, f.Kernel})
	}
	want := []brief{
		{SynAckToWrongMAC, Problem, stale.IP, "", &stale},
		{SynAckUnacknowledged, Problem, netip.MustParseAddr("198.51.100.7"), "198.51.100.7 is not on-link: the route to it goes through a gateway", nil},
		{UnansweredARPProbe, Problem, stale.IP, "", &stale},
	}
	if diff := cmp.Diff(want, got, equateAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if want := "; the kernel's entry now: 192.0.2.50 at 02:00:00:00:50:a1, PROBE"; !endsWith(found[0].Message, want) {
		t.Errorf("message %q does not end with %q", found[0].Message, want)
	}
}

func endsWith(s, suffix string) bool {
	return len(s) >= len(suffix) && s[len(s)-len(suffix):] == suffix
}
