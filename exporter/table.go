package exporter

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/prometheus/client_golang/prometheus"
)

// tableCollector reports the kernel's neighbor tables: their size,
// thresholds and counters, which are the machine's, whatever namespace
// asks.
type tableCollector struct {
	procStats procStatsReader
}

func (*tableCollector) name() string { return "table" }

func (*tableCollector) describe(ch chan<- *prometheus.Desc) {
	ch <- tableEntriesDesc
	for _, d := range tableThreshDescs {
		ch <- d
	}
	for _, c := range tableCounters {
		ch <- c.desc
	}
	ch <- tableUnresolvedDiscardsDesc
}

// procTables names each family's table under /proc/net/stat.
var procTables = map[neigh.Family]string{neigh.Inet: "arp_cache", neigh.Inet6: "ndisc_cache"}

func (c *tableCollector) update(s *scrape, ch chan<- prometheus.Metric) error {
	tables, err := s.Tables("")
	if err != nil {
		return err
	}
	var errs []error
	for i := range tables {
		t := &tables[i]
		fam := string(t.Family)
		ch <- prometheus.MustNewConstMetric(tableEntriesDesc, prometheus.GaugeValue, float64(t.Entries), fam)
		for j, v := range [3]uint32{t.Thresh1, t.Thresh2, t.Thresh3} {
			ch <- prometheus.MustNewConstMetric(tableThreshDescs[j], prometheus.GaugeValue, float64(v), fam)
		}
		for _, tc := range tableCounters {
			ch <- prometheus.MustNewConstMetric(tc.desc, prometheus.CounterValue, float64(tc.value(&t.Stats)), fam)
		}
		// Netlink does not report unresolved_discards; /proc/net/stat
		// does, in the initial namespace only. The counters are the
		// machine's, so the exporter's own namespace is the one to read,
		// whatever namespace it measures.
		name, ok := procTables[t.Family]
		if !ok || c.procStats == nil {
			continue
		}
		ps, err := c.procStats(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			errs = append(errs, fmt.Errorf("reading the %s statistics: %w", name, err))
		default:
			if v, ok := ps["unresolved_discards"]; ok {
				ch <- prometheus.MustNewConstMetric(tableUnresolvedDiscardsDesc, prometheus.CounterValue, float64(v), fam)
			}
		}
	}
	return errors.Join(errs...)
}
