package commands

import (
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/gopacket/pcapgo"
)

// tracing is `arpdoctor trace` running in the background.
type tracing struct {
	out, errOut *lockedBuffer
	done        chan int
}

func startTrace(t *testing.T, args ...string) *tracing {
	t.Helper()
	tr := &tracing{out: &lockedBuffer{}, errOut: &lockedBuffer{}, done: make(chan int, 1)}
	ios := &IOStreams{In: strings.NewReader(""), Out: tr.out, ErrOut: tr.errOut, Getenv: func(string) string { return "" }}
	go func() { tr.done <- Main(context.Background(), ios, args) }()
	// The socket is open and filtered once trace says it is capturing.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(tr.errOut.String(), "capturing on") {
		select {
		case code := <-tr.done:
			t.Fatalf("trace %v ended with %d before capturing: %s", args, code, tr.errOut)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace %v is not capturing after 10s: %s", args, tr.errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return tr
}

func (tr *tracing) wait(t *testing.T) (int, []jsonFindingForTest) {
	t.Helper()
	var code int
	select {
	case code = <-tr.done:
	case <-time.After(60 * time.Second):
		t.Fatal("trace did not stop")
	}
	return code, parseFindings(t, tr.out.String())
}

// jsonFindingForTest is a JSON line of trace, read back.
type jsonFindingForTest struct {
	capture.Finding
	Next []string `json:"next"`
}

func parseFindings(t *testing.T, out string) []jsonFindingForTest {
	t.Helper()
	var fs []jsonFindingForTest
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, `{"kind":"summary"`) {
			continue
		}
		var f jsonFindingForTest
		if err := json.Unmarshal([]byte(line), &f); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		fs = append(fs, f)
	}
	return fs
}

// brief is what the incident test holds exactly of a finding: the rest
// (counts, times, ports) depends on the kernel's timers.
type brief struct {
	Kind      capture.Kind
	Severity  capture.Severity
	Client    netip.Addr
	Server    netip.AddrPort
	ClientMAC string
	SynAckTo  []string
	IP        netip.Addr
	MAC       string
	Lost      string
}

func briefs(fs []jsonFindingForTest) []brief {
	var out []brief
	for _, f := range fs {
		b := brief{Kind: f.Kind, Severity: f.Severity, Client: f.Client.Addr(), Server: f.Server,
			ClientMAC: f.ClientMAC, IP: f.IP, MAC: f.MAC, Lost: f.Lost}
		for _, m := range f.SynAckTo {
			b.SynAckTo = append(b.SynAckTo, m.MAC)
		}
		out = append(out, b)
	}
	return out
}

// The incident, for real: a server whose entry for a reused IP still
// holds the dead instance's MAC, a new instance that never ARPs (it has
// a static entry for the server, as when the cloud network answers ARP
// for it). Its connection fails; trace, live on the server's interface,
// names the stale entry with both MACs, and on the client's interface
// shows the client's view. What -w wrote tells the same story when read
// back, alone and matched with the client's capture.
func TestTraceIncident(t *testing.T) {
	in := neightest.NewIncident(t)
	dir := t.TempDir()
	serverPcap, clientPcap := filepath.Join(dir, "server.pcap"), filepath.Join(dir, "client.pcap")
	// The server's kernel sends SYN-ACKs to the dead MAC while its entry
	// is DELAY (5s), then probes that MAC three times, a second apart.
	server := startTrace(t, "--netns", in.Server.Name, "trace", "-i", "eth0", "-o", "json",
		"--duration", "10s", "--handshake-timeout", "2s", "-w", serverPcap)
	client := startTrace(t, "--netns", in.NewClient.Name, "trace", "-i", "eth0", "-o", "json",
		"--duration", "5s", "--handshake-timeout", "2s", "-w", clientPcap)

	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	err := in.Connect(ctx)
	cancel()
	if err == nil {
		t.Fatal("the new client connected: the incident did not happen")
	}

	stale := netip.MustParseAddr(neightest.ClientIP)
	srv := netip.AddrPortFrom(netip.MustParseAddr(neightest.ServerIP), neightest.ServerPort)
	code, found := server.wait(t)
	if code != ExitProblems {
		t.Errorf("server trace: exit code %d, want %d; stderr %s", code, ExitProblems, server.errOut)
	}
	want := []brief{
		{Kind: capture.SynAckToWrongMAC, Severity: capture.Problem, Client: stale, Server: srv,
			ClientMAC: neightest.NewMAC, SynAckTo: []string{neightest.OldMAC}},
		{Kind: capture.UnansweredARPProbe, Severity: capture.Problem, IP: stale, MAC: neightest.OldMAC},
	}
	opts := cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})
	if diff := cmp.Diff(want, briefs(found), opts); diff != "" {
		t.Errorf("server findings (-want +got):\n%s\nfull output:\n%s", diff, server.out)
	}
	if len(found) > 0 {
		f := found[0]
		if k := f.Kernel; k == nil || k.MAC != neightest.OldMAC || (k.State != neigh.Delay && k.State != neigh.Probe && k.State != neigh.Stale) {
			t.Errorf("kernel entry with the finding: %+v, want %s in DELAY or PROBE", f.Kernel, neightest.OldMAC)
		}
		wantNext := []string{
			"arpdoctor --netns " + in.Server.Name + " verify --fix --ip 192.0.2.50",
		}
		if diff := cmp.Diff(wantNext, f.Next); diff != "" {
			t.Errorf("next commands (-want +got):\n%s", diff)
		}
		if !strings.HasPrefix(f.Message, "192.0.2.10 answers 192.0.2.50 at 02:00:00:00:50:a1, but 192.0.2.50 now sends from 02:00:00:00:50:b2: the neighbor entry for 192.0.2.50 is stale") {
			t.Errorf("message %q", f.Message)
		}
	}

	code, found = client.wait(t)
	if code != ExitProblems {
		t.Errorf("client trace: exit code %d, want %d; stderr %s", code, ExitProblems, client.errOut)
	}
	want = []brief{{Kind: capture.SynUnanswered, Severity: capture.Problem, Client: stale, Server: srv, ClientMAC: neightest.NewMAC}}
	if diff := cmp.Diff(want, briefs(found), opts); diff != "" {
		t.Errorf("client findings (-want +got):\n%s\nfull output:\n%s", diff, client.out)
	}

	// The written capture reads back, with pcapgo and tcpdump.
	f, err := os.Open(serverPcap)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("reading %s: %v", serverPcap, err)
	}
	packets := 0
	for {
		if _, _, err := r.ReadPacketData(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("reading %s: packet %d: %v", serverPcap, packets+1, err)
		}
		packets++
	}
	f.Close()
	if packets < 6 {
		t.Errorf("%s holds %d packets, want the SYNs, SYN-ACKs and probes", serverPcap, packets)
	}
	if tcpdump, err := exec.LookPath("tcpdump"); err == nil {
		out, err := exec.Command(tcpdump, "-nn", "-r", serverPcap).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "192.0.2.10.6379 > 192.0.2.50") {
			t.Errorf("tcpdump -r %s: %v\n%s", serverPcap, err, out)
		}
	} else if os.Getenv(neightest.RequireEnv) == "1" {
		t.Errorf("tcpdump is not installed, and %s=1: the capture must be read back with it", neightest.RequireEnv)
	} else {
		t.Log("tcpdump is not installed: the capture was read back with pcapgo only")
	}

	// The same verdict from the file.
	code, stdout, stderr := run(t, false, "trace", "-r", serverPcap, "-o", "json", "--handshake-timeout", "2s")
	got := briefs(parseFindings(t, stdout))
	if code != ExitProblems || len(got) == 0 || got[0].Kind != capture.SynAckToWrongMAC || got[0].ClientMAC != neightest.NewMAC {
		t.Errorf("trace -r %s: exit code %d, findings %+v, stderr %s", serverPcap, code, got, stderr)
	}
	if len(got) < 2 || got[1].Kind != capture.UnansweredARPProbe {
		t.Errorf("trace -r %s: findings %+v, want the unanswered probes after the stale entry", serverPcap, got)
	}

	// Both sides: the SYN-ACK left the server and never reached the client.
	code, stdout, stderr = run(t, false, "trace", "-r", serverPcap, "-r", clientPcap, "-o", "json", "--handshake-timeout", "2s")
	got = briefs(parseFindings(t, stdout))
	if code != ExitProblems || len(got) == 0 || got[0].Kind != capture.SynAckToWrongMAC || got[0].Lost != "SYN-ACK" {
		t.Errorf("trace -r server -r client: exit code %d, findings %+v, stderr %s\n%s", code, got, stderr, stdout)
	}
}

// An interface that is not there, in a namespace that is: one line,
// exit code 2.
func TestTraceUnknownInterface(t *testing.T) {
	ns := neightest.NewNamespace(t, "noif")
	code, out, errOut := run(t, false, "--netns", ns.Name, "trace", "-i", "nosuch0")
	want := `arpdoctor: interface "nosuch0" not found in network namespace ` + ns.Name + "\n"
	if code != ExitTrouble || out != "" || errOut != want {
		t.Errorf("exit code %d, stdout %q, stderr %q; want %d, nothing, %q", code, out, errOut, ExitTrouble, want)
	}
}
