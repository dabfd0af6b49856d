package exporter

import (
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/prometheus/client_golang/prometheus"
)

// neighborCollector counts the entries of the namespace's table by family,
// interface and state.
type neighborCollector struct {
	maxInterfaces int
}

func (*neighborCollector) name() string { return "neighbor" }

func (*neighborCollector) describe(ch chan<- *prometheus.Desc) { ch <- neighborEntriesDesc }

func (c *neighborCollector) update(s *scrape, ch chan<- prometheus.Metric) error {
	groups, err := s.census()
	if err != nil {
		return err
	}
	perInterface := map[string]int{}
	for _, g := range groups {
		perInterface[g.Interface] += g.Entries
	}
	kept := keptInterfaces(perInterface, c.maxInterfaces)
	type key struct {
		family neigh.Family
		ifname string
		state  neigh.State
	}
	counts := map[key]int{}
	for _, g := range groups {
		ifname := g.Interface
		if !kept[ifname] {
			ifname = OtherInterface
		}
		counts[key{g.Family, ifname, g.State}] += g.Entries
	}
	for k, n := range counts {
		ch <- prometheus.MustNewConstMetric(neighborEntriesDesc, prometheus.GaugeValue, float64(n), string(k.family), labelValue(k.ifname), k.state.String())
	}
	return nil
}
