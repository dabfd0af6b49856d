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

// The client's capture of the same handshake: SYNs and nothing back until
// the one at 11 s, answered and acknowledged at 11.2 s.
func retriedCapture(t *testing.T) []byte {
	w := capturetest.New(t)
	c, s := "192.0.2.50:41000", "192.0.2.10:6379"
	for _, d := range []time.Duration{0, 1, 2, 3, 4, 5, 7, 11} {
		w.After(d*time.Second).TCP(newMAC, serverMAC, c, s, 1000, 0, "S", 0)
	}
	w.After(11*time.Second+100*time.Millisecond).TCP(serverMAC, newMAC, s, c, 5000, 1001, "SA", 0)
	w.After(11*time.Second+200*time.Millisecond).TCP(newMAC, serverMAC, c, s, 1001, 5001, "A", 0)
	w.After(20*time.Second).TCP(newMAC, serverMAC, c, s, 1001, 5001, "PA", 100)
	return w.Pcap(capturetest.LinkEthernet)
}

// Where nothing shows a stale entry (the client's view), trace waits for
// the client's retransmissions: no verdict of failure, the handshake
// worked, late.
func TestTraceWaitsForTheLateCompletion(t *testing.T) {
	path := writeFile(t, "client.pcap", retriedCapture(t))
	code, out, errOut := run(t, false, "trace", "-r", path, "-v")
	if code != ExitOK {
		t.Errorf("exit code %d, want %d; stderr %q", code, ExitOK, errOut)
	}
	want := clock(0) + " ok handshake_ok: 192.0.2.50:41000 connected to 192.0.2.10:6379 in 11.2s\n" +
		"summary: 1 handshake: 1 handshake_ok; 0 problems\n" +
		path + ": 11 packets, 10 passed the filter (EN10MB)\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
}

// The server's view names the stale entry as soon as the client's
// retransmitted SYN is answered at the dead MAC again, while the client
// still retries; the late completion updates that verdict, in text and in
// JSON, and the summary counts the handshake once. A shorter handshake
// timeout changes nothing: the verdict came before any wait ran out.
func TestTraceCorrectsAnEarlyVerdict(t *testing.T) {
	path := writeFile(t, "server.pcap", healedCapture(t))
	want := clock(0) + " problem synack_to_wrong_mac: " + healedStale +
		" (192.0.2.50:41000 → 192.0.2.10:6379: 2 SYNs over 1s, 2 SYN-ACKs (2 to 02:00:00:00:50:a1), no ACK); " +
		"judged while 192.0.2.50 was still retransmitting its SYN: an update follows if the handshake completes\n" +
		"  next: arpdoctor verify --fix --ip 192.0.2.50\n" +
		clock(11*time.Second+200*time.Millisecond) + " update of the " + clock(0) + " synack_to_wrong_mac finding: problem synack_to_wrong_mac: " +
		healedStale + "; the handshake completed after 11.2s, once a SYN-ACK went to 02:00:00:00:50:b2 " +
		"(192.0.2.50:41000 → 192.0.2.10:6379: 8 SYNs over 11s, 8 SYN-ACKs (7 to 02:00:00:00:50:a1, 1 to 02:00:00:00:50:b2), ACK)\n" +
		"  next: arpdoctor verify --fix --ip 192.0.2.50\n" +
		"summary: 1 handshake: 1 synack_to_wrong_mac; 1 problem\n" +
		"top peers with problems: 192.0.2.50 (1 synack_to_wrong_mac)\n" +
		path + ": 18 packets, 17 passed the filter (EN10MB)\n"
	for _, timeout := range []string{"65s", "3s"} {
		code, out, errOut := run(t, false, "trace", "-r", path, "--handshake-timeout", timeout)
		if code != ExitProblems {
			t.Errorf("--handshake-timeout %s: exit code %d, want %d; stderr %q", timeout, code, ExitProblems, errOut)
		}
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("--handshake-timeout %s: stdout (-want +got):\n%s", timeout, diff)
		}
	}

	_, out, _ := run(t, false, "trace", "-r", path, "-o", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d JSON lines, want the verdict, its correction and the summary:\n%s", len(lines), out)
	}
	for _, s := range []string{`"id":1,`, `"outcome":"retrying"`, `"duration_s":1.0001`, `"syns":2,`} {
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
