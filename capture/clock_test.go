package capture

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// backwards writes the packets of w as tcpdump writes a capture, a
// microsecond pcap file, each stamped at the time given instead of its
// own: the clock of a capture that went back while it ran.
func backwards(t *testing.T, w *wire, stamps ...time.Duration) []byte {
	t.Helper()
	packets := w.packets(LinkTypeEthernet)
	if len(packets) != len(stamps) {
		t.Fatalf("%d packets, %d time stamps", len(packets), len(stamps))
	}
	var b bytes.Buffer
	pw := pcapgo.NewWriter(&b)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, p := range packets {
		ci := gopacket.CaptureInfo{Timestamp: at(stamps[i]), CaptureLength: len(p.data), Length: len(p.data)}
		if err := pw.WritePacket(ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// A capture whose clock goes back within a handshake still gives its
// duration: from the earliest time stamp of its packets to the latest, as
// Wireshark's conversations count it, never negative; the message says
// the clock went back, and by how much.
func TestClockGoesBack(t *testing.T) {
	t.Run("completed", func(t *testing.T) {
		w := newWire(t)
		w.synAndSynAck(0, newMAC, newMAC, lateClient, lateServer, 1000, 5000)
		w.tcp(newMAC, serverMAC, lateClient, lateServer, 1001, 5001, "A", 0)
		// The SYN at 10 s; the clock is set back 5 s before the SYN-ACK.
		pcap := backwards(t, w, 10*s, 5*s, 5*s+200*us)
		found, sum := traceOK(t, RunConfig{}, namedCapture{"back.pcap", pcap})
		if len(found) != 1 {
			t.Fatalf("%d findings, want one verdict: %+v", len(found), found)
		}
		f := found[0]
		if f.Kind != HandshakeOK || f.Outcome != Completed || sum.Problems != 0 {
			t.Errorf("verdict %+v, want handshake_ok, completed", f)
		}
		if !f.Time.Equal(at(5*s)) || !f.End.Equal(at(10*s)) || f.Duration != Seconds(5*s) || f.SetupTime != Seconds(200*us) {
			t.Errorf("time %v, end %v, duration %v, setup %v; want 5s to 10s, 5s, 200µs",
				f.Time.Sub(t0), f.End.Sub(t0), time.Duration(f.Duration), time.Duration(f.SetupTime))
		}
		want := "192.0.2.50:41000 connected to 192.0.2.10:6379 in 200µs; the capture's clock went back 5s within this handshake: " +
			"its times run from its earliest packet to its latest, not in capture order"
		if f.Message != want {
			t.Errorf("message %q, want %q", f.Message, want)
		}
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), `"duration_s":5}`) || !strings.Contains(string(b), `"setup_s":0.0002,`) {
			t.Errorf("JSON lacks the duration or the setup time: %s", b)
		}
	})

	// The early verdict on a stale entry follows the capture's order, not
	// its times.
	t.Run("stale entry", func(t *testing.T) {
		w := newWire(t)
		w.synAndSynAck(0, newMAC, oldMAC, lateClient, lateServer, 1000, 5000)
		w.synAndSynAck(0, newMAC, oldMAC, lateClient, lateServer, 1000, 5000)
		pcap := backwards(t, w, 10*s, 10*s+100*us, 3*s, 3*s+100*us)
		found, _ := traceOK(t, RunConfig{}, namedCapture{"back.pcap", pcap})
		if len(found) != 1 {
			t.Fatalf("%d findings, want one verdict: %+v", len(found), found)
		}
		f := found[0]
		if f.Kind != SynAckToWrongMAC || f.Outcome != Retrying || f.Duration != Seconds(7*s+100*us) ||
			!f.Time.Equal(at(3*s)) || !f.End.Equal(at(10*s+100*us)) {
			t.Errorf("verdict %+v, want synack_to_wrong_mac, retrying, over 7.0001s from 3s", f)
		}
		if !strings.HasSuffix(f.Message, "; the capture's clock went back 7s within this handshake: "+
			"its times run from its earliest packet to its latest, not in capture order") {
			t.Errorf("message %q does not say the clock went back", f.Message)
		}
	})
}
