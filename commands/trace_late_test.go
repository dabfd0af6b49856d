package commands

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/capture/capturetest"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
)

// healedCapture is the server's capture of the incident when its kernel
// resolves the client anew by itself: SYNs as Linux sends them (1 s
// apart, then 2 s, then 4 s), SYN-ACKs to the dead MAC, until the one at
// 11 s, answered at the new MAC and acknowledged at 11.2 s.
func healedCapture(t *testing.T) []byte {
	w := capturetest.New(t)
	c, s := "192.0.2.50:41000", "192.0.2.10:6379"
	for _, d := range []time.Duration{0, 1, 2, 3, 4, 5, 7} {
		w.After(d*time.Second).TCP(newMAC, serverMAC, c, s, 1000, 0, "S", 0)
		w.After(d*time.Second+100*time.Microsecond).TCP(serverMAC, oldMAC, s, c, 5000, 1001, "SA", 0)
	}
	w.After(11*time.Second).TCP(newMAC, serverMAC, c, s, 1000, 0, "S", 0)
	w.After(11*time.Second+100*time.Millisecond).TCP(serverMAC, newMAC, s, c, 5000, 1001, "SA", 0)
	w.After(11*time.Second+200*time.Millisecond).TCP(newMAC, serverMAC, c, s, 1001, 5001, "A", 0)
	w.After(20*time.Second).TCP(newMAC, serverMAC, c, s, 1001, 5001, "PA", 100)
	return w.Pcap(capturetest.LinkEthernet)
}

const healedStale = "192.0.2.10 answers 192.0.2.50 at 02:00:00:00:50:a1, but 192.0.2.50 now sends from 02:00:00:00:50:b2: " +
	"the neighbor entry for 192.0.2.50 is stale"

// trace waits for the client's retransmissions: one verdict, the stale
// entry and the late completion.
func TestTraceWaitsForTheLateCompletion(t *testing.T) {
	path := writeFile(t, "server.pcap", healedCapture(t))
	code, out, errOut := run(t, false, "trace", "-r", path)
	if code != ExitProblems {
		t.Errorf("exit code %d, want %d; stderr %q", code, ExitProblems, errOut)
	}
	want := clock(0) + " problem synack_to_wrong_mac: " + healedStale + "; the handshake completed after 11.2s, once a SYN-ACK went to 02:00:00:00:50:b2 " +
		"(192.0.2.50:41000 → 192.0.2.10:6379: 8 SYNs over 11s, 8 SYN-ACKs (7 to 02:00:00:00:50:a1, 1 to 02:00:00:00:50:b2), ACK)\n" +
		"  next: arpdoctor verify --fix --ip 192.0.2.50\n" +
		"summary: 1 handshake: 1 synack_to_wrong_mac; 1 problem\n" +
		"top peers with problems: 192.0.2.50 (1 synack_to_wrong_mac)\n" +
		path + ": 18 packets, 17 passed the filter (EN10MB)\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

// With a handshake timeout shorter than the client's backoff, the verdict
// comes in a gap between SYNs; the late completion updates it, in text
// and in JSON, and the summary counts the handshake once.
func TestTraceCorrectsAnEarlyVerdict(t *testing.T) {
	path := writeFile(t, "server.pcap", healedCapture(t))
	code, out, errOut := run(t, false, "trace", "-r", path, "--handshake-timeout", "3s")
	if code != ExitProblems {
		t.Errorf("exit code %d, want %d; stderr %q", code, ExitProblems, errOut)
	}
	want := clock(0) + " problem synack_to_wrong_mac: " + healedStale +
		" (192.0.2.50:41000 → 192.0.2.10:6379: 7 SYNs over 7s, 7 SYN-ACKs (7 to 02:00:00:00:50:a1), no ACK)\n" +
		"  next: arpdoctor verify --fix --ip 192.0.2.50\n" +
		clock(11*time.Second+200*time.Millisecond) + " update of the " + clock(0) + " synack_to_wrong_mac finding: problem synack_to_wrong_mac: " +
		healedStale + "; the handshake completed after 11.2s, once a SYN-ACK went to 02:00:00:00:50:b2 " +
		"(192.0.2.50:41000 → 192.0.2.10:6379: 8 SYNs over 11s, 8 SYN-ACKs (7 to 02:00:00:00:50:a1, 1 to 02:00:00:00:50:b2), ACK)\n" +
		"  next: arpdoctor verify --fix --ip 192.0.2.50\n" +
		"summary: 1 handshake: 1 synack_to_wrong_mac; 1 problem\n" +
		"top peers with problems: 192.0.2.50 (1 synack_to_wrong_mac)\n" +
		path + ": 18 packets, 17 passed the filter (EN10MB)\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}

	_, out, _ = run(t, false, "trace", "-r", path, "--handshake-timeout", "3s", "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d JSON lines, want the verdict, its correction and the summary:\n%s", len(lines), out)
	}
	for _, s := range []string{`"id":1,`, `"outcome":"timed_out"`, `"duration_s":7.0001`} {
		if !strings.Contains(lines[0], s) || strings.Contains(lines[0], `"correction"`) {
			t.Errorf("first line lacks %s, or says it is a correction: %s", s, lines[0])
		}
	}
	for _, s := range []string{`"id":2,"correction":true,"corrects":1,"corrects_kind":"synack_to_wrong_mac","corrects_severity":"problem",`,
		`"outcome":"completed_late"`, `"duration_s":11.2`, `"acked":true`} {
		if !strings.Contains(lines[1], s) {
			t.Errorf("correction lacks %s: %s", s, lines[1])
		}
	}
	if !strings.Contains(lines[2], `"handshakes":{"synack_to_wrong_mac":1},"neighbors":{},"problems":1,`) {
		t.Errorf("summary counts the handshake more than once: %s", lines[2])
	}
}

// When the kernel's entry already holds the client's new MAC, there is
// nothing to flush: trace says where to look for why the entry lived.
func TestTraceNextWhenTheKernelCorrected(t *testing.T) {
	f := capture.Finding{
		Kind: capture.SynAckToWrongMAC, Severity: capture.Problem, Message: "stale, then corrected",
		Time:      capturetest.T0,
		Client:    netip.MustParseAddrPort("192.0.2.50:41000"),
		Server:    netip.MustParseAddrPort("192.0.2.10:6379"),
		ClientMAC: newMAC,
		Kernel:    &capture.KernelEntry{IP: netip.MustParseAddr("192.0.2.50"), MAC: newMAC, State: neigh.Reachable, Interface: "eth0"},
	}
	for _, tc := range []struct {
		netns     string
		corrected bool
		want      []string
	}{
		{"blue", true, []string{"arpdoctor --netns blue sysctl check"}},
		{"", true, []string{"arpdoctor sysctl check"}},
		{"blue", false, []string{"arpdoctor --netns blue verify --fix --ip 192.0.2.50"}},
	} {
		var b bytes.Buffer
		v := &traceView{out: bufio.NewWriter(&b), netns: tc.netns}
		f.KernelCorrected = tc.corrected
		if diff := cmp.Diff(tc.want, v.nextCommands(&f)); diff != "" {
			t.Errorf("netns %q, corrected %v: next (-want +got):\n%s", tc.netns, tc.corrected, diff)
		}
	}
}
