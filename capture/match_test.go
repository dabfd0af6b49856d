package capture

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// One SYN resent long after each verdict on it (past the two minutes in
// which a late completion could still come) is a new handshake every
// time: each keeps its own verdict, and the n-th in one capture is
// matched with the n-th in the other.
func TestRepeatedHandshakeKeepsItsVerdicts(t *testing.T) {
	const n = 5
	client, server := newWire(t), newWire(t)
	for i := range n {
		d := time.Duration(i) * 121 * s
		client.after(d).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 0, "S", 0)
		server.after(time.Hour+d).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 0, "S", 0)
	}
	empty := newWire(t)
	for _, tc := range []struct {
		name     string
		captures []namedCapture
		seenIn   int
	}{
		{"with an empty capture", []namedCapture{{"client.pcap", client.pcap(LinkTypeEthernet)}, {"empty.pcap", empty.pcap(LinkTypeEthernet)}}, 1},
		{"matched", []namedCapture{{"client.pcap", client.pcap(LinkTypeEthernet)}, {"server.pcap", server.pcap(LinkTypeEthernet)}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			found, sum := traceOK(t, RunConfig{}, tc.captures...)
			if len(found) != n || sum.Handshakes[SynUnanswered] != n {
				t.Fatalf("%d findings, handshakes %v; want %d, one per SYN", len(found), sum.Handshakes, n)
			}
			for i, f := range found {
				if want := at(time.Duration(i) * 121 * s); !f.Time.Equal(want) || len(f.SeenIn) != tc.seenIn {
					t.Errorf("finding %d at %v seen in %v; want at %v, seen in %d captures", i, f.Time, f.SeenIn, want, tc.seenIn)
				}
			}
		})
	}
}

// However many verdicts the captures hold, the matcher holds no more than
// its budget: the oldest go out early, each still its own.
func TestMatcherStaysWithinBudget(t *testing.T) {
	var out []Finding
	const maxHandshakes = 100
	m := newMatcher([]string{"a.pcap", "b.pcap"}, maxHandshakes, func(f Finding) { out = append(out, f) })
	f := Finding{
		Kind: SynUnanswered, Severity: Problem, Message: "192.0.2.50 got no answer",
		Client: mustAddrPort(t, "192.0.2.50:41000"), Server: mustAddrPort(t, "192.0.2.10:6379"), ClientISN: 1000,
	}
	const total = 10_000
	for i := range total {
		f.Time = at(time.Duration(i) * 121 * s)
		m.hold(0, f)
		if m.held > m.budget {
			t.Fatalf("after %d verdicts the matcher holds %d bytes, more than its %d", i+1, m.held, m.budget)
		}
	}
	if len(m.keys) != 1 || m.head == 0 {
		t.Errorf("%d keys, %d went out early", len(m.keys), m.head)
	}
	m.flush()
	if len(out) != total || m.early == 0 || m.early >= total {
		t.Errorf("%d findings out of %d, %d early", len(out), total, m.early)
	}
	for i := range out {
		if want := at(time.Duration(i) * 121 * s); !out[i].Time.Equal(want) {
			t.Fatalf("finding %d at %v, want %v", i, out[i].Time, want)
		}
	}
}

// Two arbitrary captures, matched with a matcher that can hold almost
// nothing: no panic, and every handshake verdict that goes out is counted
// once, a correction in its place.
func FuzzTwoCaptures(f *testing.F) {
	server, client := newWire(f), newWire(f)
	server.synAndSynAck(0, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000)
	client.after(time.Hour).tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 0, "S", 0)
	for i := range 3 {
		d := time.Duration(i) * 121 * s
		server.after(d+5*s).tcp(newMAC, serverMAC, "192.0.2.50:41001", "192.0.2.10:6379", 2000, 0, "S", 0)
		server.after(d+5*s+100*us).tcp(serverMAC, oldMAC, "192.0.2.10:6379", "192.0.2.50:41001", 6000, 2001, "SA", 0)
		client.after(time.Hour+d+5*s).tcp(newMAC, serverMAC, "192.0.2.50:41001", "192.0.2.10:6379", 2000, 0, "S", 0)
	}
	client.after(time.Hour+10*s).arp(arpRequest, newMAC, bcastMAC, "192.0.2.50", "", "192.0.2.99")
	f.Add(server.pcap(LinkTypeEthernet), client.pcap(LinkTypeEthernet), uint8(1))
	f.Add(healing(f, linuxSYNs, 7).pcap(LinkTypeEthernet), client.pcap(LinkTypeEthernet), uint8(2))
	f.Add(server.pcap(LinkTypeEthernet), client.pcapng(f), uint8(100))
	f.Add(client.pcap(LinkTypeEthernet), newWire(f).pcap(LinkTypeEthernet), uint8(3))
	f.Fuzz(func(t *testing.T, a, b []byte, maxHandshakes uint8) {
		sa, err := NewFileSource("a.pcap", bytes.NewReader(a))
		if err != nil {
			return
		}
		sb, err := NewFileSource("b.pcap", bytes.NewReader(b))
		if err != nil {
			return
		}
		verdicts := 0
		ids := map[uint64]bool{}
		sum, _ := Run(context.Background(), RunConfig{
			Sources:       []Source{sa, sb},
			MaxHandshakes: int(maxHandshakes%16) + 1,
			Emit: func(f Finding) {
				if !f.Kind.IsHandshake() {
					return
				}
				if len(f.SeenIn) == 0 || len(f.SeenIn) > 2 {
					t.Errorf("verdict seen in %v", f.SeenIn)
				}
				// A correction takes the place of a verdict that went out.
				if f.Correction {
					if !ids[f.Corrects] {
						t.Errorf("correction of %d, which did not go out", f.Corrects)
					}
					delete(ids, f.Corrects)
				} else {
					verdicts++
				}
				ids[f.ID] = true
			},
		})
		total := 0
		for _, n := range sum.Handshakes {
			total += n
		}
		if total != verdicts || sum.Unmatched > verdicts {
			t.Errorf("%d verdicts out, %d counted, %d unmatched", verdicts, total, sum.Unmatched)
		}
	})
}

// When the matcher's bound makes a verdict go out before its handshake
// completes (here the stale entry judged while the client retried), the
// correction follows and names what went out; the summary counts the
// handshake once.
func TestCorrectionAfterItsVerdictWentOut(t *testing.T) {
	server := healing(t, linuxSYNs, 7)
	client := newWire(t).tcp(newMAC, serverMAC, "192.0.2.60:41000", lateServer, 7, 0, "S", 0)
	for _, maxHandshakes := range []int{1, 4, 16} {
		found, sum := traceOK(t, RunConfig{MaxHandshakes: maxHandshakes},
			namedCapture{"server.pcap", server.pcap(LinkTypeEthernet)}, namedCapture{"client.pcap", client.pcap(LinkTypeEthernet)})
		if len(found) != 3 || found[0].Outcome != Retrying || found[0].Correction ||
			!found[1].Correction || found[1].Corrects != found[0].ID || found[1].CorrectsKind != SynAckToWrongMAC ||
			!cmp.Equal(found[1].SeenIn, []string{"server.pcap"}) || found[1].Outcome != CompletedLate {
			t.Errorf("max handshakes %d: %+v; want the verdict, its correction, and the client's lone SYN", maxHandshakes, found)
		}
		var folded []Finding
		for _, f := range found {
			folded = AddFinding(folded, f)
		}
		want := map[Kind]int{SynAckToWrongMAC: 1, SynUnanswered: 1}
		if len(folded) != 2 || !cmp.Equal(want, sum.Handshakes) || sum.Problems != 2 {
			t.Errorf("max handshakes %d: summary %v, %d problems, %d findings once corrected; want %v", maxHandshakes, sum.Handshakes, sum.Problems, len(folded), want)
		}
	}
}
