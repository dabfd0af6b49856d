package commands

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// The incident as a new user meets it: the server's entry for the reused
// IP is STALE, not pinned, so its kernel re-resolves the client by itself
// (DELAY, then unicast probes of the dead MAC, then a broadcast the new
// client answers), about 11 s after the first SYN. The new client simply
// connects and lets its kernel retransmit the SYN; it succeeds, late.
// trace, live on the server's interface, names the stale entry while the
// client is still retrying: its verdict is out before the client's connect
// returns. The late completion then updates that verdict, with both MACs
// and the duration tcpdump's own capture of the handshake shows; live, it
// sees the kernel has corrected the entry and suggests no flush. Its own
// -w file tells the same story.
func TestTraceIncidentHealsLate(t *testing.T) {
	in := neightest.NewIncident(t)
	tcpdumpBin := neightest.RequireCommand(t, "tcpdump")
	ipBin := neightest.RequireCommand(t, "ip")
	dir := t.TempDir()
	written, dumped := filepath.Join(dir, "trace.pcap"), filepath.Join(dir, "tcpdump.pcap")

	dumpErr := &lockedBuffer{}
	dump := exec.Command(ipBin, "netns", "exec", in.Server.Name, tcpdumpBin, "-i", "eth0", "--immediate-mode", "-U", "-n", "-w", dumped,
		"tcp port 6379 or arp")
	dump.Stderr = dumpErr
	if err := dump.Start(); err != nil {
		t.Fatalf("starting tcpdump: %v", err)
	}
	dumpDone := make(chan error, 1)
	go func() { dumpDone <- dump.Wait() }()
	dumping := true
	stopDump := func() {
		dumping = false
		dump.Process.Signal(syscall.SIGTERM)
		select {
		case <-dumpDone:
		case <-time.After(10 * time.Second):
			dump.Process.Kill()
			t.Errorf("tcpdump did not stop: %s", dumpErr.String())
		}
	}
	defer func() {
		if dumping {
			dump.Process.Kill()
			<-dumpDone
		}
	}()

	ctx, stopTrace := context.WithCancel(context.Background())
	defer stopTrace()
	tr := &tracing{out: &lockedBuffer{}, errOut: &lockedBuffer{}, done: make(chan int, 1)}
	ios := &IOStreams{In: strings.NewReader(""), Out: tr.out, ErrOut: tr.errOut, Getenv: func(string) string { return "" }}
	args := []string{"--netns", in.Server.Name, "trace", "-i", "eth0", "-o", "json", "-w", written}
	go func() { tr.done <- Main(ctx, ios, args) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tr.errOut.String(), "capturing on") || !strings.Contains(dumpErr.String(), "listening on") {
		if time.Now().After(deadline) {
			t.Fatalf("not capturing after 10s: trace: %s; tcpdump: %s", tr.errOut, dumpErr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A plain connect: the kernel's own SYN retransmissions, and time
	// enough for them. What trace had written when the connect returned
	// says whether its verdict came while the client still retried.
	connectCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	err := in.Connect(connectCtx)
	outAtConnect := tr.out.String()
	cancel()
	if err != nil {
		t.Fatalf("the new client did not connect within 20s: %v", err)
	}
	var early []jsonFindingForTest
	for _, f := range parseFindings(t, outAtConnect) {
		if f.Kind.IsHandshake() {
			early = append(early, f)
		}
	}
	if len(early) == 0 || early[0].Kind != capture.SynAckToWrongMAC || early[0].Outcome != capture.Retrying || early[0].Correction {
		t.Errorf("live trace: when the client's connect returned, trace had written %+v; want the stale entry, judged while the client retried:\n%s",
			early, outAtConnect)
	} else if k := early[0].Kernel; k == nil || k.MAC != neightest.OldMAC {
		t.Errorf("live trace: kernel entry with the early verdict %+v, want the dead MAC %s", k, neightest.OldMAC)
	}
	// The final ACK is on the wire; let both captures take it.
	time.Sleep(500 * time.Millisecond)
	stopTrace()
	code, found := tr.wait(t)
	stopDump()

	want := wantDuration(t, dumped)
	t.Logf("tcpdump: the handshake took %v", want)
	t.Logf("live trace:\n%s", tr.out)
	if code != ExitProblems {
		t.Errorf("live trace: exit code %d, want %d; stderr %s", code, ExitProblems, tr.errOut)
	}
	earlyThenCorrected(t, "live trace", found, tr.out.String())
	f := lateVerdict(t, "live trace", found, want, tr.out.String())
	if f != nil {
		if k := f.Kernel; k == nil || k.MAC != neightest.NewMAC || !f.KernelCorrected {
			t.Errorf("live trace: kernel entry %+v, corrected %v; want the new MAC, corrected", f.Kernel, f.KernelCorrected)
		}
		if wantNext := []string{"arpdoctor --netns " + in.Server.Name + " sysctl check"}; !slices.Equal(wantNext, f.Next) {
			t.Errorf("live trace: next %q, want %q", f.Next, wantNext)
		}
		if !strings.Contains(f.Message, "the kernel has corrected it") {
			t.Errorf("live trace: message %q does not say the kernel corrected the entry", f.Message)
		}
	}

	// The file, read back, gives the same verdict at the same packet, and
	// its update; a handshake timeout shorter than the client's backoff
	// changes nothing, as the verdict came before any wait ran out.
	for _, args := range [][]string{{"trace", "-r", written, "-o", "json"}, {"trace", "-r", written, "-o", "json", "--handshake-timeout", "3s"}} {
		what := strings.Join(args, " ")
		code, stdout, stderr := run(t, false, args...)
		if code != ExitProblems {
			t.Errorf("%s: exit code %d, want %d; stderr %s", what, code, ExitProblems, stderr)
		}
		found := parseFindings(t, stdout)
		earlyThenCorrected(t, what, found, stdout)
		lateVerdict(t, what, found, want, stdout)
	}
}

// earlyThenCorrected checks that the findings hold two on the handshake:
// the stale entry, judged while the client retried, and the correction
// that its completion brought, with more SYNs than the verdict counted.
func earlyThenCorrected(t *testing.T, what string, found []jsonFindingForTest, out string) {
	t.Helper()
	var verdicts []jsonFindingForTest
	for _, f := range found {
		if f.Kind.IsHandshake() {
			verdicts = append(verdicts, f)
		}
	}
	if len(verdicts) != 2 {
		t.Errorf("%s: %d handshake findings, want the verdict and its correction:\n%s", what, len(verdicts), out)
		return
	}
	first, fix := verdicts[0], verdicts[1]
	if first.Kind != capture.SynAckToWrongMAC || first.Outcome != capture.Retrying || first.Correction ||
		!fix.Correction || fix.Corrects != first.ID || fix.CorrectsKind != capture.SynAckToWrongMAC || fix.SYNs <= first.SYNs {
		t.Errorf("%s: %+v then %+v, want the verdict while the client retried and its correction", what, first.Finding, fix.Finding)
	}
}

// lateVerdict checks that the findings, corrections in the place of what
// they correct, hold one verdict on the handshake:
// the stale entry, with both MACs, completed late within half a second of
// want; it returns it.
func lateVerdict(t *testing.T, what string, found []jsonFindingForTest, want time.Duration, out string) *jsonFindingForTest {
	t.Helper()
	// As a reader of the stream does: a correction takes the place of the
	// finding it corrects.
	var verdicts []jsonFindingForTest
	for _, f := range found {
		if !f.Kind.IsHandshake() {
			continue
		}
		if i := slices.IndexFunc(verdicts, func(v jsonFindingForTest) bool { return f.Correction && v.ID == f.Corrects }); i >= 0 {
			verdicts[i] = f
			continue
		}
		verdicts = append(verdicts, f)
	}
	if len(verdicts) != 1 {
		t.Errorf("%s: %d handshake verdicts, want 1:\n%s", what, len(verdicts), out)
		return nil
	}
	f := verdicts[0]
	var to []string
	for _, m := range f.SynAckTo {
		to = append(to, m.MAC)
	}
	if f.Kind != capture.SynAckToWrongMAC || f.Severity != capture.Problem || f.ClientMAC != neightest.NewMAC ||
		!slices.Equal(to, []string{neightest.OldMAC, neightest.NewMAC}) || !f.Acked || f.Outcome != capture.CompletedLate {
		t.Errorf("%s: %+v, want synack_to_wrong_mac from %s, SYN-ACKs to %s then %s, completed late", what, f.Finding,
			neightest.NewMAC, neightest.OldMAC, neightest.NewMAC)
	}
	if got := time.Duration(f.Duration); got < want-500*time.Millisecond || got > want+500*time.Millisecond {
		t.Errorf("%s: duration %v, tcpdump shows %v", what, got, want)
	}
	if !strings.Contains(f.Message, "the handshake completed after") {
		t.Errorf("%s: message %q does not say the handshake completed", what, f.Message)
	}
	return &f
}

// wantDuration reads tcpdump's capture: from the client's first SYN to
// its final ACK.
func wantDuration(t *testing.T, path string) time.Duration {
	t.Helper()
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	r, err := pcapgo.NewReader(file)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	var eth layers.Ethernet
	var ip4 layers.IPv4
	var tcp layers.TCP
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &tcp)
	parser.IgnoreUnsupported = true
	var decoded []gopacket.LayerType
	var first, ack time.Time
	var isn uint32
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading %s: %v", path, err)
		}
		if parser.DecodeLayers(data, &decoded) != nil || !slices.Contains(decoded, layers.LayerTypeTCP) ||
			ip4.SrcIP.String() != neightest.ClientIP || tcp.DstPort != neightest.ServerPort {
			continue
		}
		switch {
		case tcp.SYN && first.IsZero():
			first, isn = ci.Timestamp, tcp.Seq
		case tcp.ACK && !tcp.SYN && !tcp.RST && !first.IsZero() && tcp.Seq == isn+1 && ack.IsZero():
			ack = ci.Timestamp
		}
	}
	if first.IsZero() || ack.IsZero() {
		out, _ := exec.Command("tcpdump", "-nn", "-e", "-r", path).CombinedOutput()
		t.Fatalf("tcpdump's capture %s lacks the first SYN or the final ACK:\n%s", path, out)
	}
	return ack.Sub(first)
}
