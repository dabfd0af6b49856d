package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/exporter"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// exporting is `arpdoctor exporter` running in the test process, serving
// on a port of 127.0.0.1 that the kernel chose.
type exporting struct {
	base   string // http://127.0.0.1:PORT
	errOut *lockedBuffer
	cancel context.CancelFunc
	code   chan int
}

var listeningOn = regexp.MustCompile(`"msg":"Listening on","address":"([^"]+)"`)

func startExporter(t *testing.T, args ...string) *exporting {
	t.Helper()
	return startExporterWith(t, kernelSeams(), args...)
}

// startExporterWith is startExporter with the seams given.
func startExporterWith(t *testing.T, s seams, args ...string) *exporting {
	t.Helper()
	ex := &exporting{errOut: &lockedBuffer{}, code: make(chan int, 1)}
	ios := &IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: ex.errOut, Getenv: func(string) string { return "" }}
	ctx, cancel := context.WithCancel(context.Background())
	ex.cancel = cancel
	args = append(args, "--web.listen-address", "127.0.0.1:0", "--log.format", "json")
	go func() { ex.code <- mainWith(ctx, ios, s, args) }()
	t.Cleanup(cancel)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := listeningOn.FindStringSubmatch(ex.errOut.String()); m != nil {
			ex.base = "http://" + m[1]
			return ex
		}
		select {
		case code := <-ex.code:
			t.Fatalf("exporter %v ended with %d before listening: %s", args, code, ex.errOut)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("exporter %v is not listening after 10s: %s", args, ex.errOut)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (ex *exporting) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get(ex.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v: %s", path, resp.Status, err, b)
	}
	return string(b)
}

// value reads a sample of the exposition, -1 when it is absent.
func value(exposition, series string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// await scrapes until the series reaches at least min, or fails after a
// generous while: the events come from the kernel in their own time.
func (ex *exporting) await(t *testing.T, series string, min float64) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := ex.get(t, "/metrics")
		if value(m, series) >= min {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not reach %v; last scrape:\n%s\nlog:\n%s", series, min, grepArpdoctor(m), ex.errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func grepArpdoctor(m string) string {
	var keep []string
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, "arpdoctor_") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func (ex *exporting) stop(t *testing.T) int {
	t.Helper()
	ex.cancel()
	select {
	case c := <-ex.code:
		return c
	case <-time.After(15 * time.Second):
		t.Fatal("the exporter did not stop")
	}
	return -1
}

func (ex *exporting) findings(t *testing.T) exporter.FindingsPage {
	t.Helper()
	var p exporter.FindingsPage
	if err := json.Unmarshal([]byte(ex.get(t, "/findings")), &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestExporterIncident: the exporter, reading the server's namespace,
// shows the stale entry, names it with both MACs when the new client's
// connects fail, and counts the MAC change when the entry is replaced.
func TestExporterIncident(t *testing.T) {
	in := neightest.NewIncident(t)
	ex := startExporter(t, "--netns", in.Server.Name, "exporter", "--trace-interface", "eth0")

	m := ex.get(t, "/metrics")
	if v := value(m, `arpdoctor_neighbor_entries{family="inet",interface="eth0",state="STALE"}`); v != 1 {
		t.Errorf("STALE entries on eth0: %v, want 1; scrape:\n%s", v, grepArpdoctor(m))
	}
	for _, c := range []string{"neighbor", "table", "settings", "events", "handshake"} {
		if v := value(m, `arpdoctor_collector_success{collector="`+c+`"}`); v != 1 {
			t.Errorf("collector %s: success %v, want 1; log:\n%s", c, v, ex.errOut)
		}
	}
	// Inside a namespace the table-wide settings come over netlink: the
	// rules about them are judged all the same.
	for _, rule := range []string{"stale-entries", "threshold-order", "arp-notify", "ndisc-notify"} {
		if v := value(m, `arpdoctor_sysctl_rule_ok{profile="cloud",rule="`+rule+`"}`); v != 0 && v != 1 {
			t.Errorf("rule %s: %v, want 0 or 1", rule, v)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2500*time.Millisecond)
	err := in.Connect(ctx)
	cancel()
	if err == nil {
		t.Fatal("the new client connected: the incident did not happen")
	}
	ex.await(t, `arpdoctor_handshake_findings_total{interface="eth0",kind="synack_to_wrong_mac"}`, 1)

	var stale *exporter.Record
	page := ex.findings(t)
	for i, r := range page.Findings {
		if r.Kind == "synack_to_wrong_mac" {
			stale = &page.Findings[i]
		}
	}
	client := netip.MustParseAddr(neightest.ClientIP)
	if stale == nil {
		t.Fatalf("/findings has no synack_to_wrong_mac: %+v", page)
	}
	if stale.IP != client || stale.MAC != neightest.NewMAC || stale.OldMAC != neightest.OldMAC || stale.Interface != "eth0" || stale.Source != "trace" {
		t.Errorf("finding %+v: want ip %s, mac %s (the client's), old_mac %s (cached), interface eth0", *stale, client, neightest.NewMAC, neightest.OldMAC)
	}
	// The same, as one log line: the same facts, the finding's own time
	// as seen.
	line := `"kind":"synack_to_wrong_mac","severity":"problem","seen":"` + stale.Time.Format(time.RFC3339Nano) +
		`","family":"inet","interface":"eth0","ip":"192.0.2.50","mac":"` + neightest.NewMAC + `","old_mac":"` + neightest.OldMAC + `"`
	if !strings.Contains(ex.errOut.String(), line) {
		t.Errorf("no log line for the finding with %s:\n%s", line, ex.errOut)
	}

	// The server's kernel may correct the entry itself (its SYN-ACK
	// retransmissions make it ask again), a mac_changed of its own: the
	// replacement is told apart by its MAC.
	const replaced = "02:00:00:00:50:c3"
	series := `arpdoctor_neighbor_events_total{event="mac_changed",family="inet",interface="eth0"}`
	before := value(ex.get(t, "/metrics"), series)
	in.Server.SetNeigh(client, replaced, neigh.Reachable)
	deadline := time.Now().Add(30 * time.Second)
	for !hasEvent(ex.findings(t), "mac_changed", client, replaced) {
		if time.Now().After(deadline) {
			t.Fatalf("/findings has no mac_changed event to %s: %+v", replaced, ex.findings(t))
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Every finding names the commands to run, in the namespace read.
	page = ex.findings(t)
	checkRecords(t, page)
	for _, r := range page.Findings {
		for _, n := range r.Next {
			if n.NetNS != in.Server.Name {
				t.Errorf("%s %s: %s runs outside the namespace read", r.Source, r.Kind, n)
			}
		}
	}
	// An event is counted before it is kept for /findings.
	if v := value(ex.get(t, "/metrics"), series); v < max(before, 0)+1 {
		t.Errorf("%s = %v, want at least %v", series, v, max(before, 0)+1)
	}
	if code := ex.stop(t); code != ExitOK {
		t.Errorf("exit code %d after cancel, want 0; log:\n%s", code, ex.errOut)
	}
}

func hasEvent(p exporter.FindingsPage, kind string, ip netip.Addr, mac string) bool {
	for _, r := range p.Findings {
		if r.Source == "events" && r.Kind == kind && r.IP == ip && r.MAC == mac {
			return true
		}
	}
	return false
}

// TestExporterScrapeStorm: eight scrapers, two hundred scrapes each, all
// answered, and the heap stays bounded while they come.
func TestExporterScrapeStorm(t *testing.T) {
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "storm", MAC: "02:00:00:00:00:20", Addrs: []string{"192.0.2.20/24", "2001:db8::20/64"}})
	for i := range 24 {
		h.SetNeigh(netip.AddrFrom4([4]byte{192, 0, 2, byte(100 + i)}), fmt.Sprintf("02:00:00:00:01:%02x", i), neigh.Stale)
	}
	ex := startExporter(t, "--netns", h.Name, "exporter")
	ex.get(t, "/metrics") // the first scrape warms the runtime's own metrics up

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	sampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > peak.Load() {
				peak.Store(ms.HeapAlloc)
			}
			select {
			case <-sampling:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()

	const scrapers, scrapes = 8, 200
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: scrapers}}
	var wg sync.WaitGroup
	var failures atomic.Int64
	var firstErr atomic.Value
	for range scrapers {
		wg.Go(func() {
			for range scrapes {
				resp, err := client.Get(ex.base + "/metrics")
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `arpdoctor_neighbor_entries{family="inet",interface="eth0",state="STALE"} 24`) {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s %v", resp.Status, err))
				}
			}
		})
	}
	wg.Wait()
	close(sampling)
	<-sampled
	if n := failures.Load(); n > 0 {
		t.Errorf("%d of %d scrapes failed; the first: %v", n, scrapers*scrapes, firstErr.Load())
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	t.Logf("heap: %.1f MiB before, %.1f MiB at the peak, %.1f MiB after %d scrapes",
		float64(base)/(1<<20), float64(peak.Load())/(1<<20), float64(ms.HeapAlloc)/(1<<20), scrapers*scrapes)
	// What a scrape holds is a few hundred kilobytes: a storm that grew
	// the heap by tens of megabytes would be keeping something per scrape.
	const most = 64 << 20
	if peak.Load() > base+most {
		t.Errorf("the heap peaked at %d bytes, %d above the start: want at most %d more", peak.Load(), peak.Load()-base, most)
	}
	if ms.HeapAlloc > base+8<<20 {
		t.Errorf("after the storm the heap holds %d bytes more than before it", ms.HeapAlloc-base)
	}
	if code := ex.stop(t); code != ExitOK {
		t.Errorf("exit code %d after cancel, want 0; log:\n%s", code, ex.errOut)
	}
}

// TestExporterVerify: active verification proves the server's entry for
// the reused IP wrong: the new client answers from another MAC.
func TestExporterVerify(t *testing.T) {
	in := neightest.NewIncident(t)
	ex := startExporter(t, "--netns", in.Server.Name, "exporter", "--verify-interval", "10s")
	m := ex.await(t, `arpdoctor_verify_entries{verdict="mismatch"}`, 1)
	if v := value(m, `arpdoctor_verify_last_run_timestamp_seconds`); v <= 0 {
		t.Errorf("no time of the last round: %v", v)
	}
	client := netip.MustParseAddr(neightest.ClientIP)
	found := false
	page := ex.findings(t)
	for _, r := range page.Findings {
		found = found || (r.Source == "verify" && r.Kind == "mismatch" && r.IP == client && r.MAC == neightest.NewMAC && r.OldMAC == neightest.OldMAC)
	}
	checkRecords(t, page)
	if !found {
		t.Errorf("/findings has no mismatch for %s (%s answered, %s cached): %+v", client, neightest.NewMAC, neightest.OldMAC, ex.findings(t))
	}
	if code := ex.stop(t); code != ExitOK {
		t.Errorf("exit code %d after cancel, want 0; log:\n%s", code, ex.errOut)
	}
}

// TestExporterBasicAuth: --web.config.file is the exporter-toolkit's: a
// scrape without the password is refused, one with it answered.
func TestExporterBasicAuth(t *testing.T) {
	ns := neightest.NewNamespace(t, "auth")
	cfg := filepath.Join(t.TempDir(), "web.yml")
	// bcrypt of "scrape-secret", cost 4.
	conf := "basic_auth_users:\n  prometheus: $2a$04$sdAMsdRgb7o.F35mqnyko.m55qdwrL/1TYQSTKUDhcawIslB0q61q\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	ex := startExporter(t, "--netns", ns.Name, "exporter", "--web.config.file", cfg)
	for _, tc := range []struct {
		user, password string
		want           int
	}{
		{"", "", http.StatusUnauthorized},
		{"prometheus", "wrong", http.StatusUnauthorized},
		{"prometheus", "scrape-secret", http.StatusOK},
	} {
		for _, path := range []string{"/metrics", "/findings"} {
			req, _ := http.NewRequest("GET", ex.base+path, nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.password)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("GET %s as %q/%q: %d, want %d", path, tc.user, tc.password, resp.StatusCode, tc.want)
			}
		}
	}
	if code := ex.stop(t); code != ExitOK {
		t.Errorf("exit code %d after cancel, want 0; log:\n%s", code, ex.errOut)
	}
}

// TestExporterNetNSDeleted: after `ip netns del NAME` the exporter still
// holds the namespace, which nothing else can reach: every collector
// fails, with one log line that says why, until the name refers to that
// namespace again.
func TestExporterNetNSDeleted(t *testing.T) {
	ns := neightest.NewNamespace(t, "del")
	ex := startExporter(t, "--netns", ns.Name, "exporter")
	if v := value(ex.get(t, "/metrics"), `arpdoctor_collector_success{collector="neighbor"}`); v != 1 {
		t.Fatalf("neighbor collector success %v before the deletion; log:\n%s", v, ex.errOut)
	}

	path := filepath.Join(neigh.NamedNetNSDir, ns.Name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		m := ex.get(t, "/metrics")
		for _, c := range []string{"neighbor", "table", "settings", "events"} {
			if v := value(m, `arpdoctor_collector_success{collector="`+c+`"}`); v != 0 {
				t.Errorf("collector %s: success %v after the deletion, want 0", c, v)
			}
		}
	}
	msg := "network namespace " + ns.Name + " was deleted: its name no longer refers to the namespace this exporter holds"
	if n := strings.Count(ex.errOut.String(), msg); n != 1 {
		t.Errorf("%q logged %d times in three scrapes, want once:\n%s", msg, n, ex.errOut)
	}

	// The name made anew for the same namespace, as `ip netns attach`
	// would: the exporter reads it again (and the test's cleanup finds
	// the name it removes).
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(ns.Fd()), path, "none", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	if v := value(ex.get(t, "/metrics"), `arpdoctor_collector_success{collector="neighbor"}`); v != 1 {
		t.Errorf("neighbor collector success %v once the name is back, want 1; log:\n%s", v, ex.errOut)
	}
	if code := ex.stop(t); code != ExitOK {
		t.Errorf("exit code %d after cancel, want 0; log:\n%s", code, ex.errOut)
	}
}

// TestExporterTraceAutoNS: --trace-interface auto traces the interface of
// the namespace's default route, and says which in the log; a namespace
// without one is one line, exit 2.
func TestExporterTraceAutoNS(t *testing.T) {
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "auto", MAC: "02:00:00:00:00:30", Addrs: []string{"192.0.2.30/24"}})
	code, out, errOut := run(t, false, "--netns", h.Name, "exporter", "--trace-interface", "auto", "--web.listen-address", "127.0.0.1:0")
	want := "arpdoctor: --trace-interface auto: network namespace " + h.Name + " has no default route; name the interface to trace (see 'arpdoctor exporter --help')\n"
	if code != ExitTrouble || errOut != want || out != "" {
		t.Errorf("without a default route: exit %d, stderr %q, stdout %q; want %d and %q", code, errOut, out, ExitTrouble, want)
	}

	link, err := h.Netlink.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	gw := net.ParseIP("192.0.2.1")
	if err := h.Netlink.RouteAdd(&netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw}); err != nil {
		t.Fatal(err)
	}
	ex := startExporter(t, "--netns", h.Name, "exporter", "--trace-interface", "auto")
	if !strings.Contains(ex.errOut.String(), `"trace_interface":"auto","interface":"eth0"`) {
		t.Errorf("the log does not say auto chose eth0:\n%s", ex.errOut)
	}
	m := ex.get(t, "/metrics")
	if v := value(m, `arpdoctor_handshake_findings_total{interface="eth0",kind="synack_to_wrong_mac"}`); v != 0 {
		t.Errorf("eth0 is not traced: %v; scrape:\n%s", v, grepArpdoctor(m))
	}
	if code := ex.stop(t); code != ExitOK {
		t.Errorf("exit code %d after cancel, want 0; log:\n%s", code, ex.errOut)
	}
}
