package commands

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/go-cmp/cmp"
)

// watching runs arpdoctor in the background with stdout a pipe; lines
// come out one by one, and stop cancels the run and returns its exit code.
type watching struct {
	lines  *bufio.Scanner
	cancel context.CancelFunc
	code   chan int
	errOut *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startArpdoctor(t *testing.T, ios *IOStreams, args ...string) *watching {
	t.Helper()
	pr, pw := io.Pipe()
	ios.Out = pw
	errOut := &lockedBuffer{}
	ios.ErrOut = errOut
	ctx, cancel := context.WithCancel(context.Background())
	w := &watching{lines: bufio.NewScanner(pr), cancel: cancel, code: make(chan int, 1), errOut: errOut}
	go func() {
		code := Main(ctx, ios, args)
		pw.Close()
		w.code <- code
	}()
	t.Cleanup(func() { cancel(); pr.Close() })
	return w
}

// nextLine waits for the next line of output.
func (w *watching) nextLine(t *testing.T) string {
	t.Helper()
	line := make(chan string, 1)
	go func() {
		if w.lines.Scan() {
			line <- w.lines.Text()
		}
		close(line)
	}()
	select {
	case l, ok := <-line:
		if !ok {
			t.Fatalf("output ended; stderr: %s", w.errOut.String())
		}
		return l
	case <-time.After(10 * time.Second):
		t.Fatal("no line within 10s")
	}
	return ""
}

// next waits for the next line, a JSON object of strings.
func (w *watching) next(t *testing.T) map[string]string {
	t.Helper()
	l := w.nextLine(t)
	var m map[string]string
	if err := json.Unmarshal([]byte(l), &m); err != nil {
		t.Fatalf("not a JSON line of strings: %q: %v", l, err)
	}
	return m
}

func (w *watching) stop(t *testing.T) int {
	w.cancel()
	go func() {
		for w.lines.Scan() {
		}
	}()
	select {
	case c := <-w.code:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("arpdoctor did not stop")
	}
	return -1
}

// The reused-IP story as watch tells it, one JSON line per event, in the
// namespace given by --netns; a MAC change makes the exit code 1.
func TestWatchJSONLines(t *testing.T) {
	lab := neightest.NewLab(t)
	server := lab.AddHost(neightest.HostConfig{Name: "server", Addrs: []string{"192.0.2.10/24"}})
	server.SetNeigh(netip.MustParseAddr("192.0.2.50"), "02:00:00:00:50:a1", neigh.Stale)
	ios, _, _, _ := TestStreams()
	w := startArpdoctor(t, ios, "--netns", server.Name, "watch", "--ip", "192.0.2.0/24")
	present := w.next(t)
	if diff := cmp.Diff(map[string]string{"event": "present", "ip": "192.0.2.50", "interface": "eth0",
		"mac": "02:00:00:00:50:a1", "old_mac": "", "state": "STALE", "old_state": ""}, withoutTime(t, present)); diff != "" {
		t.Errorf("present (-want +got):\n%s", diff)
	}
	server.SetNeigh(netip.MustParseAddr("192.0.2.50"), "02:00:00:00:50:b2", neigh.Reachable)
	changed := w.next(t)
	if diff := cmp.Diff(map[string]string{"event": "mac_changed", "ip": "192.0.2.50", "interface": "eth0",
		"mac": "02:00:00:00:50:b2", "old_mac": "02:00:00:00:50:a1", "state": "REACHABLE", "old_state": "STALE"}, withoutTime(t, changed)); diff != "" {
		t.Errorf("mac_changed (-want +got):\n%s", diff)
	}
	// Outside --ip: not reported.
	server.SetNeigh(netip.MustParseAddr("198.51.100.1"), "02:00:00:00:00:01", neigh.Stale)
	server.SetNeigh(netip.MustParseAddr("192.0.2.51"), "02:00:00:00:00:51", neigh.Permanent)
	if ev := w.next(t); ev["ip"] != "192.0.2.51" || ev["event"] != "new" {
		t.Errorf("next event %v, want new 192.0.2.51", ev)
	}
	if code := w.stop(t); code != ExitProblems {
		t.Errorf("exit code %d after a mac_changed, want %d", code, ExitProblems)
	}
}

func withoutTime(t *testing.T, m map[string]string) map[string]string {
	t.Helper()
	if _, err := time.Parse(time.RFC3339Nano, m["time"]); err != nil {
		t.Errorf("time %q: %v", m["time"], err)
	}
	delete(m, "time")
	return m
}

// --changes-only leaves out what was there; --duration ends a quiet
// watch with exit code 0.
func TestWatchChangesOnlyDuration(t *testing.T) {
	lab := neightest.NewLab(t)
	server := lab.AddHost(neightest.HostConfig{Name: "server", Addrs: []string{"192.0.2.10/24"}})
	server.SetNeigh(netip.MustParseAddr("192.0.2.50"), "02:00:00:00:50:a1", neigh.Stale)
	code, out, errOut := run(t, false, "--netns", server.Name, "watch", "--changes-only", "--duration", "300ms")
	if code != 0 || out != "" || errOut != "" {
		t.Errorf("exit %d, stdout %q, stderr %q; want 0 and nothing", code, out, errOut)
	}
	code, _, errOut = run(t, false, "--netns", server.Name, "watch", "-i", "eth9", "--duration", "1s")
	if code != ExitTrouble || !strings.Contains(errOut, `interface "eth9" not found`) {
		t.Errorf("unknown interface: exit %d, stderr %q", code, errOut)
	}
}

// On a terminal, watch draws on the alternate screen and gives the
// terminal back when it ends.
func TestWatchFullScreen(t *testing.T) {
	lab := neightest.NewLab(t)
	server := lab.AddHost(neightest.HostConfig{Name: "server", Addrs: []string{"192.0.2.10/24"}})
	server.SetNeigh(netip.MustParseAddr("192.0.2.50"), "02:00:00:00:50:a1", neigh.Stale)
	ios, _, out, _ := TestStreams()
	ios.OutTTY = true
	term := &fakeTerm{}
	ios.Term = term
	code := Main(context.Background(), ios, []string{"--netns", server.Name, "--color", "never", "watch", "--duration", "500ms"})
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	s := out.String()
	if !strings.HasPrefix(s, enterFullScreen) || !strings.HasSuffix(s, leaveFullScreen) || !term.restored {
		t.Errorf("terminal not entered and restored (restored=%v): %q", term.restored, s)
	}
	if !strings.Contains(s, "192.0.2.50  02:00:00:00:50:a1  eth0       STALE") || !strings.Contains(s, "1 entry: 1 STALE") {
		t.Errorf("screen lacks the entry:\n%s", s)
	}
}

// The incident, watched from the server: the entry for the reused IP holds
// the dead instance's MAC; when the new client connects, the server probes
// the old MAC, gives up, asks again, and learns the new MAC: mac_changed
// with both.
func TestWatchIncident(t *testing.T) {
	in := neightest.NewIncident(t)
	ios, _, _, _ := TestStreams()
	w := startArpdoctor(t, ios, "--netns", in.Server.Name, "watch", "--ip", neightest.ClientIP)
	if ev := w.next(t); ev["event"] != "present" || ev["mac"] != neightest.OldMAC || ev["state"] != "STALE" {
		t.Fatalf("first event %v, want the stale entry with the old MAC", ev)
	}
	connected := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		connected <- in.Connect(ctx)
	}()
	var seen []string
	for {
		ev := w.next(t)
		seen = append(seen, ev["event"]+" "+ev["state"])
		if ev["event"] == "mac_changed" {
			if ev["old_mac"] != neightest.OldMAC || ev["mac"] != neightest.NewMAC {
				t.Errorf("mac_changed %v, want %s -> %s", ev, neightest.OldMAC, neightest.NewMAC)
			}
			break
		}
		if len(seen) > 20 {
			t.Fatalf("no mac_changed among %v", seen)
		}
	}
	if err := <-connected; err != nil {
		t.Errorf("the new client never connected: %v", err)
	}
	t.Logf("events: %v", seen)
	// The kernel probed the dead MAC in vain: a failure, not a state change.
	if !slices.Contains(seen, "failed FAILED") {
		t.Errorf("no failed event among %v", seen)
	}
	if code := w.stop(t); code != ExitProblems {
		t.Errorf("exit code %d, want %d", code, ExitProblems)
	}
}

// BenchmarkWatchJSONLatency measures, for `arpdoctor watch -o json`, the
// time from a change made in the kernel to its JSON line on stdout.
func BenchmarkWatchJSONLatency(b *testing.B) {
	lab := neightest.NewLab(b)
	server := lab.AddHost(neightest.HostConfig{Name: "server", Addrs: []string{"192.0.2.10/24"}})
	server.SetNeigh(netip.MustParseAddr("192.0.2.50"), "02:00:00:00:50:a1", neigh.Permanent)
	pr, pw := io.Pipe()
	ios, _, _, _ := TestStreams()
	ios.Out = pw
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- Main(ctx, ios, []string{"--netns", server.Name, "watch", "-o", "json"}); pw.Close() }()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() { // present: watching has begun
		b.Fatal("no first line")
	}
	macs := []string{"02:00:00:00:50:b2", "02:00:00:00:50:a1"}
	var total time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		server.SetNeigh(netip.MustParseAddr("192.0.2.50"), macs[n%2], neigh.Permanent)
		if !lines.Scan() {
			b.Fatal("output ended")
		}
		total += time.Since(start)
		n++
	}
	b.ReportMetric(float64(total.Microseconds())/float64(n), "µs/line")
	cancel()
	go func() {
		for lines.Scan() {
		}
	}()
	<-done
}
