package exporter

import (
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/prometheus/client_golang/prometheus"
)

const namespace = "arpdoctor"

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(namespace+"_"+name, help, labels, nil)
}

// The metrics, one place for all: docs/exporter.md lists exactly these.
var (
	neighborEntriesDesc = newDesc("neighbor_entries",
		"Neighbor entries by family, interface and NUD state; only non-zero series, interfaces past the budget folded into interface=\"other\".",
		"family", "interface", "state")

	tableEntriesDesc = newDesc("neighbor_table_entries",
		"Entries in the kernel's neighbor table, all network namespaces together.", "family")
	tableThreshDescs = [3]*prometheus.Desc{
		newDesc("neighbor_table_gc_thresh1", "Below this many entries the garbage collector does not run: stale entries live on.", "family"),
		newDesc("neighbor_table_gc_thresh2", "Above this many entries for 5 seconds the kernel forces a garbage collection.", "family"),
		newDesc("neighbor_table_gc_thresh3", "The table's hard limit: at this many entries new neighbors are refused.", "family"),
	}
	tableUnresolvedDiscardsDesc = newDesc("neighbor_table_unresolved_discards_total",
		"Packets dropped because their neighbor never resolved (/proc/net/stat, initial network namespace only).", "family")
	collectorDurationDesc = newDesc("collector_duration_seconds",
		"How long the collector took in this scrape.", "collector")
	collectorSuccessDesc = newDesc("collector_success",
		"1 when the collector succeeded, else 0: neighbor, table and settings in this scrape; events, handshake, verify and netns in their background work, which runs between scrapes.", "collector")
	buildInfoDesc = newDesc("build_info",
		"Always 1; the labels say which arpdoctor answers.", "version", "revision", "goversion")
	sysctlRuleOKDesc = newDesc("sysctl_rule_ok",
		"1 when the profile's rule holds for every value it judges, else 0; absent when its values cannot be read.", "profile", "rule")
	neighborEventsDesc = newDesc("neighbor_events_total",
		"Neighbor-table events from the kernel's netlink stream: mac_changed, flip_flop, failed.", "family", "interface", "event")
	handshakeFindingsDesc = newDesc("handshake_findings_total",
		"Findings of the passive handshake and ARP/NDP trace, by kind.", "interface", "kind")
	netnsEntriesDesc = newDesc("netns_neighbor_entries",
		"Neighbor entries of every network namespace of the machine by namespace, family and NUD state, as of the last round; namespaces with nothing to report or past the budget summed into netns=\"other\".",
		"netns", "family", "state")
	netnsDiscoveredDesc = newDesc("netns_discovered",
		"Network namespaces found by the last round over every namespace.")
	netnsReadDesc = newDesc("netns_read",
		"Network namespaces whose table the last round over every namespace read; the others were gone or failed.")
	verifyEntriesDesc = newDesc("verify_entries",
		"Entries by verdict of the last active verification round.", "verdict")
	verifyLastRunDesc = newDesc("verify_last_run_timestamp_seconds",
		"When the last active verification round ended, in seconds since the epoch.")
)

// tableCounter is one counter of the kernel's ndt_stats.
type tableCounter struct {
	desc  *prometheus.Desc
	value func(*neigh.Stats) uint64
}

// tableCounters are what `ip -s ntable` shows, read over RTM_GETNEIGHTBL.
var tableCounters = []tableCounter{
	{newDesc("neighbor_table_allocs_total", "Entries allocated.", "family"), func(s *neigh.Stats) uint64 { return s.Allocs }},
	{newDesc("neighbor_table_destroys_total", "Entries destroyed.", "family"), func(s *neigh.Stats) uint64 { return s.Destroys }},
	{newDesc("neighbor_table_hash_grows_total", "Times the table's hash was grown.", "family"), func(s *neigh.Stats) uint64 { return s.HashGrows }},
	{newDesc("neighbor_table_lookups_total", "Lookups in the table.", "family"), func(s *neigh.Stats) uint64 { return s.Lookups }},
	{newDesc("neighbor_table_hits_total", "Lookups that found an entry.", "family"), func(s *neigh.Stats) uint64 { return s.Hits }},
	{newDesc("neighbor_table_res_failed_total", "Resolutions that failed: nobody answered.", "family"), func(s *neigh.Stats) uint64 { return s.ResFailed }},
	{newDesc("neighbor_table_rcv_probes_mcast_total", "Multicast (broadcast) solicitations received.", "family"), func(s *neigh.Stats) uint64 { return s.RcvProbesMcast }},
	{newDesc("neighbor_table_rcv_probes_ucast_total", "Unicast solicitations received.", "family"), func(s *neigh.Stats) uint64 { return s.RcvProbesUcast }},
	{newDesc("neighbor_table_periodic_gc_runs_total", "Periodic garbage collections.", "family"), func(s *neigh.Stats) uint64 { return s.PeriodicGCRuns }},
	{newDesc("neighbor_table_forced_gc_runs_total", "Forced garbage collections: the table was above gc_thresh2 or at gc_thresh3.", "family"), func(s *neigh.Stats) uint64 { return s.ForcedGCRuns }},
	{newDesc("neighbor_table_fulls_total", "Times the table was full and an entry was refused (ndts_table_fulls).", "family"), func(s *neigh.Stats) uint64 { return s.TableFulls }},
}
