package capture

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
)

// When a client sends its SYNs: Linux since 6.5 retransmits a second
// after the first, four more times a second apart
// (tcp_syn_linear_timeouts), then with exponential backoff; before 6.5
// with exponential backoff from the start. There are tcp_syn_retries (6)
// retransmissions, and the linear ones besides; the client gives up twice
// the last gap after the last one.
var (
	linuxSYNs    = []time.Duration{0, 1 * s, 2 * s, 3 * s, 4 * s, 5 * s, 7 * s, 11 * s, 19 * s, 35 * s, 67 * s}
	oldLinuxSYNs = []time.Duration{0, 1 * s, 3 * s, 7 * s, 15 * s, 31 * s, 63 * s}
)

const (
	lateClient = "192.0.2.50:41000"
	lateServer = "192.0.2.10:6379"
)

// healing writes the incident as the server sees it when its kernel
// resolves the client anew by itself: SYNs at the times given, each
// answered with a SYN-ACK to the dead MAC, until the SYN at heal, whose
// SYN-ACK goes to the new MAC 100ms later and is acknowledged 100ms after
// that. heal < 0: the entry never heals, the client gives up.
func healing(t testing.TB, syns []time.Duration, heal int) *wire {
	w := newWire(t)
	for i, d := range syns {
		w.after(d).tcp(newMAC, serverMAC, lateClient, lateServer, 1000, 0, "S", 0)
		if i == heal {
			w.after(d+100*ms).tcp(serverMAC, newMAC, lateServer, lateClient, 5000, 1001, "SA", 0)
			w.after(d+200*ms).tcp(newMAC, serverMAC, lateClient, lateServer, 1001, 5001, "A", 0)
			return w
		}
		w.after(d+100*us).tcp(serverMAC, oldMAC, lateServer, lateClient, 5000, 1001, "SA", 0)
	}
	return w
}

// retrying writes the same handshake as the client sees it: SYNs at the
// times given and nothing back, until the SYN at heal, whose SYN-ACK comes
// 100ms later and is acknowledged 100ms after that. heal < 0: the client
// gives up.
func retrying(t *testing.T, syns []time.Duration, heal int) *wire {
	w := newWire(t)
	for i, d := range syns {
		w.after(d).tcp(newMAC, serverMAC, lateClient, lateServer, 1000, 0, "S", 0)
		if i == heal {
			w.after(d+100*ms).tcp(serverMAC, newMAC, lateServer, lateClient, 5000, 1001, "SA", 0)
			w.after(d+200*ms).tcp(newMAC, serverMAC, lateClient, lateServer, 1001, 5001, "A", 0)
			return w
		}
	}
	return w
}

// The wait after a SYN covers the next retransmission whatever the
// backoff, within the handshake timeout.
func TestWaits(t *testing.T) {
	for _, tc := range []struct {
		timeout time.Duration
		gaps    []time.Duration
		want    time.Duration
	}{
		{0, nil, 3 * s},
		{0, []time.Duration{1 * s}, 3 * s},
		{0, []time.Duration{1 * s, 1250 * ms}, 3 * s},
		{0, []time.Duration{1 * s, 1300 * ms}, 6 * s},
		{0, []time.Duration{1 * s, 2 * s}, 6 * s},
		{0, []time.Duration{4 * s}, 12 * s},
		{0, []time.Duration{8 * s}, 24 * s},
		{0, []time.Duration{16 * s}, 48 * s},
		{0, []time.Duration{32 * s}, 65 * s},
		{0, []time.Duration{time.Hour}, 65 * s},
		{10 * s, []time.Duration{4 * s}, 10 * s},
		{2 * s, nil, 2 * s},
	} {
		if got := (TrackerConfig{HandshakeTimeout: tc.timeout}).Wait(tc.gaps...); got != tc.want {
			t.Errorf("timeout %v, gaps %v: wait %v, want %v", tc.timeout, tc.gaps, got, tc.want)
		}
	}
}

// Gaps of 1 s, then 2 s and 4 s give no verdict before the handshake
// completes: seen from the client, where nothing shows a stale entry, one
// finding, the late completion.
func TestNoVerdictWhileTheClientRetransmits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		syns     []time.Duration
		heal     int
		duration time.Duration
	}{
		{"linux", linuxSYNs, 7, 11*s + 200*ms},
		{"linux before 6.5", oldLinuxSYNs, 4, 15*s + 200*ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := retrying(t, tc.syns, tc.heal).later()
			found, sum := traceOK(t, RunConfig{}, namedCapture{"client.pcap", w.pcap(LinkTypeEthernet)})
			want := []Finding{{
				Kind: HandshakeOK, Severity: OK, ID: 1, Source: "client.pcap",
				Message: "192.0.2.50:41000 connected to 192.0.2.10:6379 in " + fmtDuration(tc.duration),
				Time:    t0, End: at(tc.duration),
				Client: mustAddrPort(t, lateClient), Server: mustAddrPort(t, lateServer), ClientISN: 1000,
				ClientMAC: newMAC, ServerMAC: serverMAC, SynAckTo: []MACCount{{MAC: newMAC, Count: 1}},
				SYNs: tc.heal + 1, SYNACKs: 1, Acked: true, SetupTime: Seconds(tc.duration),
				Outcome: CompletedLate, Duration: Seconds(tc.duration),
			}}
			if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if sum.Problems != 0 {
				t.Errorf("problems = %d, want none", sum.Problems)
			}
		})
	}
}

// A client that gives up gets its verdict once it has: 64 s after its last
// SYN, not before, and within the handshake timeout.
func TestVerdictWhenTheClientGivesUp(t *testing.T) {
	w := retrying(t, linuxSYNs, -1)
	var found []Finding
	tr, err := NewTracker(TrackerConfig{Source: "eth0", LinkType: LinkTypeEthernet, Emit: func(f Finding) { found = append(found, f) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range w.packets(LinkTypeEthernet) {
		tr.Packet(p.data, p.ci)
		if len(found) > 0 {
			t.Fatalf("verdict at %v, while the client retransmits: %s", p.ci.Timestamp.Sub(t0), found[0].Message)
		}
	}
	last := linuxSYNs[len(linuxSYNs)-1]
	tr.Advance(at(last + 64*s))
	if len(found) > 0 {
		t.Fatalf("verdict before the client gave up: %s", found[0].Message)
	}
	tr.Advance(at(last + 66*s))
	if len(found) != 1 || found[0].Kind != SynUnanswered || found[0].Outcome != TimedOut || found[0].SYNs != len(linuxSYNs) {
		t.Fatalf("findings %+v, want one syn_unanswered of %d SYNs, timed out", found, len(linuxSYNs))
	}
	if want := Seconds(last); found[0].Duration != want {
		t.Errorf("duration %v, want %v", time.Duration(found[0].Duration), time.Duration(want))
	}
}

// The server's view of the incident names the stale entry while the
// client still retries: as soon as the server answers the retransmitted
// SYN at the dead MAC again, not two minutes later when the client gives
// up. The handshake gets that one verdict, whatever follows: more SYNs,
// the client giving up, the end of the capture.
func TestStaleEntryJudgedWhileTheClientRetries(t *testing.T) {
	w := healing(t, linuxSYNs, -1)
	var found []Finding
	tr, err := NewTracker(TrackerConfig{Source: "eth0", LinkType: LinkTypeEthernet, Emit: func(f Finding) { found = append(found, f) }})
	if err != nil {
		t.Fatal(err)
	}
	// SYN, SYN-ACK to the dead MAC, the SYN again, and its SYN-ACK to the
	// dead MAC again: the fourth packet brings the verdict.
	for n, p := range w.packets(LinkTypeEthernet) {
		tr.Packet(p.data, p.ci)
		if n < 3 && len(found) > 0 {
			t.Fatalf("verdict after packet %d, before the retransmitted SYN was answered: %s", n+1, found[0].Message)
		}
		if n == 3 && len(found) != 1 {
			t.Fatalf("%d findings after the retransmitted SYN was answered at the dead MAC again, want the verdict", len(found))
		}
	}
	tr.Advance(at(linuxSYNs[len(linuxSYNs)-1] + 66*s))
	tr.Close()
	if len(found) != 1 {
		t.Fatalf("%d findings, want one verdict on one handshake: %+v", len(found), found)
	}
	f := found[0]
	want := "192.0.2.10 answers 192.0.2.50 at 02:00:00:00:50:a1, but 192.0.2.50 now sends from 02:00:00:00:50:b2: " +
		"the neighbor entry for 192.0.2.50 is stale (192.0.2.50:41000 → 192.0.2.10:6379: 2 SYNs over 1s, " +
		"2 SYN-ACKs (2 to 02:00:00:00:50:a1), no ACK); judged while 192.0.2.50 was still retransmitting its SYN: " +
		"an update follows if the handshake completes"
	if f.Kind != SynAckToWrongMAC || f.Severity != Problem || f.Outcome != Retrying || f.SYNs != 2 || f.Correction || f.Message != want {
		t.Errorf("verdict %+v, want synack_to_wrong_mac of 2 SYNs, retrying: %q", f, want)
	}

	// Counted once, by trace's summary as by anything that counts what
	// Run emits.
	emitted, sum := traceOK(t, RunConfig{}, namedCapture{"server.pcap", w.later().pcap(LinkTypeEthernet)})
	if len(emitted) != 1 || sum.Problems != 1 || !cmp.Equal(map[Kind]int{SynAckToWrongMAC: 1}, sum.Handshakes) {
		t.Errorf("Run: %d findings, %d problems, handshakes %v; want the one verdict", len(emitted), sum.Problems, sum.Handshakes)
	}
}

// What the early verdict does not take for a stale entry.
func TestNoEarlyVerdict(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(w *wire)
	}{
		{"no retransmission", func(w *wire) {
			// The server's own SYN-ACK retransmission: the client may yet ACK.
			w.synAndSynAck(0, newMAC, oldMAC, lateClient, lateServer, 1000, 5000)
			w.after(1*s).tcp(serverMAC, oldMAC, lateServer, lateClient, 5000, 1001, "SA", 0)
		}},
		{"retransmission not yet answered", func(w *wire) {
			w.synAndSynAck(0, newMAC, oldMAC, lateClient, lateServer, 1000, 5000)
			w.after(1*s).tcp(newMAC, serverMAC, lateClient, lateServer, 1000, 0, "S", 0)
		}},
		{"answered at the client's MAC after all", func(w *wire) {
			w.synAndSynAck(0, newMAC, oldMAC, lateClient, lateServer, 1000, 5000)
			w.synAndSynAck(1*s, newMAC, newMAC, lateClient, lateServer, 1000, 5000)
			w.synAndSynAck(3*s, newMAC, oldMAC, lateClient, lateServer, 1000, 5000)
		}},
		{"a router's MAC", func(w *wire) {
			for i, c := range []string{"198.51.100.1:40000", "198.51.100.2:40000"} {
				w.after(time.Duration(i)*ms).tcp(routerMAC, serverMAC, c, lateServer, uint32(i), 0, "S", 0)
			}
			w.synAndSynAck(0, routerMAC, oldMAC, "203.0.113.3:40000", lateServer, 1000, 5000)
			w.synAndSynAck(1*s, routerMAC, oldMAC, "203.0.113.3:40000", lateServer, 1000, 5000)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWire(t)
			tc.write(w)
			var found []Finding
			tr, err := NewTracker(TrackerConfig{Source: "eth0", LinkType: LinkTypeEthernet, Emit: func(f Finding) { found = append(found, f) }})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range w.packets(LinkTypeEthernet) {
				tr.Packet(p.data, p.ci)
			}
			for _, f := range found {
				if f.Kind.IsHandshake() {
					t.Errorf("verdict before the wait ran out: %+v", f)
				}
			}
		})
	}
}

// A verdict given before the handshake completed (here as soon as the
// stale entry was evident, while the client retried) is corrected when it
// completes: a second finding that names the first, counted once.
func TestLateCompletionCorrectsTheVerdict(t *testing.T) {
	w := healing(t, linuxSYNs, 7).later()
	found, sum := traceOK(t, RunConfig{}, namedCapture{"server.pcap", w.pcap(LinkTypeEthernet)})
	if len(found) != 2 {
		t.Fatalf("%d findings, want the verdict and its correction: %+v", len(found), found)
	}
	first := found[0]
	if first.Kind != SynAckToWrongMAC || first.Outcome != Retrying || first.SYNs != 2 || first.Correction {
		t.Errorf("first finding %+v, want synack_to_wrong_mac of 2 SYNs, retrying", first)
	}
	want := Finding{
		Kind: SynAckToWrongMAC, Severity: Problem, ID: 2, Source: "server.pcap",
		Correction: true, Corrects: 1, CorrectsKind: SynAckToWrongMAC, CorrectsSeverity: Problem,
		Message: "192.0.2.10 answers 192.0.2.50 at 02:00:00:00:50:a1, but 192.0.2.50 now sends from 02:00:00:00:50:b2: " +
			"the neighbor entry for 192.0.2.50 is stale; the handshake completed after 11.2s, once a SYN-ACK went to 02:00:00:00:50:b2 " +
			"(192.0.2.50:41000 → 192.0.2.10:6379: 8 SYNs over 11s, 8 SYN-ACKs (7 to 02:00:00:00:50:a1, 1 to 02:00:00:00:50:b2), ACK)",
		Time: t0, End: at(11*s + 200*ms),
		Client: mustAddrPort(t, lateClient), Server: mustAddrPort(t, lateServer), ClientISN: 1000,
		ClientMAC: newMAC, ServerMAC: serverMAC,
		SynAckTo: []MACCount{{MAC: oldMAC, Count: 7}, {MAC: newMAC, Count: 1}},
		SYNs:     8, SYNACKs: 8, Acked: true, SetupTime: Seconds(11*s + 200*ms),
		Outcome: CompletedLate, Duration: Seconds(11*s + 200*ms),
	}
	if diff := cmp.Diff(want, found[1], equateAddrs); diff != "" {
		t.Errorf("correction (-want +got):\n%s", diff)
	}
	wantSum := map[Kind]int{SynAckToWrongMAC: 1}
	if sum.Problems != 1 || !cmp.Equal(wantSum, sum.Handshakes) || len(sum.TopPeers) != 1 || sum.TopPeers[0].Problems != 1 {
		t.Errorf("summary: %d problems, handshakes %v, top peers %+v; want the handshake counted once", sum.Problems, sum.Handshakes, sum.TopPeers)
	}

	b, err := json.Marshal(found[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"id":2`, `"correction":true`, `"corrects":1`, `"corrects_kind":"synack_to_wrong_mac"`,
		`"corrects_severity":"problem"`, `"outcome":"completed_late"`, `"duration_s":11.2`, `"setup_s":11.2`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("JSON lacks %s: %s", field, b)
		}
	}
	b, _ = json.Marshal(found[0])
	if strings.Contains(string(b), `"correction"`) || !strings.Contains(string(b), `"id":1,`) || !strings.Contains(string(b), `"outcome":"retrying"`) {
		t.Errorf("JSON of the first verdict: %s", b)
	}
}

// From the client's side the failure is syn_unanswered; when the
// handshake completes after that verdict, the correction is what trace
// would have said had it waited: the handshake worked, slowly. The
// summary then counts no problem.
func TestCorrectionToHandshakeOK(t *testing.T) {
	w := newWire(t)
	for _, d := range linuxSYNs[:8] {
		w.after(d).tcp(newMAC, serverMAC, lateClient, lateServer, 1000, 0, "S", 0)
	}
	w.after(11*s+100*ms).tcp(serverMAC, newMAC, lateServer, lateClient, 5000, 1001, "SA", 0)
	w.after(11*s+100*ms+50*us).tcp(newMAC, serverMAC, lateClient, lateServer, 1001, 5001, "A", 0)
	w.later()
	found, sum := traceOK(t, RunConfig{HandshakeTimeout: 3 * s, CountOK: true}, namedCapture{"client.pcap", w.pcap(LinkTypeEthernet)})
	type brief struct {
		Kind       Kind
		Severity   Severity
		ID         uint64
		Correction bool
		Corrects   uint64
		Outcome    Outcome
		Message    string
	}
	var got []brief
	for _, f := range found {
		got = append(got, brief{f.Kind, f.Severity, f.ID, f.Correction, f.Corrects, f.Outcome, f.Message})
	}
	want := []brief{
		{SynUnanswered, Problem, 1, false, 0, TimedOut,
			"192.0.2.50 got no answer from 192.0.2.10:6379 (192.0.2.50:41000 → 192.0.2.10:6379: 7 SYNs over 7s, nothing back)"},
		{HandshakeOK, OK, 2, true, 1, CompletedLate, "192.0.2.50:41000 connected to 192.0.2.10:6379 in 11.1s"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if sum.Problems != 0 || !cmp.Equal(map[Kind]int{HandshakeOK: 1}, sum.Handshakes) || len(sum.TopPeers) != 0 {
		t.Errorf("summary: %d problems, handshakes %v, top peers %+v; want one handshake_ok", sum.Problems, sum.Handshakes, sum.TopPeers)
	}
}

// Matched across captures, nothing has gone out before the end: the
// correction takes the place of the verdict it corrects.
func TestCorrectionAcrossCaptures(t *testing.T) {
	server := healing(t, linuxSYNs, 7).later()
	client := newWire(t)
	for _, d := range linuxSYNs[:8] {
		client.after(d).tcp(newMAC, serverMAC, lateClient, lateServer, 1000, 0, "S", 0)
	}
	client.after(11*s+100*ms).tcp(serverMAC, newMAC, lateServer, lateClient, 5000, 1001, "SA", 0)
	client.after(11*s+200*ms).tcp(newMAC, serverMAC, lateClient, lateServer, 1001, 5001, "A", 0)
	found, sum := traceOK(t, RunConfig{HandshakeTimeout: 3 * s},
		namedCapture{"server.pcap", server.pcap(LinkTypeEthernet)}, namedCapture{"client.pcap", client.pcap(LinkTypeEthernet)})
	if len(found) != 1 {
		t.Fatalf("%d findings, want one: %+v", len(found), found)
	}
	f := found[0]
	if f.Kind != SynAckToWrongMAC || f.Correction || f.Corrects != 0 || f.Outcome != CompletedLate || f.ID != 1 ||
		!cmp.Equal(f.SeenIn, []string{"server.pcap", "client.pcap"}) {
		t.Errorf("finding %+v, want the corrected verdict, as the first", f)
	}
	if sum.Problems != 1 || !cmp.Equal(map[Kind]int{SynAckToWrongMAC: 1}, sum.Handshakes) {
		t.Errorf("summary: %d problems, handshakes %v", sum.Problems, sum.Handshakes)
	}
}

// Live, when the kernel has already resolved the client anew, the finding
// says so: there is nothing left to flush.
func TestKernelCorrected(t *testing.T) {
	w := healing(t, linuxSYNs, 7).later()
	healed := KernelEntry{IP: netip.MustParseAddr("192.0.2.50"), MAC: newMAC, State: neigh.Reachable, Interface: "eth0"}
	host := fakeHost{entries: map[netip.Addr]KernelEntry{healed.IP: healed}}
	emitted, _ := traceOK(t, RunConfig{Host: host}, namedCapture{"eth0", w.pcap(LinkTypeEthernet)})
	var found []Finding
	for _, f := range emitted {
		found = AddFinding(found, f)
	}
	if len(found) != 1 || !found[0].KernelCorrected || found[0].Kernel == nil || *found[0].Kernel != healed {
		t.Fatalf("findings %+v, want one with the kernel's corrected entry", found)
	}
	if want := "; the kernel's entry now: 192.0.2.50 at 02:00:00:00:50:b2, REACHABLE: the kernel has corrected it"; !endsWith(found[0].Message, want) {
		t.Errorf("message %q does not end with %q", found[0].Message, want)
	}
}

// A judged handshake is remembered for linger after its verdict, whatever
// its wait was, so that the judged list stays in the order of time and
// none outstays its welcome.
func TestJudgedAreRememberedFromTheirVerdict(t *testing.T) {
	w := newWire(t)
	for _, d := range oldLinuxSYNs[:5] { // the last at 15 s, 8 s after the one before: waits 24 s
		w.after(d).tcp(newMAC, serverMAC, "192.0.2.51:41000", lateServer, 1, 0, "S", 0)
	}
	w.after(36*s).tcp(newMAC, serverMAC, "192.0.2.52:41000", lateServer, 2, 0, "S", 0) // waits 3 s
	var found []Finding
	tr, err := NewTracker(TrackerConfig{Source: "eth0", LinkType: LinkTypeEthernet, Emit: func(f Finding) { found = append(found, f) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range w.packets(LinkTypeEthernet) {
		tr.Packet(p.data, p.ci)
	}
	tr.Advance(at(45 * s))
	if len(found) != 2 || tr.hs.len() != 2 {
		t.Fatalf("%d verdicts, %d handshakes remembered; want 2 and 2", len(found), tr.hs.len())
	}
	tr.Advance(at(45*s + linger))
	if tr.hs.len() != 2 {
		t.Errorf("%d handshakes remembered %v after their verdicts, want 2", tr.hs.len(), linger)
	}
	tr.Advance(at(46*s + linger))
	if tr.hs.len() != 0 {
		t.Errorf("%d handshakes remembered longer than %v after their verdicts, want none", tr.hs.len(), linger)
	}
}
