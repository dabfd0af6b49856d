package exporter

import (
	"context"
	"testing"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/neigh"
)

// TestCountersStartAtZero: before anything happened, every finding kind of
// every traced interface and every event of every family and interface in
// the table are exported at 0, so that the first one is an increase that
// increase() sees rather than a series appearing at 1.
func TestCountersStartAtZero(t *testing.T) {
	k := &fakeKernel{entries: []neigh.Entry{
		entry("192.0.2.50", "02:00:00:00:50:a1", "eth0", neigh.Stale),
		entry("2001:db8::1", "02:00:00:00:00:01", "eth1", neigh.Reachable),
		entry("192.0.2.51", "02:00:00:00:50:a2", "eth1", neigh.Reachable),
	}}
	idle := func(ctx context.Context, _ func(capture.Finding)) error { <-ctx.Done(); return nil }
	e := newExporter(Config{}, sources{table: k, traceOrder: []string{"eth0"}, traces: map[string]tracer{"eth0": idle}})
	compare(t, e, `
# HELP arpdoctor_handshake_findings_total Findings of the passive handshake and ARP/NDP trace, by kind.
# TYPE arpdoctor_handshake_findings_total counter
arpdoctor_handshake_findings_total{interface="eth0",kind="duplicate_ip"} 0
arpdoctor_handshake_findings_total{interface="eth0",kind="mac_changed"} 0
arpdoctor_handshake_findings_total{interface="eth0",kind="reset"} 0
arpdoctor_handshake_findings_total{interface="eth0",kind="syn_unanswered"} 0
arpdoctor_handshake_findings_total{interface="eth0",kind="synack_to_wrong_mac"} 0
arpdoctor_handshake_findings_total{interface="eth0",kind="synack_unacknowledged"} 0
arpdoctor_handshake_findings_total{interface="eth0",kind="unanswered_arp_probe"} 0
# HELP arpdoctor_neighbor_events_total Neighbor-table events from the kernel's netlink stream: mac_changed, flip_flop, failed.
# TYPE arpdoctor_neighbor_events_total counter
arpdoctor_neighbor_events_total{event="failed",family="inet",interface="eth0"} 0
arpdoctor_neighbor_events_total{event="flip_flop",family="inet",interface="eth0"} 0
arpdoctor_neighbor_events_total{event="mac_changed",family="inet",interface="eth0"} 0
arpdoctor_neighbor_events_total{event="failed",family="inet",interface="eth1"} 0
arpdoctor_neighbor_events_total{event="flip_flop",family="inet",interface="eth1"} 0
arpdoctor_neighbor_events_total{event="mac_changed",family="inet",interface="eth1"} 0
arpdoctor_neighbor_events_total{event="failed",family="inet6",interface="eth1"} 0
arpdoctor_neighbor_events_total{event="flip_flop",family="inet6",interface="eth1"} 0
arpdoctor_neighbor_events_total{event="mac_changed",family="inet6",interface="eth1"} 0
`, "arpdoctor_handshake_findings_total", "arpdoctor_neighbor_events_total")

	// The first event on a seeded interface counts from zero; an entry
	// gone from the table keeps its series, as a counter must.
	ev := e.collectors[3].(*eventsCollector)
	ev.take([]neigh.Event{{Kind: neigh.EventMACChanged, Entry: k.entries[0], OldMAC: "02:00:00:00:50:a0"}})
	k.entries = nil
	compare(t, e, `
# HELP arpdoctor_neighbor_events_total Neighbor-table events from the kernel's netlink stream: mac_changed, flip_flop, failed.
# TYPE arpdoctor_neighbor_events_total counter
arpdoctor_neighbor_events_total{event="failed",family="inet",interface="eth0"} 0
arpdoctor_neighbor_events_total{event="flip_flop",family="inet",interface="eth0"} 0
arpdoctor_neighbor_events_total{event="mac_changed",family="inet",interface="eth0"} 1
arpdoctor_neighbor_events_total{event="failed",family="inet",interface="eth1"} 0
arpdoctor_neighbor_events_total{event="flip_flop",family="inet",interface="eth1"} 0
arpdoctor_neighbor_events_total{event="mac_changed",family="inet",interface="eth1"} 0
arpdoctor_neighbor_events_total{event="failed",family="inet6",interface="eth1"} 0
arpdoctor_neighbor_events_total{event="flip_flop",family="inet6",interface="eth1"} 0
arpdoctor_neighbor_events_total{event="mac_changed",family="inet6",interface="eth1"} 0
`, "arpdoctor_neighbor_events_total")
}
