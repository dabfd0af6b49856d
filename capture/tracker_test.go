package capture

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// equateAddrs compares netip values by ==, as they are meant to be.
var equateAddrs = cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})

const (
	ms = time.Millisecond
	us = time.Microsecond
	s  = time.Second
)

type namedCapture struct {
	name string
	data []byte
}

// trace runs the captures through Run, as `trace -r` does.
func trace(t *testing.T, cfg RunConfig, captures ...namedCapture) ([]Finding, *Summary, error) {
	t.Helper()
	var found []Finding
	cfg.Emit = func(f Finding) { found = append(found, f) }
	for _, c := range captures {
		src, err := NewFileSource(c.name, bytes.NewReader(c.data))
		if err != nil {
			t.Fatalf("opening %s: %v", c.name, err)
		}
		cfg.Sources = append(cfg.Sources, src)
	}
	sum, err := Run(context.Background(), cfg)
	return found, sum, err
}

func traceOK(t *testing.T, cfg RunConfig, captures ...namedCapture) ([]Finding, *Summary) {
	t.Helper()
	found, sum, err := trace(t, cfg, captures...)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return found, sum
}

func at(d time.Duration) time.Time { return t0.Add(d) }

// numbered gives findings the IDs one tracker gives them, in order.
func numbered(fs []Finding) {
	for i := range fs {
		fs[i].ID = uint64(i + 1)
	}
}

// handshake writes a SYN from clientMAC and the server's SYN-ACK to
// synackTo, at d and 100µs later.
func (w *wire) synAndSynAck(d time.Duration, clientMAC, synackTo, client, server string, isn, srvISN uint32) *wire {
	w.after(d).tcp(clientMAC, serverMAC, client, server, isn, 0, "S", 0)
	w.after(d+100*us).tcp(serverMAC, synackTo, server, client, srvISN, isn+1, "SA", 0)
	return w
}

// later moves the capture clock far past every timeout, with a packet
// that belongs to no handshake the capture shows.
func (w *wire) later() *wire {
	return w.after(20*s).tcp(serverMAC, routerMAC, "192.0.2.10:22", "198.51.100.99:50000", 1, 1, "A", 0)
}

// The incident, as the server's capture shows it: the new instance sends
// SYNs from its MAC, the server answers the dead instance's MAC, again
// and again. Over IPv4, IPv6 and with a VLAN tag. The verdict comes once
// the retransmitted SYN is answered at the dead MAC again, and the SYN
// after it makes no second finding.
func TestStaleEntryFromTheServer(t *testing.T) {
	for _, tc := range []struct {
		name           string
		vlan           uint16
		client, server string
		want           string
	}{
		{
			name: "ipv4", client: "192.0.2.50:41000", server: "192.0.2.10:6379",
			want: "192.0.2.10 answers 192.0.2.50 at 02:00:00:00:50:a1, but 192.0.2.50 now sends from 02:00:00:00:50:b2: " +
				"the neighbor entry for 192.0.2.50 is stale " +
				"(192.0.2.50:41000 → 192.0.2.10:6379: 2 SYNs over 1s, 2 SYN-ACKs (2 to 02:00:00:00:50:a1), no ACK); " +
				"judged while 192.0.2.50 was still retransmitting its SYN: an update follows if the handshake completes",
		},
		{
			name: "ipv6", client: "[2001:db8::50]:41000", server: "[2001:db8::10]:6379",
			want: "2001:db8::10 answers 2001:db8::50 at 02:00:00:00:50:a1, but 2001:db8::50 now sends from 02:00:00:00:50:b2: " +
				"the neighbor entry for 2001:db8::50 is stale " +
				"([2001:db8::50]:41000 → [2001:db8::10]:6379: 2 SYNs over 1s, 2 SYN-ACKs (2 to 02:00:00:00:50:a1), no ACK); " +
				"judged while 2001:db8::50 was still retransmitting its SYN: an update follows if the handshake completes",
		},
		{
			name: "vlan", vlan: 100, client: "192.0.2.50:41000", server: "192.0.2.10:6379",
			want: "192.0.2.10 answers 192.0.2.50 at 02:00:00:00:50:a1, but 192.0.2.50 now sends from 02:00:00:00:50:b2: " +
				"the neighbor entry for 192.0.2.50 is stale " +
				"(192.0.2.50:41000 → 192.0.2.10:6379: 2 SYNs over 1s, 2 SYN-ACKs (2 to 02:00:00:00:50:a1), no ACK); " +
				"judged while 192.0.2.50 was still retransmitting its SYN: an update follows if the handshake completes",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWire(t)
			w.VLAN = tc.vlan
			w.synAndSynAck(0, newMAC, oldMAC, tc.client, tc.server, 1000, 5000).
				synAndSynAck(1*s, newMAC, oldMAC, tc.client, tc.server, 1000, 5000).
				synAndSynAck(3*s, newMAC, oldMAC, tc.client, tc.server, 1000, 5000).
				later()
			found, sum := traceOK(t, RunConfig{}, namedCapture{"server.pcap", w.pcap(LinkTypeEthernet)})
			want := []Finding{{
				Kind: SynAckToWrongMAC, Severity: Problem, Message: tc.want, Source: "server.pcap",
				Time: t0, End: at(1*s + 100*us),
				Client: mustAddrPort(t, tc.client), Server: mustAddrPort(t, tc.server), ClientISN: 1000,
				ClientMAC: newMAC, ServerMAC: serverMAC, SynAckTo: []MACCount{{MAC: oldMAC, Count: 2}},
				SYNs: 2, SYNACKs: 2, ID: 1, Outcome: Retrying, Duration: Seconds(1*s + 100*us),
			}}
			if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if sum.Problems != 1 || sum.Handshakes[SynAckToWrongMAC] != 1 {
				t.Errorf("summary: %d problems, handshakes %v; want 1 synack_to_wrong_mac", sum.Problems, sum.Handshakes)
			}
		})
	}
}

// Once the kernel gives up on the stale MAC and resolves anew, a SYN-ACK
// reaches the client and the handshake completes, late: the verdict given
// while the client retried is corrected, and the handshake counts once.
func TestStaleEntryCorrectedLate(t *testing.T) {
	w := newWire(t)
	w.synAndSynAck(0, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000).
		synAndSynAck(1*s, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000).
		synAndSynAck(3*s, newMAC, newMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000)
	w.after(3*s+200*us).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1001, 5001, "A", 0)
	found, sum := traceOK(t, RunConfig{}, namedCapture{"server.pcap", w.pcap(LinkTypeEthernet)})
	want := []Finding{{
		Kind: SynAckToWrongMAC, Severity: Problem, Source: "server.pcap",
		Message: "192.0.2.10 answers 192.0.2.50 at 02:00:00:00:50:a1, but 192.0.2.50 now sends from 02:00:00:00:50:b2: " +
			"the neighbor entry for 192.0.2.50 is stale " +
			"(192.0.2.50:41000 → 192.0.2.10:6379: 2 SYNs over 1s, 2 SYN-ACKs (2 to 02:00:00:00:50:a1), no ACK); " +
			"judged while 192.0.2.50 was still retransmitting its SYN: an update follows if the handshake completes",
		Time: t0, End: at(1*s + 100*us),
		Client: mustAddrPort(t, "192.0.2.50:41000"), Server: mustAddrPort(t, "192.0.2.10:6379"), ClientISN: 1000,
		ClientMAC: newMAC, ServerMAC: serverMAC, SynAckTo: []MACCount{{MAC: oldMAC, Count: 2}},
		SYNs: 2, SYNACKs: 2, ID: 1, Outcome: Retrying, Duration: Seconds(1*s + 100*us),
	}, {
		Kind: SynAckToWrongMAC, Severity: Problem, Source: "server.pcap",
		Correction: true, Corrects: 1, CorrectsKind: SynAckToWrongMAC, CorrectsSeverity: Problem,
		Message: "192.0.2.10 answers 192.0.2.50 at 02:00:00:00:50:a1, but 192.0.2.50 now sends from 02:00:00:00:50:b2: " +
			"the neighbor entry for 192.0.2.50 is stale; the handshake completed after 3s, once a SYN-ACK went to 02:00:00:00:50:b2 " +
			"(192.0.2.50:41000 → 192.0.2.10:6379: 3 SYNs over 3s, 3 SYN-ACKs (2 to 02:00:00:00:50:a1, 1 to 02:00:00:00:50:b2), ACK)",
		Time: t0, End: at(3*s + 200*us),
		Client: mustAddrPort(t, "192.0.2.50:41000"), Server: mustAddrPort(t, "192.0.2.10:6379"), ClientISN: 1000,
		ClientMAC: newMAC, ServerMAC: serverMAC,
		SynAckTo: []MACCount{{MAC: oldMAC, Count: 2}, {MAC: newMAC, Count: 1}},
		SYNs:     3, SYNACKs: 3, Acked: true, SetupTime: Seconds(3*s + 200*us),
		ID: 2, Outcome: CompletedLate, Duration: Seconds(3*s + 200*us),
	}}
	if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if sum.Problems != 1 || !cmp.Equal(map[Kind]int{SynAckToWrongMAC: 1}, sum.Handshakes) {
		t.Errorf("summary: %d problems, handshakes %v; want the handshake counted once", sum.Problems, sum.Handshakes)
	}
}

func TestSynAckUnacknowledged(t *testing.T) {
	w := newWire(t)
	w.synAndSynAck(0, newMAC, newMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000)
	// The server's own retransmission, without a new SYN.
	w.after(1*s).tcp(serverMAC, newMAC, "192.0.2.10:6379", "192.0.2.50:41000", 5000, 1001, "SA", 0)
	w.later()
	found, _ := traceOK(t, RunConfig{}, namedCapture{"server.pcap", w.pcap(LinkTypeEthernet)})
	want := []Finding{{
		Kind: SynAckUnacknowledged, Severity: Problem, Source: "server.pcap",
		Message: "192.0.2.10 answered 192.0.2.50's SYN, but no ACK came back " +
			"(192.0.2.50:41000 → 192.0.2.10:6379: 1 SYN, 2 SYN-ACKs (2 to 02:00:00:00:50:b2), no ACK)",
		Time: t0, End: at(1 * s),
		Client: mustAddrPort(t, "192.0.2.50:41000"), Server: mustAddrPort(t, "192.0.2.10:6379"), ClientISN: 1000,
		ClientMAC: newMAC, ServerMAC: serverMAC, SynAckTo: []MACCount{{MAC: newMAC, Count: 2}},
		SYNs: 1, SYNACKs: 2, ID: 1, Outcome: TimedOut, Duration: Seconds(1 * s),
	}}
	if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// The client's view: SYNs, retransmitted, and nothing back.
func TestSynUnanswered(t *testing.T) {
	w := newWire(t)
	for _, d := range []time.Duration{0, 1 * s, 3 * s} {
		w.after(d).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 0, "S", 0)
	}
	found, _ := traceOK(t, RunConfig{}, namedCapture{"client.pcap", w.pcap(LinkTypeEthernet)})
	want := []Finding{{
		Kind: SynUnanswered, Severity: Problem, Source: "client.pcap",
		Message: "192.0.2.50 got no answer from 192.0.2.10:6379 (192.0.2.50:41000 → 192.0.2.10:6379: 3 SYNs over 3s, nothing back); " +
			"the capture ended 0s after its last packet",
		Time: t0, End: at(3 * s),
		Client: mustAddrPort(t, "192.0.2.50:41000"), Server: mustAddrPort(t, "192.0.2.10:6379"), ClientISN: 1000,
		ClientMAC: newMAC, SYNs: 3, ID: 1, Outcome: CaptureEnded, Duration: Seconds(3 * s),
	}}
	if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestReset(t *testing.T) {
	w := newWire(t)
	// Refused by the server.
	w.after(0).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:81", 1000, 0, "S", 0)
	w.after(50*us).tcp(serverMAC, newMAC, "192.0.2.10:81", "192.0.2.50:41000", 0, 1001, "RA", 0)
	// Reset by the client after the SYN-ACK: a SYN scan.
	w.after(1*s).tcp(newMAC, serverMAC, "192.0.2.50:41001", "192.0.2.10:22", 2000, 0, "S", 0)
	w.after(1*s+50*us).tcp(serverMAC, newMAC, "192.0.2.10:22", "192.0.2.50:41001", 7000, 2001, "SA", 0)
	w.after(1*s+90*us).tcp(newMAC, serverMAC, "192.0.2.50:41001", "192.0.2.10:22", 2001, 0, "R", 0)
	found, sum := traceOK(t, RunConfig{}, namedCapture{"server.pcap", w.pcap(LinkTypeEthernet)})
	want := []Finding{
		{
			Kind: Reset, Severity: Problem, Source: "server.pcap",
			Message: "192.0.2.10 refused 192.0.2.50's connection to port 81 with RST: refused, not lost " +
				"(nothing listens there, or a firewall rejects it) (192.0.2.50:41000 → 192.0.2.10:81: 1 SYN, RST from the server)",
			Time: t0, End: at(50 * us),
			Client: mustAddrPort(t, "192.0.2.50:41000"), Server: mustAddrPort(t, "192.0.2.10:81"), ClientISN: 1000,
			ClientMAC: newMAC, SYNs: 1, ResetBy: "server", ID: 1, Outcome: ResetOutcome, Duration: Seconds(50 * us),
		},
		{
			Kind: Reset, Severity: Info, Source: "server.pcap",
			Message: "192.0.2.50 reset its own handshake with 192.0.2.10:22 after the SYN-ACK (a port scan, or a client that had given up) " +
				"(192.0.2.50:41001 → 192.0.2.10:22: 1 SYN, 1 SYN-ACK (1 to 02:00:00:00:50:b2), RST from the client)",
			Time: at(1 * s), End: at(1*s + 90*us),
			Client: mustAddrPort(t, "192.0.2.50:41001"), Server: mustAddrPort(t, "192.0.2.10:22"), ClientISN: 2000,
			ClientMAC: newMAC, ServerMAC: serverMAC, SynAckTo: []MACCount{{MAC: newMAC, Count: 1}},
			SYNs: 1, SYNACKs: 1, ResetBy: "client", ID: 2, Outcome: ResetOutcome, Duration: Seconds(90 * us),
		},
	}
	if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if sum.Problems != 1 {
		t.Errorf("problems = %d, want 1 (a client's reset is information)", sum.Problems)
	}
}

func TestHandshakeOK(t *testing.T) {
	w := newWire(t)
	w.synAndSynAck(0, newMAC, newMAC, "[2001:db8::50]:41000", "[2001:db8::10]:443", 1000, 5000)
	w.after(250*us).tcp(newMAC, serverMAC, "[2001:db8::50]:41000", "[2001:db8::10]:443", 1001, 5001, "A", 0)
	// Data and its acknowledgment: not part of the handshake.
	w.after(300*us).tcp(newMAC, serverMAC, "[2001:db8::50]:41000", "[2001:db8::10]:443", 1001, 5001, "PA", 500)
	w.after(400*us).tcp(serverMAC, newMAC, "[2001:db8::10]:443", "[2001:db8::50]:41000", 5001, 1501, "A", 0)
	found, sum := traceOK(t, RunConfig{}, namedCapture{"server.pcap", w.pcap(LinkTypeEthernet)})
	want := []Finding{{
		Kind: HandshakeOK, Severity: OK, Source: "server.pcap",
		Message: "[2001:db8::50]:41000 connected to [2001:db8::10]:443 in 250µs",
		Time:    t0, End: at(250 * us),
		Client: mustAddrPort(t, "[2001:db8::50]:41000"), Server: mustAddrPort(t, "[2001:db8::10]:443"), ClientISN: 1000,
		ClientMAC: newMAC, ServerMAC: serverMAC, SynAckTo: []MACCount{{MAC: newMAC, Count: 1}},
		SYNs: 1, SYNACKs: 1, Acked: true, SetupTime: Seconds(250 * us),
		ID: 1, Outcome: Completed, Duration: Seconds(250 * us),
	}}
	if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if sum.Problems != 0 || sum.Sources[0].Packets != 5 || sum.Sources[0].Matched != 4 {
		t.Errorf("summary: %+v; want no problems, 5 packets of which 4 passed the filter", sum)
	}

	// Counted, not built.
	found, sum = traceOK(t, RunConfig{CountOK: true}, namedCapture{"server.pcap", w.pcap(LinkTypeEthernet)})
	if len(found) != 0 || sum.Handshakes[HandshakeOK] != 1 {
		t.Errorf("CountOK: findings %+v, handshakes %v; want none, and one counted ok", found, sum.Handshakes)
	}
}

// Clients behind a router all send from the router's MAC; a server that
// answers through another gateway sends its SYN-ACKs elsewhere. That is
// routing, not a stale entry: a handshake that completes proves the other
// MAC forwards, and once a MAC has sent for three addresses it is a
// router's.
func TestRouterIsNotAStaleEntry(t *testing.T) {
	w := newWire(t)
	otherGateway := "02:00:00:00:00:02"
	clients := []string{"198.51.100.1:40000", "198.51.100.2:40000", "203.0.113.3:40000"}
	for i, c := range clients {
		d := time.Duration(i) * ms
		w.after(d).tcp(routerMAC, serverMAC, c, "192.0.2.10:443", uint32(100*i), 0, "S", 0)
		w.after(d+100*us).tcp(serverMAC, otherGateway, "192.0.2.10:443", c, 9000, uint32(100*i)+1, "SA", 0)
		if i < 2 {
			w.after(d+200*us).tcp(routerMAC, serverMAC, c, "192.0.2.10:443", uint32(100*i)+1, 9001, "A", 0)
		}
	}
	w.later()
	found, sum := traceOK(t, RunConfig{}, namedCapture{"server.pcap", w.pcap(LinkTypeEthernet)})
	completed := func(i int, msg, via string) Finding {
		return Finding{
			Kind: SynAckToWrongMAC, Severity: Info, Source: "server.pcap", Message: msg, ViaRouter: via,
			Time: at(time.Duration(i) * ms), End: at(time.Duration(i)*ms + 200*us),
			Client: mustAddrPort(t, clients[i]), Server: mustAddrPort(t, "192.0.2.10:443"), ClientISN: uint32(100 * i),
			ClientMAC: routerMAC, ServerMAC: serverMAC, SynAckTo: []MACCount{{MAC: otherGateway, Count: 1}},
			SYNs: 1, SYNACKs: 1, Acked: true, SetupTime: Seconds(200 * us),
			ID: uint64(i + 1), Outcome: Completed, Duration: Seconds(200 * us),
		}
	}
	want := []Finding{
		completed(0, "192.0.2.10 answered 198.51.100.1 at 02:00:00:00:00:02, not at 02:00:00:00:00:01 that sent the SYN, "+
			"but 02:00:00:00:00:02 passed the SYN-ACK on to 198.51.100.1 (the handshake completed): routing, not a stale entry "+
			"(198.51.100.1:40000 → 192.0.2.10:443: 1 SYN, 1 SYN-ACK (1 to 02:00:00:00:00:02), ACK)",
			"02:00:00:00:00:02 passed the SYN-ACK on to 198.51.100.1 (the handshake completed)"),
		completed(1, "192.0.2.10 answered 198.51.100.2 at 02:00:00:00:00:02, not at 02:00:00:00:00:01 that sent the SYN, "+
			"but 02:00:00:00:00:02 passed the SYN-ACK on to 198.51.100.2 (the handshake completed): routing, not a stale entry "+
			"(198.51.100.2:40000 → 192.0.2.10:443: 1 SYN, 1 SYN-ACK (1 to 02:00:00:00:00:02), ACK)",
			"02:00:00:00:00:02 passed the SYN-ACK on to 198.51.100.2 (the handshake completed)"),
		{
			Kind: SynAckUnacknowledged, Severity: Problem, Source: "server.pcap",
			Message: "192.0.2.10 answered 203.0.113.3's SYN, but no ACK came back; the SYN-ACK went to 02:00:00:00:00:02, " +
				"not to 02:00:00:00:00:01 that sent the SYN, but 02:00:00:00:00:01 sends for 3 or more addresses, as a router does " +
				"(203.0.113.3:40000 → 192.0.2.10:443: 1 SYN, 1 SYN-ACK (1 to 02:00:00:00:00:02), no ACK)",
			ViaRouter: "02:00:00:00:00:01 sends for 3 or more addresses, as a router does",
			Time:      at(2 * ms), End: at(2*ms + 100*us),
			Client: mustAddrPort(t, clients[2]), Server: mustAddrPort(t, "192.0.2.10:443"), ClientISN: 200,
			ClientMAC: routerMAC, ServerMAC: serverMAC, SynAckTo: []MACCount{{MAC: otherGateway, Count: 1}},
			SYNs: 1, SYNACKs: 1, ID: 3, Outcome: TimedOut, Duration: Seconds(100 * us),
		},
	}
	if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if sum.Problems != 1 {
		t.Errorf("problems = %d, want 1", sum.Problems)
	}
}
