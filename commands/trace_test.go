package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/capture/capturetest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

const (
	serverMAC = "02:00:00:00:00:10"
	oldMAC    = "02:00:00:00:50:a1"
	newMAC    = "02:00:00:00:50:b2"
	bcastMAC  = "ff:ff:ff:ff:ff:ff"
)

func TestTraceFlags(t *testing.T) {
	tests := []struct {
		args    []string
		netns   string
		want    traceOptions
		wantErr string
	}{
		{
			args: []string{"-i", "eth0", "--port", "6379", "--port", "80,443", "--host", "192.0.2.50", "--host", "2001:db8::/64",
				"--duration", "30s", "--count", "100", "--handshake-timeout", "5s", "--max-handshakes", "1000", "-v", "-w", "out.pcap"},
			want: traceOptions{Interface: "eth0", Ports: []int{6379, 80, 443}, Hosts: []string{"192.0.2.50", "2001:db8::/64"},
				Duration: 30 * time.Second, Count: 100, HandshakeTimeout: 5 * time.Second, MaxHandshakes: 1000, Verbose: true, Write: "out.pcap",
				filter: capture.Filter{Ports: []uint16{6379, 80, 443},
					Hosts: []netip.Prefix{netip.MustParsePrefix("192.0.2.50/32"), netip.MustParsePrefix("2001:db8::/64")}}},
		},
		{
			args: []string{"-r", "server.pcap", "-r", "a,b.pcap", "-r", "-"},
			want: traceOptions{Reads: []string{"server.pcap", "a,b.pcap", "-"}, HandshakeTimeout: 65 * time.Second, MaxHandshakes: 100000},
		},
		{args: nil, wantErr: "give -i INTERFACE to capture live, or -r FILE to read a capture"},
		{args: []string{"-i", "eth0", "-r", "x.pcap"}, wantErr: "-i and -r exclude each other: capture live or read files"},
		{args: []string{"-r", "x.pcap"}, netns: "blue", wantErr: "--netns is for live capture (-i): a capture file is read where it lies"},
		{args: []string{"-r", "x.pcap", "-w", "-"}, wantErr: "-w - would mix the capture with the report on standard output: give a file name"},
		{args: []string{"-r", "-", "-r", "-"}, wantErr: "standard input (-r -) can be read only once"},
		{args: []string{"-i", "eth0", "--port", "0"}, wantErr: "--port 0: want 1 to 65535"},
		{args: []string{"-i", "eth0", "--port", "65536"}, wantErr: "--port 65536: want 1 to 65535"},
		{args: []string{"-i", "eth0", "--host", "192.0.2.300"}, wantErr: `--host: invalid IP address "192.0.2.300"`},
		{args: []string{"-i", "eth0", "--handshake-timeout", "0s"}, wantErr: "--handshake-timeout 0s: want 1ms to 10m0s"},
		{args: []string{"-i", "eth0", "--max-handshakes", "0"}, wantErr: "--max-handshakes 0: want 1 to 10000000"},
		{args: []string{"-i", "eth0", "--duration", "-1s"}, wantErr: "--duration must not be negative"},
		{args: []string{"-i", "eth0", "--count", "-1"}, wantErr: "--count must not be negative"},
		{args: []string{"-i", "eth0", "--port", "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17"}, wantErr: "--port/--host: too many ports (17, at most 16)"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var got *traceOptions
			g := &globalOptions{NetNS: tt.netns}
			cmd := traceCommand(g, func(_ context.Context, o *traceOptions) error {
				got = o
				return nil
			})
			cmd.SetArgs(append([]string{}, tt.args...))
			cmd.SetOut(&bytes.Buffer{})
			cmd.SetErr(&bytes.Buffer{})
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.globalOptions = g
			if diff := cmp.Diff(&tt.want, got, cmp.AllowUnexported(traceOptions{}), cmpopts.IgnoreFields(traceOptions{}, "globalOptions"),
				cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
				t.Errorf("options (-want +got):\n%s", diff)
			}
		})
	}
}

// incidentCapture is the server's capture of the incident: the stale
// entry, the probes of the dead MAC, the new MAC answering, a handshake
// that works and one that is refused.
func incidentCapture(t *testing.T) *capturetest.Wire {
	w := capturetest.New(t)
	c, s := "192.0.2.50:41000", "192.0.2.10:6379"
	w.After(-10*time.Second).ARP(capturetest.ARPReply, oldMAC, serverMAC, "192.0.2.50", serverMAC, "192.0.2.10")
	for _, d := range []time.Duration{0, time.Second, 3 * time.Second} {
		w.After(d).TCP(newMAC, serverMAC, c, s, 1000, 0, "S", 0)
		w.After(d+100*time.Microsecond).TCP(serverMAC, oldMAC, s, c, 5000, 1001, "SA", 0)
	}
	for _, d := range []time.Duration{5, 6, 7} {
		w.After(d*time.Second).ARP(capturetest.ARPRequest, serverMAC, oldMAC, "192.0.2.10", oldMAC, "192.0.2.50")
	}
	w.After(11*time.Second).ARP(capturetest.ARPRequest, serverMAC, bcastMAC, "192.0.2.10", "", "192.0.2.50")
	w.After(11*time.Second+100*time.Microsecond).ARP(capturetest.ARPReply, newMAC, serverMAC, "192.0.2.50", serverMAC, "192.0.2.10")
	w.After(12*time.Second).TCP("02:00:00:00:00:20", serverMAC, "192.0.2.20:50000", s, 7, 0, "S", 0)
	w.After(12*time.Second+50*time.Microsecond).TCP(serverMAC, "02:00:00:00:00:20", s, "192.0.2.20:50000", 70, 8, "SA", 0)
	w.After(12*time.Second+90*time.Microsecond).TCP("02:00:00:00:00:20", serverMAC, "192.0.2.20:50000", s, 8, 71, "A", 0)
	w.After(13*time.Second).TCP("02:00:00:00:00:20", serverMAC, "192.0.2.20:50001", "192.0.2.10:81", 9, 0, "S", 0)
	w.After(13*time.Second+40*time.Microsecond).TCP(serverMAC, "02:00:00:00:00:20", "192.0.2.10:81", "192.0.2.20:50001", 0, 10, "RA", 0)
	w.After(20*time.Second).TCP(newMAC, serverMAC, c, s, 1001, 5001, "PA", 100)
	return w
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// clock is how trace prints a capture time: the local time of day.
func clock(d time.Duration) string { return capturetest.T0.Add(d).Local().Format("15:04:05.000") }

func TestTraceText(t *testing.T) {
	path := writeFile(t, "server.pcap", incidentCapture(t).Pcap(capturetest.LinkEthernet))
	code, out, errOut := run(t, false, "trace", "-r", path)
	if code != ExitProblems {
		t.Errorf("exit code %d, want %d; stderr %q", code, ExitProblems, errOut)
	}
	want := clock(0) + " problem synack_to_wrong_mac: 192.0.2.10 answers 192.0.2.50 at 02:00:00:00:50:a1, but 192.0.2.50 now sends from 02:00:00:00:50:b2: " +
		"the neighbor entry for 192.0.2.50 is stale (192.0.2.50:41000 → 192.0.2.10:6379: 2 SYNs over 1s, 2 SYN-ACKs (2 to 02:00:00:00:50:a1), no ACK); " +
		"judged while 192.0.2.50 was still retransmitting its SYN: an update follows if the handshake completes\n" +
		"  next: arpdoctor verify --fix --ip 192.0.2.50\n" +
		clock(5*time.Second) + " problem unanswered_arp_probe: 192.0.2.10 probed 192.0.2.50 at its cached MAC 02:00:00:00:50:a1 with 3 ARP requests " +
		"and got no reply: 02:00:00:00:50:a1 is gone, the entry is stale\n" +
		"  next: arpdoctor verify --fix --ip 192.0.2.50\n" +
		clock(11*time.Second+100*time.Microsecond) + " info mac_changed: 192.0.2.50 moved from 02:00:00:00:50:a1 to 02:00:00:00:50:b2 (ARP): " +
		"hosts that still cache 02:00:00:00:50:a1 send to a MAC that no longer owns it\n" +
		clock(13*time.Second) + " problem reset: 192.0.2.10 refused 192.0.2.20's connection to port 81 with RST: refused, not lost " +
		"(nothing listens there, or a firewall rejects it) (192.0.2.20:50001 → 192.0.2.10:81: 1 SYN, RST from the server)\n" +
		"summary: 3 handshakes: 1 synack_to_wrong_mac, 1 reset, 1 handshake_ok; 3 problems\n" +
		"neighbors: 1 unanswered_arp_probe, 1 mac_changed\n" +
		"top peers with problems: 192.0.2.50 (1 synack_to_wrong_mac, 1 unanswered_arp_probe), 192.0.2.10 (1 reset)\n" +
		path + ": 18 packets, 17 passed the filter (EN10MB)\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if errOut != "" {
		t.Errorf("stderr %q, want nothing", errOut)
	}

	// -v adds the handshake that worked.
	_, out, _ = run(t, false, "trace", "-r", path, "-v")
	okLine := clock(12*time.Second) + " ok handshake_ok: 192.0.2.20:50000 connected to 192.0.2.10:6379 in 90µs\n"
	if !strings.Contains(out, okLine) {
		t.Errorf("-v output lacks %q:\n%s", okLine, out)
	}

	// Colors, by severity, when asked for.
	_, out, _ = run(t, false, "trace", "-r", path, "--color", "always")
	for _, s := range []string{"\x1b[31mproblem synack_to_wrong_mac:\x1b[0m", "\x1b[33minfo mac_changed:\x1b[0m"} {
		if !strings.Contains(out, s) {
			t.Errorf("colored output lacks %q", s)
		}
	}
}

func TestTraceJSON(t *testing.T) {
	w := capturetest.New(t)
	w.TCP(newMAC, serverMAC, "[2001:db8::50]:41000", "[2001:db8::10]:443", 1000, 0, "S", 0)
	w.After(100*time.Microsecond).TCP(serverMAC, oldMAC, "[2001:db8::10]:443", "[2001:db8::50]:41000", 5000, 1001, "SA", 0)
	w.After(time.Millisecond).TCP(newMAC, serverMAC, "[2001:db8::51]:41000", "[2001:db8::10]:443", 1, 0, "S", 0)
	w.After(time.Millisecond+50*time.Microsecond).TCP(serverMAC, newMAC, "[2001:db8::10]:443", "[2001:db8::51]:41000", 9, 2, "SA", 0)
	w.After(time.Millisecond+80*time.Microsecond).TCP(newMAC, serverMAC, "[2001:db8::51]:41000", "[2001:db8::10]:443", 2, 10, "A", 0)
	path := writeFile(t, "v6.pcap", w.Pcap(capturetest.LinkEthernet))
	code, out, errOut := run(t, false, "trace", "-r", path, "-o", "json")
	if code != ExitProblems || errOut != "" {
		t.Errorf("exit code %d, stderr %q", code, errOut)
	}
	want := []string{
		`{"kind":"handshake_ok","severity":"ok","id":1,"message":"[2001:db8::51]:41000 connected to [2001:db8::10]:443 in 80µs","source":"` + path + `",` +
			`"time":"2024-05-06T07:08:09.001Z","end":"2024-05-06T07:08:09.00108Z","client":"[2001:db8::51]:41000","server":"[2001:db8::10]:443","client_isn":1,` +
			`"client_mac":"02:00:00:00:50:b2","server_mac":"02:00:00:00:00:10","synack_to":[{"mac":"02:00:00:00:50:b2","count":1}],"syns":1,"synacks":1,"acked":true,"setup_s":0.00008,"outcome":"completed","duration_s":0.00008}`,
		`{"kind":"synack_to_wrong_mac","severity":"problem","id":2,"message":"2001:db8::10 answers 2001:db8::50 at 02:00:00:00:50:a1, but 2001:db8::50 now sends from 02:00:00:00:50:b2: ` +
			`the neighbor entry for 2001:db8::50 is stale ([2001:db8::50]:41000 → [2001:db8::10]:443: 1 SYN, 1 SYN-ACK (1 to 02:00:00:00:50:a1), no ACK); ` +
			`the capture ended 980µs after its last packet","source":"` + path + `","time":"2024-05-06T07:08:09Z","end":"2024-05-06T07:08:09.0001Z",` +
			`"client":"[2001:db8::50]:41000","server":"[2001:db8::10]:443","client_isn":1000,"client_mac":"02:00:00:00:50:b2","server_mac":"02:00:00:00:00:10",` +
			`"synack_to":[{"mac":"02:00:00:00:50:a1","count":1}],"syns":1,"synacks":1,"outcome":"capture_ended","duration_s":0.0001,` +
			`"next":["arpdoctor verify --fix --ip 2001:db8::50"]}`,
		`{"kind":"summary","sources":[{"name":"` + path + `","link_type":"EN10MB","packets":5,"matched":5,"undecodable":0,` +
			`"first":"2024-05-06T07:08:09Z","last":"2024-05-06T07:08:09.00108Z"}],"handshakes":{"handshake_ok":1,"synack_to_wrong_mac":1},"neighbors":{},` +
			`"problems":1,"top_peers":[{"ip":"2001:db8::50","problems":1,"kinds":{"synack_to_wrong_mac":1}}],"evicted":0,"stopped":"end of input"}`,
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(out, "\n"), "\n")); diff != "" {
		t.Errorf("JSON lines (-want +got):\n%s", diff)
	}
	for i, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("line %d is not JSON: %s", i+1, line)
		}
	}
}

// Standard input, written back with -w, and no problem: exit 0.
func TestTraceStdinAndWrite(t *testing.T) {
	w := capturetest.New(t)
	w.TCP(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:80", 1, 0, "S", 0)
	w.After(time.Millisecond).TCP(serverMAC, newMAC, "192.0.2.10:80", "192.0.2.50:41000", 9, 2, "SA", 0)
	w.After(2*time.Millisecond).TCP(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:80", 2, 10, "A", 0)
	w.After(3*time.Millisecond).TCP(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:80", 2, 10, "PA", 1400)
	w.After(4*time.Millisecond).UDP(newMAC, serverMAC, "192.0.2.50:5353", "192.0.2.10:53", 30)
	ios, in, out, errOut := TestStreams()
	in.Write(w.Pcapng())
	written := filepath.Join(t.TempDir(), "out.pcap")
	code := Main(context.Background(), ios, []string{"trace", "-r", "-", "-w", written})
	if code != ExitOK {
		t.Fatalf("exit code %d, stderr %q", code, errOut)
	}
	want := "summary: 1 handshake: 1 handshake_ok; 0 problems\n-: 5 packets, 3 passed the filter (EN10MB)\n"
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	f, err := os.Open(written)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		_, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 3 {
		t.Errorf("%s holds %d packets, want the 3 that passed the filter", written, n)
	}
}

// Two capture points: where the SYN-ACK was lost.
func TestTraceTwoSides(t *testing.T) {
	server, client := capturetest.New(t), capturetest.New(t)
	server.TCP(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 0, "S", 0)
	server.After(100*time.Microsecond).TCP(serverMAC, oldMAC, "192.0.2.10:6379", "192.0.2.50:41000", 5000, 1001, "SA", 0)
	client.After(time.Hour).TCP(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 0, "S", 0)
	dir := t.TempDir()
	sp, cp := filepath.Join(dir, "server.pcap"), filepath.Join(dir, "client.pcap")
	os.WriteFile(sp, server.Pcap(capturetest.LinkEthernet), 0o644)
	os.WriteFile(cp, client.Pcap(capturetest.LinkLinuxSLL2), 0o644)
	code, out, _ := run(t, false, "trace", "-r", sp, "-r", cp)
	if code != ExitProblems {
		t.Errorf("exit code %d", code)
	}
	first := strings.SplitN(out, "\n", 2)[0]
	want := clock(0) + " [" + sp + ", " + cp + "] problem synack_to_wrong_mac: 192.0.2.10 answers 192.0.2.50 at 02:00:00:00:50:a1, " +
		"but 192.0.2.50 now sends from 02:00:00:00:50:b2: the neighbor entry for 192.0.2.50 is stale " +
		"(192.0.2.50:41000 → 192.0.2.10:6379: 1 SYN, 1 SYN-ACK (1 to 02:00:00:00:50:a1), no ACK); the capture ended 0s after its last packet; " +
		"the SYN-ACK left 192.0.2.10 toward 02:00:00:00:50:a1 and never reached 192.0.2.50 (seen in " + sp + ", not in " + cp + ")"
	if first != want {
		t.Errorf("first line\n%s\nwant\n%s", first, want)
	}
	if !strings.Contains(out, "not possible in "+cp+": synack_to_wrong_mac, unanswered_arp_probe: LINUX_SLL2") {
		t.Errorf("summary does not say what the cooked capture cannot show:\n%s", out)
	}
}

// Every kind of trouble is one line on stderr and exit code 2; for a
// capture cut short, the findings before the cut come first.
func TestTraceErrors(t *testing.T) {
	w := incidentCapture(t)
	full := w.Pcap(capturetest.LinkEthernet)
	cut := writeFile(t, "cut.pcap", full[:len(full)-30])
	wifi := writeFile(t, "wifi.pcap", append(append([]byte{}, full[:20]...), 105, 0, 0, 0))
	missing := filepath.Join(t.TempDir(), "missing.pcap")
	tests := []struct {
		args     []string
		stderr   string
		stdoutOK func(string) bool
	}{
		{[]string{"trace"}, "arpdoctor: give -i INTERFACE to capture live, or -r FILE to read a capture (see 'arpdoctor trace --help')", nil},
		{[]string{"trace", "-r", missing}, "arpdoctor: opening capture: open " + missing + ": no such file or directory", nil},
		{[]string{"trace", "-r", wifi}, "arpdoctor: " + wifi + ": unsupported link type 105 (802.11): trace reads Ethernet, Linux cooked (SLL, SLL2) and raw IP captures", nil},
		{[]string{"trace", "-r", cut}, "arpdoctor: reading " + cut + ": packet 18 at offset 1316: the file ends inside the packet (a capture cut short); the findings before it are above",
			func(out string) bool {
				return strings.Contains(out, "problem synack_to_wrong_mac:") && strings.Contains(out, "summary: ")
			}},
		{[]string{"trace", "-r", cut, "-o", "wide"}, "arpdoctor: trace does not print -o wide (want table, json) (see 'arpdoctor trace --help')", nil},
		{[]string{"--netns", "arpdt-absent", "trace", "-i", "eth0"}, `arpdoctor: network namespace "arpdt-absent" not found: no /run/netns/arpdt-absent (` + "`ip netns list`" + ` shows the names)`, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := run(t, false, tt.args...)
			if code != ExitTrouble {
				t.Errorf("exit code %d, want %d", code, ExitTrouble)
			}
			if diff := cmp.Diff(tt.stderr+"\n", errOut); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if tt.stdoutOK == nil && out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if tt.stdoutOK != nil && !tt.stdoutOK(out) {
				t.Errorf("stdout lacks the findings so far:\n%s", out)
			}
		})
	}
}

// Without CAP_NET_RAW a live capture fails at once, naming the
// capability. The capability is dropped from this thread only (Linux
// keeps capabilities per thread), and the packet socket it tries is one
// that would receive nothing.
func TestTraceWithoutCapNetRaw(t *testing.T) {
	done := make(chan struct{})
	var code int
	var errOut string
	go func() {
		defer close(done)
		// The thread is never unlocked: the runtime discards it, and no
		// other goroutine runs without the capability.
		runtime.LockOSThread()
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			t.Errorf("capget: %v", err)
			return
		}
		data[unix.CAP_NET_RAW/32].Effective &^= 1 << (unix.CAP_NET_RAW % 32)
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			t.Errorf("capset: %v", err)
			return
		}
		code, _, errOut = run(t, false, "trace", "-i", "arpdt-none0")
	}()
	<-done
	want := "arpdoctor: capturing on arpdt-none0 needs CAP_NET_RAW: run as root, or give the binary the capability: sudo setcap cap_net_raw+ep $(command -v arpdoctor)\n"
	if code != ExitTrouble || errOut != want {
		t.Errorf("exit code %d, stderr %q; want %d, %q", code, errOut, ExitTrouble, want)
	}
}
