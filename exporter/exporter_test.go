package exporter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeKernel is a fixed table.
type fakeKernel struct {
	entries []neigh.Entry
	tables  []neigh.Table
	err     error
}

func (k *fakeKernel) List(f neigh.Filter) ([]neigh.Entry, error) {
	if k.err != nil {
		return nil, k.err
	}
	out := make([]neigh.Entry, 0, len(k.entries))
	for i := range k.entries {
		if f.Match(&k.entries[i]) {
			out = append(out, k.entries[i])
		}
	}
	return out, nil
}

func (k *fakeKernel) Census() ([]neigh.Group, error) {
	if k.err != nil {
		return nil, k.err
	}
	return neigh.CensusOf(k.entries), nil
}

func (k *fakeKernel) Tables(f neigh.Family) ([]neigh.Table, error) {
	if k.err != nil {
		return nil, k.err
	}
	var out []neigh.Table
	for _, t := range k.tables {
		if f == "" || t.Family == f {
			out = append(out, t)
		}
	}
	return out, nil
}

func entry(ip, mac, ifname string, state neigh.State) neigh.Entry {
	a := netip.MustParseAddr(ip)
	fam := neigh.Inet
	if a.Is6() {
		fam = neigh.Inet6
	}
	return neigh.Entry{IP: a, Family: fam, MAC: mac, Interface: ifname, State: state}
}

// one wraps a single collector for testutil.
type one struct {
	c   collector
	src tableReader
}

func (o one) Describe(ch chan<- *prometheus.Desc) { o.c.describe(ch) }
func (o one) Collect(ch chan<- prometheus.Metric) {
	o.c.update(&scrape{src: o.src}, ch)
}

func compare(t *testing.T, c prometheus.Collector, want string, names ...string) {
	t.Helper()
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func TestNeighborCollector(t *testing.T) {
	k := &fakeKernel{entries: []neigh.Entry{
		entry("192.0.2.1", "02:00:00:00:00:01", "eth0", neigh.Reachable),
		entry("192.0.2.2", "02:00:00:00:00:02", "eth0", neigh.Stale),
		entry("192.0.2.3", "02:00:00:00:00:03", "eth0", neigh.Stale),
		entry("192.0.2.4", "", "eth0", neigh.Failed),
		entry("2001:db8::1", "02:00:00:00:00:01", "eth0", neigh.Reachable),
		entry("198.51.100.1", "02:00:00:00:01:01", "eth1", neigh.Permanent),
		entry("198.51.100.2", "", "eth1", neigh.Incomplete),
	}}
	compare(t, one{&neighborCollector{maxInterfaces: DefaultMaxInterfaces}, k}, `
# HELP arpdoctor_neighbor_entries Neighbor entries by family, interface and NUD state; only non-zero series, interfaces past the budget folded into interface="other".
# TYPE arpdoctor_neighbor_entries gauge
arpdoctor_neighbor_entries{family="inet",interface="eth0",state="FAILED"} 1
arpdoctor_neighbor_entries{family="inet",interface="eth0",state="REACHABLE"} 1
arpdoctor_neighbor_entries{family="inet",interface="eth0",state="STALE"} 2
arpdoctor_neighbor_entries{family="inet",interface="eth1",state="INCOMPLETE"} 1
arpdoctor_neighbor_entries{family="inet",interface="eth1",state="PERMANENT"} 1
arpdoctor_neighbor_entries{family="inet6",interface="eth0",state="REACHABLE"} 1
`)
}

func TestNeighborCollectorFoldsInterfaces(t *testing.T) {
	k := &fakeKernel{}
	// eth0 has three entries, eth1 two, the rest one each: with a budget
	// of two, eth0 and eth1 keep their series.
	k.entries = append(k.entries,
		entry("192.0.2.1", "02:00:00:00:00:01", "eth0", neigh.Stale),
		entry("192.0.2.2", "02:00:00:00:00:02", "eth0", neigh.Stale),
		entry("192.0.2.3", "02:00:00:00:00:03", "eth0", neigh.Reachable),
		entry("192.0.2.4", "02:00:00:00:00:04", "eth1", neigh.Stale),
		entry("192.0.2.5", "02:00:00:00:00:05", "eth1", neigh.Stale))
	for i := range 30 {
		k.entries = append(k.entries, entry(fmt.Sprintf("198.51.100.%d", i+1), "02:00:00:00:01:01", fmt.Sprintf("veth%d", i), neigh.Stale))
	}
	compare(t, one{&neighborCollector{maxInterfaces: 2}, k}, `
# HELP arpdoctor_neighbor_entries Neighbor entries by family, interface and NUD state; only non-zero series, interfaces past the budget folded into interface="other".
# TYPE arpdoctor_neighbor_entries gauge
arpdoctor_neighbor_entries{family="inet",interface="eth0",state="REACHABLE"} 1
arpdoctor_neighbor_entries{family="inet",interface="eth0",state="STALE"} 2
arpdoctor_neighbor_entries{family="inet",interface="eth1",state="STALE"} 2
arpdoctor_neighbor_entries{family="inet",interface="other",state="STALE"} 30
`)
	// A negative budget keeps every interface.
	if n := testutil.CollectAndCount(one{&neighborCollector{maxInterfaces: -1}, k}); n != 33 {
		t.Errorf("without a budget: %d series, want 33", n)
	}
}

var tablesForTest = []neigh.Table{
	{Family: neigh.Inet, Name: "arp_cache", Thresh1: 128, Thresh2: 512, Thresh3: 1024, Entries: 7,
		Stats: neigh.Stats{Allocs: 100, Destroys: 93, HashGrows: 2, ResFailed: 5, Lookups: 1000, Hits: 900,
			RcvProbesMcast: 3, RcvProbesUcast: 4, PeriodicGCRuns: 50, ForcedGCRuns: 1, TableFulls: 0}},
	{Family: neigh.Inet6, Name: "ndisc_cache", Thresh1: 128, Thresh2: 512, Thresh3: 1024, Entries: 2,
		Stats: neigh.Stats{Allocs: 10, Destroys: 8}},
}

func TestTableCollector(t *testing.T) {
	k := &fakeKernel{tables: tablesForTest}
	proc := func(table string) (neigh.ProcStats, error) {
		if table == "arp_cache" {
			return neigh.ProcStats{"entries": 7, "unresolved_discards": 12}, nil
		}
		return neigh.ProcStats{"entries": 2, "unresolved_discards": 0}, nil
	}
	compare(t, one{&tableCollector{procStats: proc}, k}, `
# HELP arpdoctor_neighbor_table_allocs_total Entries allocated.
# TYPE arpdoctor_neighbor_table_allocs_total counter
arpdoctor_neighbor_table_allocs_total{family="inet"} 100
arpdoctor_neighbor_table_allocs_total{family="inet6"} 10
# HELP arpdoctor_neighbor_table_destroys_total Entries destroyed.
# TYPE arpdoctor_neighbor_table_destroys_total counter
arpdoctor_neighbor_table_destroys_total{family="inet"} 93
arpdoctor_neighbor_table_destroys_total{family="inet6"} 8
# HELP arpdoctor_neighbor_table_entries Entries in the kernel's neighbor table, all network namespaces together.
# TYPE arpdoctor_neighbor_table_entries gauge
arpdoctor_neighbor_table_entries{family="inet"} 7
arpdoctor_neighbor_table_entries{family="inet6"} 2
# HELP arpdoctor_neighbor_table_forced_gc_runs_total Forced garbage collections: the table was above gc_thresh2 or at gc_thresh3.
# TYPE arpdoctor_neighbor_table_forced_gc_runs_total counter
arpdoctor_neighbor_table_forced_gc_runs_total{family="inet"} 1
arpdoctor_neighbor_table_forced_gc_runs_total{family="inet6"} 0
# HELP arpdoctor_neighbor_table_fulls_total Times the table was full and an entry was refused (ndts_table_fulls).
# TYPE arpdoctor_neighbor_table_fulls_total counter
arpdoctor_neighbor_table_fulls_total{family="inet"} 0
arpdoctor_neighbor_table_fulls_total{family="inet6"} 0
# HELP arpdoctor_neighbor_table_gc_thresh1 Below this many entries the garbage collector does not run: stale entries live on.
# TYPE arpdoctor_neighbor_table_gc_thresh1 gauge
arpdoctor_neighbor_table_gc_thresh1{family="inet"} 128
arpdoctor_neighbor_table_gc_thresh1{family="inet6"} 128
# HELP arpdoctor_neighbor_table_gc_thresh2 Above this many entries for 5 seconds the kernel forces a garbage collection.
# TYPE arpdoctor_neighbor_table_gc_thresh2 gauge
arpdoctor_neighbor_table_gc_thresh2{family="inet"} 512
arpdoctor_neighbor_table_gc_thresh2{family="inet6"} 512
# HELP arpdoctor_neighbor_table_gc_thresh3 The table's hard limit: at this many entries new neighbors are refused.
# TYPE arpdoctor_neighbor_table_gc_thresh3 gauge
arpdoctor_neighbor_table_gc_thresh3{family="inet"} 1024
arpdoctor_neighbor_table_gc_thresh3{family="inet6"} 1024
# HELP arpdoctor_neighbor_table_hash_grows_total Times the table's hash was grown.
# TYPE arpdoctor_neighbor_table_hash_grows_total counter
arpdoctor_neighbor_table_hash_grows_total{family="inet"} 2
arpdoctor_neighbor_table_hash_grows_total{family="inet6"} 0
# HELP arpdoctor_neighbor_table_hits_total Lookups that found an entry.
# TYPE arpdoctor_neighbor_table_hits_total counter
arpdoctor_neighbor_table_hits_total{family="inet"} 900
arpdoctor_neighbor_table_hits_total{family="inet6"} 0
# HELP arpdoctor_neighbor_table_lookups_total Lookups in the table.
# TYPE arpdoctor_neighbor_table_lookups_total counter
arpdoctor_neighbor_table_lookups_total{family="inet"} 1000
arpdoctor_neighbor_table_lookups_total{family="inet6"} 0
# HELP arpdoctor_neighbor_table_periodic_gc_runs_total Periodic garbage collections.
# TYPE arpdoctor_neighbor_table_periodic_gc_runs_total counter
arpdoctor_neighbor_table_periodic_gc_runs_total{family="inet"} 50
arpdoctor_neighbor_table_periodic_gc_runs_total{family="inet6"} 0
# HELP arpdoctor_neighbor_table_rcv_probes_mcast_total Multicast (broadcast) solicitations received.
# TYPE arpdoctor_neighbor_table_rcv_probes_mcast_total counter
arpdoctor_neighbor_table_rcv_probes_mcast_total{family="inet"} 3
arpdoctor_neighbor_table_rcv_probes_mcast_total{family="inet6"} 0
# HELP arpdoctor_neighbor_table_rcv_probes_ucast_total Unicast solicitations received.
# TYPE arpdoctor_neighbor_table_rcv_probes_ucast_total counter
arpdoctor_neighbor_table_rcv_probes_ucast_total{family="inet"} 4
arpdoctor_neighbor_table_rcv_probes_ucast_total{family="inet6"} 0
# HELP arpdoctor_neighbor_table_res_failed_total Resolutions that failed: nobody answered.
# TYPE arpdoctor_neighbor_table_res_failed_total counter
arpdoctor_neighbor_table_res_failed_total{family="inet"} 5
arpdoctor_neighbor_table_res_failed_total{family="inet6"} 0
# HELP arpdoctor_neighbor_table_unresolved_discards_total Packets dropped because their neighbor never resolved (/proc/net/stat, initial network namespace only).
# TYPE arpdoctor_neighbor_table_unresolved_discards_total counter
arpdoctor_neighbor_table_unresolved_discards_total{family="inet"} 12
arpdoctor_neighbor_table_unresolved_discards_total{family="inet6"} 0
`)
}

func TestTableCollectorOutsideTheInitialNamespace(t *testing.T) {
	k := &fakeKernel{tables: tablesForTest[:1]}
	proc := func(table string) (neigh.ProcStats, error) { return nil, fmt.Errorf("open: %w", fs.ErrNotExist) }
	c := one{&tableCollector{procStats: proc}, k}
	if err := c.c.update(&scrape{src: k}, make(chan prometheus.Metric, 100)); err != nil {
		t.Errorf("a missing /proc/net/stat is no failure: %v", err)
	}
	compare(t, c, "", "arpdoctor_neighbor_table_unresolved_discards_total")
	compare(t, c, `
# HELP arpdoctor_neighbor_table_entries Entries in the kernel's neighbor table, all network namespaces together.
# TYPE arpdoctor_neighbor_table_entries gauge
arpdoctor_neighbor_table_entries{family="inet"} 7
`, "arpdoctor_neighbor_table_entries")
}

// stockSettings reads the values of a stock kernel from testdata, as the
// exporter reads /proc/sys.
func stockSettings(k sysctl.Kernel) (*sysctl.Snapshot, error) {
	return sysctl.ReadRunning(sysctl.Running{Root: "testdata/stock", Kernel: k}, nil)
}

func TestSettingsCollector(t *testing.T) {
	k := &fakeKernel{tables: tablesForTest}
	for _, tc := range []struct {
		profile string
		want    string
	}{
		{"cloud", `
# HELP arpdoctor_sysctl_rule_ok 1 when the profile's rule holds for every value it judges, else 0; absent when its values cannot be read.
# TYPE arpdoctor_sysctl_rule_ok gauge
arpdoctor_sysctl_rule_ok{profile="cloud",rule="arp-notify"} 0
arpdoctor_sysctl_rule_ok{profile="cloud",rule="forced-gc"} 0
arpdoctor_sysctl_rule_ok{profile="cloud",rule="ndisc-notify"} 0
arpdoctor_sysctl_rule_ok{profile="cloud",rule="stale-entries"} 0
arpdoctor_sysctl_rule_ok{profile="cloud",rule="table-full"} 1
arpdoctor_sysctl_rule_ok{profile="cloud",rule="table-usage"} 1
arpdoctor_sysctl_rule_ok{profile="cloud",rule="threshold-order"} 1
`},
		{"kubernetes", `
# HELP arpdoctor_sysctl_rule_ok 1 when the profile's rule holds for every value it judges, else 0; absent when its values cannot be read.
# TYPE arpdoctor_sysctl_rule_ok gauge
arpdoctor_sysctl_rule_ok{profile="kubernetes",rule="arp-notify"} 0
arpdoctor_sysctl_rule_ok{profile="kubernetes",rule="forced-gc"} 0
arpdoctor_sysctl_rule_ok{profile="kubernetes",rule="gc-soft-limit"} 0
arpdoctor_sysctl_rule_ok{profile="kubernetes",rule="ndisc-notify"} 0
arpdoctor_sysctl_rule_ok{profile="kubernetes",rule="overflow"} 0
arpdoctor_sysctl_rule_ok{profile="kubernetes",rule="stale-entries"} 0
arpdoctor_sysctl_rule_ok{profile="kubernetes",rule="table-full"} 1
arpdoctor_sysctl_rule_ok{profile="kubernetes",rule="table-usage"} 1
arpdoctor_sysctl_rule_ok{profile="kubernetes",rule="threshold-order"} 1
`},
		{"none", ""},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			rules, err := sysctl.Profile(tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			compare(t, one{&settingsCollector{profile: tc.profile, rules: rules, read: stockSettings}, k}, tc.want)
		})
	}
}

// The settings are read once a minute, not on every scrape: reading them
// is most of a scrape's cost.
func TestSettingsReadOnceAMinute(t *testing.T) {
	k := &fakeKernel{tables: tablesForTest}
	rules, _ := sysctl.Profile("cloud")
	reads := 0
	now := t0
	c := &settingsCollector{profile: "cloud", rules: rules, now: func() time.Time { return now },
		read: func(k sysctl.Kernel) (*sysctl.Snapshot, error) { reads++; return stockSettings(k) }}
	for _, d := range []time.Duration{0, time.Second, 59 * time.Second, time.Minute, time.Minute + time.Second} {
		now = t0.Add(d)
		if n := testutil.CollectAndCount(one{c, k}, "arpdoctor_sysctl_rule_ok"); n != 7 {
			t.Fatalf("at %v: %d rules, want 7", d, n)
		}
	}
	if reads != 2 {
		t.Errorf("read the settings %d times in 61 s of scrapes, want 2", reads)
	}
}

// fakeWatcher sends its batches, then waits for the end.
type fakeWatcher struct {
	batches [][]neigh.Event
	sent    chan struct{}
}

func (w *fakeWatcher) Watch(ctx context.Context, _ neigh.WatchOptions, emit func([]neigh.Event) error) error {
	for _, b := range w.batches {
		if err := emit(b); err != nil {
			return err
		}
	}
	close(w.sent)
	<-ctx.Done()
	return nil
}

var (
	t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	e1 = entry("192.0.2.50", "02:00:00:00:50:b2", "eth0", neigh.Reachable)
)

func TestEventsCollector(t *testing.T) {
	failed := entry("192.0.2.60", "", "eth0", neigh.Failed)
	v6 := entry("2001:db8::1", "02:00:00:00:00:01", "eth1", neigh.Stale)
	w := &fakeWatcher{sent: make(chan struct{}), batches: [][]neigh.Event{
		{{Time: t0, Kind: neigh.EventPresent, Entry: v6}},
		{{Time: t0, Kind: neigh.EventMACChanged, Entry: e1, OldMAC: "02:00:00:00:50:a1"}},
		{{Time: t0, Kind: neigh.EventResync, Message: "lost events"}, {Time: t0, Kind: neigh.EventFailed, Entry: failed}},
		{{Time: t0, Kind: neigh.EventFlipFlop, Entry: e1, OldMAC: "02:00:00:00:50:a1"}},
	}}
	e := newExporter(Config{NetNS: "blue"}, sources{table: &fakeKernel{}, watch: w})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	<-w.sent
	compare(t, e, `
# HELP arpdoctor_neighbor_events_total Neighbor-table events from the kernel's netlink stream: mac_changed, flip_flop, failed.
# TYPE arpdoctor_neighbor_events_total counter
arpdoctor_neighbor_events_total{event="failed",family="inet",interface="eth0"} 1
arpdoctor_neighbor_events_total{event="flip_flop",family="inet",interface="eth0"} 1
arpdoctor_neighbor_events_total{event="mac_changed",family="inet",interface="eth0"} 1
arpdoctor_neighbor_events_total{event="failed",family="inet6",interface="eth1"} 0
arpdoctor_neighbor_events_total{event="flip_flop",family="inet6",interface="eth1"} 0
arpdoctor_neighbor_events_total{event="mac_changed",family="inet6",interface="eth1"} 0
`, "arpdoctor_neighbor_events_total")
	compare(t, e, `
# HELP arpdoctor_collector_success 1 when the collector succeeded, else 0: neighbor, table and settings in this scrape; events, handshake, verify and netns in their background work, which runs between scrapes.
# TYPE arpdoctor_collector_success gauge
arpdoctor_collector_success{collector="events"} 1
arpdoctor_collector_success{collector="neighbor"} 1
arpdoctor_collector_success{collector="settings"} 0
arpdoctor_collector_success{collector="table"} 1
`, "arpdoctor_collector_success")
	cancel()
	<-done

	want := []Record{
		{Time: t0, Source: SourceEvents, Kind: "mac_changed", Severity: "problem", Family: "inet", Interface: "eth0",
			IP: e1.IP, MAC: "02:00:00:00:50:b2", OldMAC: "02:00:00:00:50:a1",
			Message: "192.0.2.50: 02:00:00:00:50:a1 -> 02:00:00:00:50:b2 on eth0: the IP now belongs to another host (a reused IP?)",
			Next:    []diagnose.Command{diagnose.In("blue", "verify", "--ip", "192.0.2.50", "-i", "eth0"), diagnose.In("blue", "sysctl", "check")}},
		{Time: t0, Source: SourceEvents, Kind: "failed", Severity: "problem", Family: "inet", Interface: "eth0",
			IP: failed.IP, Message: "192.0.2.60: FAILED on eth0: nobody answers",
			Next: []diagnose.Command{diagnose.In("blue", "verify", "--ip", "192.0.2.60", "-i", "eth0")}},
		{Time: t0, Source: SourceEvents, Kind: "flip_flop", Severity: "problem", Family: "inet", Interface: "eth0",
			IP: e1.IP, MAC: "02:00:00:00:50:b2", OldMAC: "02:00:00:00:50:a1",
			Message: "192.0.2.50: 02:00:00:00:50:a1 -> 02:00:00:00:50:b2 on eth0, back to the MAC it had before the last change: two hosts claim this IP",
			Next:    []diagnose.Command{diagnose.In("blue", "verify", "--ip", "192.0.2.50", "-i", "eth0")}},
	}
	if diff := cmp.Diff(FindingsPage{Total: 3, Findings: want}, e.Findings(), cmpAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

var cmpAddrs = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

// fakeTrace emits its findings, then waits for the end.
type fakeTrace struct {
	findings []capture.Finding
	sent     chan struct{}
}

func (f *fakeTrace) run(ctx context.Context, emit func(capture.Finding)) error {
	for _, x := range f.findings {
		emit(x)
	}
	close(f.sent)
	<-ctx.Done()
	return nil
}

func TestHandshakeCollector(t *testing.T) {
	client := netip.MustParseAddrPort("192.0.2.50:40000")
	server := netip.MustParseAddrPort("192.0.2.10:6379")
	ft := &fakeTrace{sent: make(chan struct{}), findings: []capture.Finding{
		{Kind: capture.SynAckToWrongMAC, Severity: capture.Problem, Time: t0, Message: "SYN-ACK to the wrong MAC",
			Client: client, Server: server, ClientMAC: "02:00:00:00:50:b2", SynAckTo: []capture.MACCount{{MAC: "02:00:00:00:50:a1", Count: 3}}},
		{Kind: capture.HandshakeOK, Severity: capture.OK, Time: t0, Client: client, Server: server},
		{Kind: capture.UnansweredARPProbe, Severity: capture.Problem, Time: t0, Message: "probe unanswered",
			IP: client.Addr(), MAC: "02:00:00:00:50:a1", Prober: server.Addr(), Probes: 3},
		// The first one's handshake completed after its verdict: an
		// update, not another finding to count.
		{Kind: capture.SynAckToWrongMAC, Severity: capture.Problem, Time: t0, Message: "SYN-ACK to the wrong MAC, then completed",
			Correction: true, Corrects: 1, CorrectsKind: capture.SynAckToWrongMAC, CorrectsSeverity: capture.Problem,
			Client: client, Server: server, ClientMAC: "02:00:00:00:50:b2", Acked: true,
			SynAckTo: []capture.MACCount{{MAC: "02:00:00:00:50:a1", Count: 3}, {MAC: "02:00:00:00:50:b2", Count: 1}}},
	}}
	other := &fakeTrace{sent: make(chan struct{})}
	e := newExporter(Config{NetNS: "blue"}, sources{table: &fakeKernel{}, traceOrder: []string{"eth0", "eth1"},
		traces: map[string]tracer{"eth0": ft.run, "eth1": other.run}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	<-ft.sent
	<-other.sent
	compare(t, e, `
# HELP arpdoctor_handshake_findings_total Findings of the passive handshake and ARP/NDP trace, by kind.
# TYPE arpdoctor_handshake_findings_total counter
arpdoctor_handshake_findings_total{interface="eth0",kind="duplicate_ip"} 0
arpdoctor_handshake_findings_total{interface="eth0",kind="mac_changed"} 0
arpdoctor_handshake_findings_total{interface="eth0",kind="reset"} 0
arpdoctor_handshake_findings_total{interface="eth0",kind="syn_unanswered"} 0
arpdoctor_handshake_findings_total{interface="eth0",kind="synack_to_wrong_mac"} 1
arpdoctor_handshake_findings_total{interface="eth0",kind="synack_unacknowledged"} 0
arpdoctor_handshake_findings_total{interface="eth0",kind="unanswered_arp_probe"} 1
arpdoctor_handshake_findings_total{interface="eth1",kind="duplicate_ip"} 0
arpdoctor_handshake_findings_total{interface="eth1",kind="mac_changed"} 0
arpdoctor_handshake_findings_total{interface="eth1",kind="reset"} 0
arpdoctor_handshake_findings_total{interface="eth1",kind="syn_unanswered"} 0
arpdoctor_handshake_findings_total{interface="eth1",kind="synack_to_wrong_mac"} 0
arpdoctor_handshake_findings_total{interface="eth1",kind="synack_unacknowledged"} 0
arpdoctor_handshake_findings_total{interface="eth1",kind="unanswered_arp_probe"} 0
`, "arpdoctor_handshake_findings_total")
	cancel()
	<-done
	want := []Record{
		{Time: t0, Source: SourceTrace, Kind: "synack_to_wrong_mac", Severity: "problem", Family: "inet", Interface: "eth0",
			IP: client.Addr(), MAC: "02:00:00:00:50:b2", OldMAC: "02:00:00:00:50:a1", Message: "SYN-ACK to the wrong MAC",
			Next: []diagnose.Command{diagnose.In("blue", "verify", "--fix", "--ip", "192.0.2.50")}},
		{Time: t0, Source: SourceTrace, Kind: "unanswered_arp_probe", Severity: "problem", Family: "inet", Interface: "eth0",
			IP: client.Addr(), OldMAC: "02:00:00:00:50:a1", Message: "probe unanswered",
			Next: []diagnose.Command{diagnose.In("blue", "verify", "--fix", "--ip", "192.0.2.50")}},
		{Time: t0, Source: SourceTrace, Kind: "synack_to_wrong_mac", Severity: "problem", Family: "inet", Interface: "eth0",
			IP: client.Addr(), MAC: "02:00:00:00:50:b2", OldMAC: "02:00:00:00:50:a1", Message: "SYN-ACK to the wrong MAC, then completed",
			Correction: true, Corrects: 1,
			Next: []diagnose.Command{diagnose.In("blue", "verify", "--fix", "--ip", "192.0.2.50")}},
	}
	if diff := cmp.Diff(FindingsPage{Total: 3, Findings: want}, e.Findings(), cmpAddrs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// fakeProber answers each IP as told.
type fakeProber struct {
	mu      sync.Mutex
	answers map[netip.Addr][]string
	probed  [][]netip.Addr
}

func (p *fakeProber) Probe(_ context.Context, entries []neigh.Entry, _ neigh.ProbeOptions) ([]neigh.ProbeResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ips []netip.Addr
	var out []neigh.ProbeResult
	for _, e := range entries {
		ips = append(ips, e.IP)
		r := neigh.ProbeResult{Entry: e, Answered: p.answers[e.IP]}
		switch {
		case len(r.Answered) == 0:
			r.Verdict = neigh.VerdictNoAnswer
		case len(r.Answered) > 1:
			r.Verdict = neigh.VerdictDuplicate
		case r.Answered[0] != e.MAC:
			r.Verdict = neigh.VerdictMismatch
		default:
			r.Verdict = neigh.VerdictOK
		}
		out = append(out, r)
	}
	p.probed = append(p.probed, ips)
	return out, nil
}

func TestVerifyCollector(t *testing.T) {
	k := &fakeKernel{entries: []neigh.Entry{
		entry("192.0.2.1", "02:00:00:00:00:01", "eth0", neigh.Reachable),
		entry("192.0.2.2", "02:00:00:00:00:02", "eth0", neigh.Stale),
		entry("192.0.2.3", "02:00:00:00:00:03", "eth0", neigh.Delay),
		entry("192.0.2.4", "02:00:00:00:00:04", "eth0", neigh.Probe),
		entry("192.0.2.5", "", "eth0", neigh.Failed),
		entry("192.0.2.6", "02:00:00:00:00:06", "eth0", neigh.Permanent),
	}}
	p := &fakeProber{answers: map[netip.Addr][]string{
		netip.MustParseAddr("192.0.2.1"): {"02:00:00:00:00:01"},
		netip.MustParseAddr("192.0.2.2"): {"02:00:00:00:00:99"},
		netip.MustParseAddr("192.0.2.4"): {"02:00:00:00:00:04", "02:00:00:00:00:44"},
	}}
	e := newExporter(Config{NetNS: "blue", VerifyInterval: time.Minute, VerifyMaxEntries: 3}, sources{table: k, probe: p, now: func() time.Time { return t0 }})
	v := e.collectors[len(e.collectors)-1].(*verifyCollector)
	// Before the first round there is nothing to say.
	compare(t, one{v, k}, "")
	for range 2 {
		if err := v.round(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	// Three entries a round, in turn: 1 2 3, then 4 1 2.
	wantProbed := [][]netip.Addr{
		{k.entries[0].IP, k.entries[1].IP, k.entries[2].IP},
		{k.entries[3].IP, k.entries[0].IP, k.entries[1].IP},
	}
	if diff := cmp.Diff(wantProbed, p.probed, cmpAddrs); diff != "" {
		t.Errorf("probed (-want +got):\n%s", diff)
	}
	compare(t, one{v, k}, `
# HELP arpdoctor_verify_entries Entries by verdict of the last active verification round.
# TYPE arpdoctor_verify_entries gauge
arpdoctor_verify_entries{verdict="duplicate"} 1
arpdoctor_verify_entries{verdict="mismatch"} 1
arpdoctor_verify_entries{verdict="no_answer"} 0
arpdoctor_verify_entries{verdict="ok"} 1
arpdoctor_verify_entries{verdict="unprobed"} 0
# HELP arpdoctor_verify_last_run_timestamp_seconds When the last active verification round ended, in seconds since the epoch.
# TYPE arpdoctor_verify_last_run_timestamp_seconds gauge
arpdoctor_verify_last_run_timestamp_seconds 1.7935344e+09
`)
	page := e.Findings()
	var got []string
	for _, r := range page.Findings {
		got = append(got, fmt.Sprintf("%s %s mac=%s old_mac=%s macs=%v", r.Kind, r.IP, r.MAC, r.OldMAC, r.MACs), "  "+r.Message)
		for _, n := range r.Next {
			got = append(got, "  next: "+n.String())
		}
	}
	// Worded as verify words them, each with its next step.
	want := []string{
		"mismatch 192.0.2.2 mac=02:00:00:00:00:99 old_mac=02:00:00:00:00:02 macs=[]",
		"  192.0.2.2: the cache says 02:00:00:00:00:02 but 02:00:00:00:00:99 answers: the entry is stale",
		"  next: arpdoctor --netns blue verify --fix --ip 192.0.2.2 -i eth0",
		"  next: arpdoctor --netns blue sysctl check",
		"no_answer 192.0.2.3 mac= old_mac=02:00:00:00:00:03 macs=[]",
		"  192.0.2.3: nobody answers, yet the cache holds it as DELAY with 02:00:00:00:00:03: the entry is dead",
		"  next: arpdoctor --netns blue verify --fix --ip 192.0.2.3 -i eth0",
		"duplicate 192.0.2.4 mac= old_mac=02:00:00:00:00:04 macs=[02:00:00:00:00:04 02:00:00:00:00:44]",
		"  192.0.2.4: 2 hosts answer (02:00:00:00:00:04, 02:00:00:00:00:44): two machines claim this IP; find the one that should not have it",
		"  next: arpdoctor --netns blue watch --ip 192.0.2.4 -i eth0",
		// 192.0.2.2's second round found the same: not reported again.
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestCollectorFailure(t *testing.T) {
	k := &fakeKernel{err: errors.New("netlink: connection refused")}
	e := newExporter(Config{}, sources{table: k, settings: stockSettings})
	compare(t, e, `
# HELP arpdoctor_collector_success 1 when the collector succeeded, else 0: neighbor, table and settings in this scrape; events, handshake, verify and netns in their background work, which runs between scrapes.
# TYPE arpdoctor_collector_success gauge
arpdoctor_collector_success{collector="events"} 1
arpdoctor_collector_success{collector="neighbor"} 0
arpdoctor_collector_success{collector="settings"} 1
arpdoctor_collector_success{collector="table"} 0
`, "arpdoctor_collector_success")
}

func TestBuildInfo(t *testing.T) {
	e := newExporter(Config{Version: "v1.2.3", Revision: "abc123"}, sources{table: &fakeKernel{}})
	want := fmt.Sprintf(`
# HELP arpdoctor_build_info Always 1; the labels say which arpdoctor answers.
# TYPE arpdoctor_build_info gauge
arpdoctor_build_info{goversion=%q,revision="abc123",version="v1.2.3"} 1
`, goVersion())
	compare(t, e, want, "arpdoctor_build_info")
}

func TestRing(t *testing.T) {
	r := newRing(3)
	for i := range 5 {
		r.add(Record{Kind: fmt.Sprint(i)})
	}
	p := r.page()
	var kinds []string
	for _, rec := range p.Findings {
		kinds = append(kinds, rec.Kind)
	}
	if diff := cmp.Diff([]string{"2", "3", "4"}, kinds); diff != "" || p.Total != 5 {
		t.Errorf("ring keeps (-want +got):\n%s\ntotal %d, want 5", diff, p.Total)
	}
}

// TestNetNSDeleted: once the name no longer opens the namespace the
// exporter holds, every collector fails with an error that says so,
// logged once rather than at every scrape, until the name refers to the
// namespace again.
func TestNetNSDeleted(t *testing.T) {
	var log syncBuffer
	var mu sync.Mutex
	var gone error
	k := &fakeKernel{entries: []neigh.Entry{entry("192.0.2.1", "02:00:00:00:00:01", "eth0", neigh.Stale)}}
	e := newExporter(Config{NetNS: "blue", Logger: slog.New(slog.NewTextHandler(&log, nil))}, sources{table: k, settings: stockSettings,
		netnsGone: func() error { mu.Lock(); defer mu.Unlock(); return gone }})
	success := func(v int) string {
		return fmt.Sprintf(`
# HELP arpdoctor_collector_success 1 when the collector succeeded, else 0: neighbor, table and settings in this scrape; events, handshake, verify and netns in their background work, which runs between scrapes.
# TYPE arpdoctor_collector_success gauge
arpdoctor_collector_success{collector="events"} %[1]d
arpdoctor_collector_success{collector="neighbor"} %[1]d
arpdoctor_collector_success{collector="settings"} %[1]d
arpdoctor_collector_success{collector="table"} %[1]d
`, v)
	}
	compare(t, e, success(1), "arpdoctor_collector_success")

	mu.Lock()
	gone = &NetNSDeletedError{Spec: "blue"}
	mu.Unlock()
	for range 3 {
		compare(t, e, success(0), "arpdoctor_collector_success")
	}
	// What a deleted namespace holds is not shown as if it were current.
	compare(t, e, "", "arpdoctor_neighbor_entries")
	const msg = "network namespace blue was deleted: its name no longer refers to the namespace this exporter holds"
	if n := strings.Count(log.String(), msg); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, log.String())
	}
	if n := strings.Count(log.String(), "collector failed"); n != 0 {
		t.Errorf("a line per collector and scrape:\n%s", log.String())
	}

	mu.Lock()
	gone = nil
	mu.Unlock()
	compare(t, e, success(1), "arpdoctor_collector_success")
	if !strings.Contains(log.String(), "reachable by its name again") {
		t.Errorf("the recovery is not logged:\n%s", log.String())
	}
}

// proberHook is a prober that answers as a real one would after a wrong
// MAC set by hand: the owner answers from the right MAC, and the kernel
// takes it from the answer (an event, while the probe is still running).
type proberHook struct {
	answer string
	during func()
}

func (p *proberHook) Probe(_ context.Context, entries []neigh.Entry, _ neigh.ProbeOptions) ([]neigh.ProbeResult, error) {
	if p.during != nil {
		p.during()
	}
	out := make([]neigh.ProbeResult, len(entries))
	for i, e := range entries {
		after := e
		after.MAC, after.State = p.answer, neigh.Reachable
		out[i] = neigh.ProbeResult{Entry: e, Answered: []string{p.answer}, Verdict: neigh.VerdictMismatch, After: &after}
	}
	return out, nil
}

// TestVerifyCorrectionIsNoFlipFlop: the MAC change that the exporter's own
// probe makes (the kernel takes the answering MAC) is counted as
// mac_changed and worded as the probe's correction, not as two hosts
// taking turns, whether the kernel's event comes during the round or
// shortly after; a change after the window, or to another MAC, is what it
// says it is.
func TestVerifyCorrectionIsNoFlipFlop(t *testing.T) {
	const right, wrong = "02:00:00:00:50:a1", "02:00:00:00:50:ff"
	hand := entry("192.0.2.50", wrong, "eth0", neigh.Stale)
	other := entry("192.0.2.51", "02:00:00:00:51:a1", "eth0", neigh.Stale)
	k := &fakeKernel{entries: []neigh.Entry{hand}}
	now := t0
	p := &proberHook{answer: right}
	e := newExporter(Config{VerifyInterval: time.Minute}, sources{table: k, probe: p, now: func() time.Time { return now }})
	v := e.collectors[len(e.collectors)-1].(*verifyCollector)
	back := hand
	back.MAC = right
	flip := neigh.Event{Time: t0, Kind: neigh.EventFlipFlop, Entry: back, OldMAC: wrong}

	// The kernel's event arrives while the probe runs: held until the
	// round's results say who made it.
	p.during = func() { e.events.take([]neigh.Event{flip}) }
	if err := v.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Next round: the event arrives after the round, within the window.
	p.during = nil
	if err := v.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(correctionWindow - time.Second)
	e.events.take([]neigh.Event{flip})
	// Past the window, and to a MAC nobody answered: as the kernel says.
	if err := v.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	now = now.Add(correctionWindow + time.Second)
	e.events.take([]neigh.Event{flip})
	stranger := other
	stranger.MAC = "02:00:00:00:51:b2"
	e.events.take([]neigh.Event{{Time: t0, Kind: neigh.EventFlipFlop, Entry: stranger, OldMAC: other.MAC}})

	compare(t, one{e.events, k}, `
# HELP arpdoctor_neighbor_events_total Neighbor-table events from the kernel's netlink stream: mac_changed, flip_flop, failed.
# TYPE arpdoctor_neighbor_events_total counter
arpdoctor_neighbor_events_total{event="failed",family="inet",interface="eth0"} 0
arpdoctor_neighbor_events_total{event="flip_flop",family="inet",interface="eth0"} 2
arpdoctor_neighbor_events_total{event="mac_changed",family="inet",interface="eth0"} 2
`)
	var got []string
	for _, r := range e.Findings().Findings {
		got = append(got, fmt.Sprintf("%s %s %s %s: %s", r.Source, r.Kind, r.Severity, r.IP, r.Message))
	}
	mismatch := "verify mismatch problem 192.0.2.50: 192.0.2.50: the cache says 02:00:00:00:50:ff but 02:00:00:00:50:a1 answers: the entry is stale; the kernel took the new MAC from the probe's answer"
	corrected := "events mac_changed info 192.0.2.50: 192.0.2.50: 02:00:00:00:50:ff -> 02:00:00:00:50:a1 on eth0: corrected by the exporter's own probe: the kernel took the MAC that answered it, not another host claiming the IP"
	want := []string{
		mismatch, corrected,
		mismatch, corrected,
		mismatch,
		"events flip_flop problem 192.0.2.50: 192.0.2.50: 02:00:00:00:50:ff -> 02:00:00:00:50:a1 on eth0, back to the MAC it had before the last change: two hosts claim this IP",
		"events flip_flop problem 192.0.2.51: 192.0.2.51: 02:00:00:00:51:a1 -> 02:00:00:00:51:b2 on eth0, back to the MAC it had before the last change: two hosts claim this IP",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

// A trace that fails and starts again numbers its findings from 1: the
// exporter keeps the interface's ids, and what a correction corrects,
// unique. A namespace made anew under the name read is not traced.
func TestTraceRestartKeepsIDsUnique(t *testing.T) {
	client := netip.MustParseAddrPort("192.0.2.50:40000")
	wrong := capture.Finding{ID: 1, Kind: capture.SynAckToWrongMAC, Severity: capture.Problem, Time: t0, Message: "wrong MAC",
		Client: client, ClientMAC: "02:00:00:00:50:b2", SynAckTo: []capture.MACCount{{MAC: "02:00:00:00:50:a1", Count: 2}}}
	late := wrong
	late.ID, late.Correction, late.Corrects, late.Message = 2, true, 1, "completed late"
	var mu sync.Mutex
	var gone error
	runs := 0
	done := make(chan struct{})
	trace := func(ctx context.Context, emit func(capture.Finding)) error {
		mu.Lock()
		runs++
		n := runs
		mu.Unlock()
		switch n {
		case 1:
			emit(wrong)
			mu.Lock()
			gone = errors.New("network namespace blue was deleted")
			mu.Unlock()
			return errors.New("capturing on eth0: network is down")
		default:
			emit(wrong)
			emit(late)
			close(done)
			<-ctx.Done()
			return nil
		}
	}
	e := newExporter(Config{NetNS: "blue"}, sources{table: &fakeKernel{}, traceOrder: []string{"eth0"},
		traces: map[string]tracer{"eth0": trace},
		netnsGone: func() error {
			mu.Lock()
			defer mu.Unlock()
			err := gone
			gone = nil // back under its name for the next attempt
			return err
		}})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { e.Run(ctx); close(stopped) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the trace was not started again")
	}
	cancel()
	<-stopped
	var got []string
	for _, r := range e.Findings().Findings {
		got = append(got, fmt.Sprintf("%d %v %d %s", r.ID, r.Correction, r.Corrects, r.Message))
	}
	want := []string{"1 false 0 wrong MAC", "2 false 0 wrong MAC", "3 true 2 completed late"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	mu.Lock()
	defer mu.Unlock()
	if runs != 2 {
		t.Errorf("the trace ran %d times, want 2: not while the namespace was gone", runs)
	}
}
