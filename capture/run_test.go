package capture

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket/pcapgo"
)

// The incident seen from both ends: the server's capture has the SYN-ACKs
// leave toward the dead MAC, the client's has none arrive. Matched by
// endpoints and sequence numbers, with clocks an hour apart.
func TestTwoCaptures(t *testing.T) {
	server, client := newWire(t), newWire(t)
	const skew = time.Hour
	// The stale entry: SYN-ACKs lost.
	server.synAndSynAck(0, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000).
		synAndSynAck(1*s, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000)
	client.after(skew).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 0, "S", 0)
	client.after(skew+1*s).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 0, "S", 0)
	// A SYN lost on the way: only the client has it.
	client.after(skew+2*s).tcp(newMAC, serverMAC, "192.0.2.50:41001", "192.0.2.10:6379", 2000, 0, "S", 0)
	// A final ACK lost on the way.
	server.synAndSynAck(4*s, newMAC, newMAC, "192.0.2.50:41002", "192.0.2.10:6379", 3000, 7000)
	client.after(skew+4*s).tcp(newMAC, serverMAC, "192.0.2.50:41002", "192.0.2.10:6379", 3000, 0, "S", 0)
	client.after(skew+4*s+100*us).tcp(serverMAC, newMAC, "192.0.2.10:6379", "192.0.2.50:41002", 7000, 3001, "SA", 0)
	client.after(skew+4*s+150*us).tcp(newMAC, serverMAC, "192.0.2.50:41002", "192.0.2.10:6379", 3001, 7001, "A", 0)
	server.later()
	client.after(skew+20*s).arp(arpRequest, newMAC, bcastMAC, "192.0.2.50", "", "192.0.2.99")

	found, sum := traceOK(t, RunConfig{},
		namedCapture{"server.pcap", server.pcap(LinkTypeEthernet)},
		namedCapture{"client.pcap", client.pcap(LinkTypeEthernet)})
	c := func(p int) netip.AddrPort { return mustAddrPort(t, "192.0.2.50:"+itoa(p)) }
	srv := mustAddrPort(t, "192.0.2.10:6379")
	want := []Finding{
		{
			Kind: SynAckToWrongMAC, Severity: Problem, Source: "server.pcap", SeenIn: []string{"server.pcap", "client.pcap"},
			Message: "192.0.2.10 answers 192.0.2.50 at 02:00:00:00:50:a1, but 192.0.2.50 now sends from 02:00:00:00:50:b2: " +
				"the neighbor entry for 192.0.2.50 is stale " +
				"(192.0.2.50:41000 → 192.0.2.10:6379: 2 SYNs over 1s, 2 SYN-ACKs (2 to 02:00:00:00:50:a1), no ACK); " +
				"judged while 192.0.2.50 was still retransmitting its SYN: an update follows if the handshake completes; " +
				"the SYN-ACK left 192.0.2.10 toward 02:00:00:00:50:a1 and never reached 192.0.2.50 (seen in server.pcap, not in client.pcap)",
			Time: t0, End: at(1*s + 100*us), Client: c(41000), Server: srv, ClientISN: 1000,
			ClientMAC: newMAC, ServerMAC: serverMAC, SynAckTo: []MACCount{{MAC: oldMAC, Count: 2}},
			SYNs: 2, SYNACKs: 2, Lost: "SYN-ACK", ID: 1, Outcome: Retrying, Duration: Seconds(1*s + 100*us),
		},
		{
			Kind: SynAckUnacknowledged, Severity: Problem, Source: "server.pcap", SeenIn: []string{"server.pcap", "client.pcap"},
			Message: "192.0.2.10 answered 192.0.2.50's SYN, but no ACK came back " +
				"(192.0.2.50:41002 → 192.0.2.10:6379: 1 SYN, 1 SYN-ACK (1 to 02:00:00:00:50:b2), no ACK); " +
				"the final ACK left 192.0.2.50 and never reached 192.0.2.10 (seen in client.pcap, not in server.pcap)",
			Time: at(4 * s), End: at(4*s + 100*us), Client: c(41002), Server: srv, ClientISN: 3000,
			ClientMAC: newMAC, ServerMAC: serverMAC, SynAckTo: []MACCount{{MAC: newMAC, Count: 1}},
			SYNs: 1, SYNACKs: 1, Lost: "ACK", ID: 2, Outcome: TimedOut, Duration: Seconds(100 * us),
		},
		{
			Kind: SynUnanswered, Severity: Problem, Source: "client.pcap", SeenIn: []string{"client.pcap"},
			Message: "192.0.2.50 got no answer from 192.0.2.10:6379 (192.0.2.50:41001 → 192.0.2.10:6379: 1 SYN, nothing back); " +
				"the SYN left 192.0.2.50 and never reached 192.0.2.10 (seen in client.pcap, not in server.pcap)",
			Time: at(skew + 2*s), End: at(skew + 2*s), Client: c(41001), Server: srv, ClientISN: 2000,
			ClientMAC: newMAC, SYNs: 1, Lost: "SYN", ID: 5, Outcome: TimedOut,
		},
	}
	if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	if sum.Problems != 3 || sum.Handshakes[SynAckToWrongMAC] != 1 || len(sum.Sources) != 2 {
		t.Errorf("summary: %d problems, handshakes %v, %d sources", sum.Problems, sum.Handshakes, len(sum.Sources))
	}
}

// Cooked captures (tcpdump -i any) keep only source MACs, raw IP none:
// verdicts still come, and the summary says which findings could not.
func TestCookedAndRawCaptures(t *testing.T) {
	w := newWire(t)
	w.synAndSynAck(0, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000).
		synAndSynAck(1*s, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000).
		later()
	for _, tc := range []struct {
		lt        LinkType
		clientMAC string
		kinds     []Kind
	}{
		{LinkTypeLinuxSLL, newMAC, []Kind{SynAckToWrongMAC, UnansweredARPProbe}},
		{LinkTypeLinuxSLL2, newMAC, []Kind{SynAckToWrongMAC, UnansweredARPProbe}},
		{LinkTypeRaw, "", []Kind{SynAckToWrongMAC, UnansweredARPProbe, MACChanged, DuplicateIP}},
	} {
		t.Run(tc.lt.String(), func(t *testing.T) {
			found, sum := traceOK(t, RunConfig{}, namedCapture{"any.pcap", w.pcap(tc.lt)})
			serverMACSeen := serverMAC
			if tc.lt == LinkTypeRaw {
				serverMACSeen = ""
			}
			want := []Finding{{
				Kind: SynAckUnacknowledged, Severity: Problem, Source: "any.pcap",
				Message: "192.0.2.10 answered 192.0.2.50's SYN, but no ACK came back (this " + tc.lt.String() +
					" capture records no destination MACs, so a stale neighbor entry for 192.0.2.50 cannot be seen here) " +
					"(192.0.2.50:41000 → 192.0.2.10:6379: 2 SYNs over 1s, 2 SYN-ACKs, no ACK)",
				Time: t0, End: at(1*s + 100*us),
				Client: mustAddrPort(t, "192.0.2.50:41000"), Server: mustAddrPort(t, "192.0.2.10:6379"), ClientISN: 1000,
				ClientMAC: tc.clientMAC, ServerMAC: serverMACSeen, SYNs: 2, SYNACKs: 2,
				ID: 1, Outcome: TimedOut, Duration: Seconds(1*s + 100*us),
			}}
			if diff := cmp.Diff(want, found, equateAddrs); diff != "" {
				t.Errorf("findings (-want +got):\n%s", diff)
			}
			if len(sum.Unavailable) != 1 || !cmp.Equal(sum.Unavailable[0].Kinds, tc.kinds) {
				t.Errorf("unavailable = %+v, want kinds %v", sum.Unavailable, tc.kinds)
			}
			if sum.Sources[0].LinkType != tc.lt.String() {
				t.Errorf("link type %q, want %q", sum.Sources[0].LinkType, tc.lt)
			}
		})
	}
}

// A SYN flood cannot grow the tracker: past MaxHandshakes the oldest go,
// counted.
func TestEvictionBoundsMemory(t *testing.T) {
	w := newWire(t)
	for i := range 500 {
		w.after(time.Duration(i)*us).tcp(newMAC, serverMAC, "198.51.100.1:"+itoa(1024+i), "192.0.2.10:80", uint32(i), 0, "S", 0)
	}
	var found []Finding
	tr, err := NewTracker(TrackerConfig{Source: "flood", LinkType: LinkTypeEthernet, MaxHandshakes: 100,
		Emit: func(f Finding) { found = append(found, f) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range w.packets(LinkTypeEthernet) {
		tr.Packet(p.data, p.ci)
		if n := tr.hs.len(); n > 100 {
			t.Fatalf("tracking %d handshakes, bound is 100", n)
		}
	}
	tr.Close()
	if st := tr.Stats(); st.Evicted != 400 || st.Packets != 500 {
		t.Errorf("stats %+v, want 400 evicted of 500", st)
	}
	if len(found) != 100 {
		t.Errorf("%d verdicts, want 100 (the handshakes still held)", len(found))
	}
	if tr.hs.n > 100 {
		t.Errorf("%d slots handed out, want at most 100", tr.hs.n)
	}
}

// Verdicts come when a handshake has gone the timeout without a packet,
// while the capture goes on: not all at the end.
func TestVerdictAfterTimeout(t *testing.T) {
	w := newWire(t)
	w.after(0).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:80", 1, 0, "S", 0)
	w.after(2*s).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:80", 1, 0, "S", 0) // a retransmission
	w.after(4*s).arp(arpRequest, serverMAC, bcastMAC, "192.0.2.10", "", "192.0.2.1")
	w.after(6*s).arp(arpRequest, serverMAC, bcastMAC, "192.0.2.10", "", "192.0.2.1")
	w.after(8*s).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:80", 1, 0, "S", 0) // late: no new handshake
	var when []int
	var found []Finding
	tr, err := NewTracker(TrackerConfig{Source: "eth0", LinkType: LinkTypeEthernet, HandshakeTimeout: 3 * s,
		Emit: func(f Finding) { found = append(found, f); when = append(when, -1) }})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range w.packets(LinkTypeEthernet) {
		tr.Packet(p.data, p.ci)
		for j := range when {
			if when[j] == -1 {
				when[j] = i
			}
		}
	}
	tr.Close()
	if len(found) != 1 || found[0].Kind != SynUnanswered || found[0].SYNs != 2 {
		t.Fatalf("findings %+v, want one syn_unanswered of 2 SYNs", found)
	}
	if when[0] != 3 {
		t.Errorf("verdict after packet %d, want after packet 3 (the first more than 3s after the last SYN)", when[0])
	}
	// Advance moves the clock without a packet, as a quiet live link does.
	found = nil
	tr, err = NewTracker(TrackerConfig{Source: "eth0", LinkType: LinkTypeEthernet, HandshakeTimeout: 3 * s,
		Emit: func(f Finding) { found = append(found, f) }})
	if err != nil {
		t.Fatal(err)
	}
	w2 := newWire(t)
	w2.after(0).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:80", 1, 0, "S", 0)
	for _, p := range w2.packets(LinkTypeEthernet) {
		tr.Packet(p.data, p.ci)
	}
	tr.Advance(t0.Add(2 * s))
	if len(found) != 0 {
		t.Fatalf("verdict before the timeout: %+v", found)
	}
	tr.Advance(t0.Add(4 * s))
	if len(found) != 1 {
		t.Fatalf("no verdict after the timeout with Advance")
	}
}

// A capture cut short ends with an error naming the packet and its
// offset; the findings up to there come all the same.
func TestTruncatedCapture(t *testing.T) {
	w := newWire(t)
	w.synAndSynAck(0, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000)
	w.after(1*s).tcp(newMAC, serverMAC, "192.0.2.50:41001", "192.0.2.10:6379", 2000, 0, "S", 0)
	file := w.pcap(LinkTypeEthernet)
	pkts := w.packets(LinkTypeEthernet)
	third := int64(pcapHeaderLen + 2*pcapRecordHeadLen + len(pkts[0].data) + len(pkts[1].data))
	cut := file[:len(file)-10]
	found, sum, err := trace(t, RunConfig{}, namedCapture{"cut.pcap", cut})
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a CorruptError", err)
	}
	if ce.Packet != 3 || ce.Offset != third {
		t.Errorf("error at packet %d offset %d, want packet 3 at offset %d", ce.Packet, ce.Offset, third)
	}
	if want := "cut.pcap: packet 3 at offset " + itoa(int(third)) + ": the file ends inside the packet (a capture cut short)"; err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
	if len(found) != 1 || found[0].Kind != SynAckToWrongMAC {
		t.Errorf("findings so far: %+v, want the stale entry", found)
	}
	if sum.Stopped != StoppedError || sum.Sources[0].Packets != 2 {
		t.Errorf("summary stopped %q after %d packets, want error after 2", sum.Stopped, sum.Sources[0].Packets)
	}

	// Cut inside a record header, and inside a pcapng block.
	_, _, err = trace(t, RunConfig{}, namedCapture{"cut.pcap", file[:pcapHeaderLen+5]})
	if err == nil || !strings.Contains(err.Error(), "packet 1 at offset 24") {
		t.Errorf("cut in the first record header: %v", err)
	}
	ng := w.pcapng(t)
	_, _, err = trace(t, RunConfig{}, namedCapture{"cut.pcapng", ng[:len(ng)-10]})
	if !errors.As(err, &ce) || ce.Packet != 3 || !strings.Contains(err.Error(), "the file ends inside a block") {
		t.Errorf("cut pcapng: %v, want packet 3 inside a block", err)
	}
}

func TestPcapngAndGzip(t *testing.T) {
	w := newWire(t)
	w.synAndSynAck(0, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000).later()
	want, _ := traceOK(t, RunConfig{}, namedCapture{"x", w.pcap(LinkTypeEthernet)})
	got, _ := traceOK(t, RunConfig{}, namedCapture{"x", w.pcapng(t)})
	if diff := cmp.Diff(want, got, equateAddrs); diff != "" {
		t.Errorf("pcapng findings differ from pcap (-pcap +pcapng):\n%s", diff)
	}
	got, _ = traceOK(t, RunConfig{}, namedCapture{"x", gzipped(t, w.pcap(LinkTypeEthernet))})
	if diff := cmp.Diff(want, got, equateAddrs); diff != "" {
		t.Errorf("gzip findings differ from pcap (-pcap +gzip):\n%s", diff)
	}
}

// -w keeps what passed the filter, as a pcap pcapgo and tcpdump read.
func TestWriteKeepsFilteredPackets(t *testing.T) {
	w := newWire(t)
	w.synAndSynAck(0, newMAC, newMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000)
	w.after(1*ms).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1001, 5001, "A", 0)
	w.after(2*ms).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1001, 5001, "PA", 1000) // data
	w.after(3*ms).udp(newMAC, serverMAC, "192.0.2.50:5353", "192.0.2.10:53", 40)
	w.after(4*ms).arp(arpRequest, serverMAC, bcastMAC, "192.0.2.10", "", "192.0.2.1")
	var out bytes.Buffer
	_, sum := traceOK(t, RunConfig{Write: &out}, namedCapture{"in.pcap", w.pcap(LinkTypeEthernet)})
	r, err := pcapgo.NewReader(&out)
	if err != nil {
		t.Fatal(err)
	}
	var got []time.Duration
	for {
		_, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, ci.Timestamp.Sub(t0))
	}
	want := []time.Duration{0, 100 * us, 1 * ms, 4 * ms}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("packets written, by time (-want +got):\n%s", diff)
	}
	if sum.Sources[0].Matched != 4 {
		t.Errorf("matched %d, want 4", sum.Sources[0].Matched)
	}
}

func TestCountAndDuration(t *testing.T) {
	w := newWire(t)
	for i := range 10 {
		w.after(time.Duration(i)*s).tcp(newMAC, serverMAC, "192.0.2.50:"+itoa(40000+i), "192.0.2.10:80", 1, 0, "S", 0)
	}
	_, sum := traceOK(t, RunConfig{Count: 4}, namedCapture{"x", w.pcap(LinkTypeEthernet)})
	if sum.Stopped != StoppedCount || sum.Sources[0].Matched != 4 || sum.Handshakes[SynUnanswered] != 4 {
		t.Errorf("count 4: stopped %q, matched %d, verdicts %v", sum.Stopped, sum.Sources[0].Matched, sum.Handshakes)
	}
	_, sum = traceOK(t, RunConfig{Duration: 2500 * ms}, namedCapture{"x", w.pcap(LinkTypeEthernet)})
	if sum.Stopped != StoppedDuration || sum.Sources[0].Packets != 3 {
		t.Errorf("duration 2.5s: stopped %q after %d packets, want 3", sum.Stopped, sum.Sources[0].Packets)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src, err := NewFileSource("x", bytes.NewReader(w.pcap(LinkTypeEthernet)))
	if err != nil {
		t.Fatal(err)
	}
	sum, err = Run(ctx, RunConfig{Sources: []Source{src}, Emit: func(Finding) {}})
	if err != nil || sum.Stopped != StoppedInterrupted {
		t.Errorf("cancelled: %v, stopped %q", err, sum.Stopped)
	}
}

func TestBadFiles(t *testing.T) {
	pcapHeader := func(lt uint32) []byte {
		var b bytes.Buffer
		w, err := newPcapWriter(&b, LinkType(lt), false)
		if err != nil {
			t.Fatal(err)
		}
		w.flush()
		return b.Bytes()
	}
	for _, tc := range []struct {
		name, data, want string
	}{
		{"empty", "", "empty: not a pcap or pcapng file: only 0 bytes"},
		{"text", "hello, world: not a capture at all", "text: not a pcap or pcapng file (it starts with 68656c6c)"},
		{"wifi", string(pcapHeader(105)), "wifi: unsupported link type 105 (802.11): trace reads Ethernet, Linux cooked (SLL, SLL2) and raw IP captures"},
		{"short", string(pcapHeader(1)[:10]), "short: file header at offset 0: the file ends inside the pcap header (10 of 24 bytes)"},
		{"short.gz", string(gzipped(t, pcapHeader(1)[:10])), "short.gz: file header at uncompressed offset 0: the file ends inside the pcap header (10 of 24 bytes)"},
		{"bad gzip", "\x1f\x8b\x09\x00", "bad gzip: file header at offset 0: gzip: unexpected EOF"},
		{"usb", string(pcapHeader(220)), "usb: unsupported link type 220 (USB): trace reads Ethernet, Linux cooked (SLL, SLL2) and raw IP captures"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewFileSource(tc.name, strings.NewReader(tc.data))
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant  %s", err, tc.want)
			}
		})
	}
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}
