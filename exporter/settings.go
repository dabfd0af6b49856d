package exporter

import (
	"errors"

	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/prometheus/client_golang/prometheus"
)

// settingsCollector judges the live sysctl values by a profile's rules.
// A rule holds when every value it judges is OK; a warning counts as
// broken, as `sysctl check` shows it. The values are the live ones: whether
// they survive a reboot is for `arpdoctor sysctl check` to say.
type settingsCollector struct {
	profile string
	rules   []sysctl.Rule
	read    settingsReader
}

func (*settingsCollector) name() string { return "settings" }

func (*settingsCollector) describe(ch chan<- *prometheus.Desc) { ch <- sysctlRuleOKDesc }

func (c *settingsCollector) update(s *scrape, ch chan<- prometheus.Metric) error {
	if len(c.rules) == 0 {
		return nil
	}
	if c.read == nil {
		return errors.New("no source of settings")
	}
	snap, err := c.read(s)
	if err != nil {
		return err
	}
	rep := sysctl.Check(snap, c.rules, sysctl.CheckOptions{Profile: c.profile})
	// A rule judges a value per family or per interface: it holds when
	// all of them are OK. Values it cannot see leave it unknown rather
	// than broken or kept.
	var order []string
	seen := map[string]bool{}
	visible := map[string]bool{}
	broken := map[string]bool{}
	for _, r := range rep.Results {
		if !seen[r.Rule] {
			seen[r.Rule] = true
			order = append(order, r.Rule)
		}
		switch r.Status {
		case sysctl.StatusNotVisible:
		case sysctl.StatusOK:
			visible[r.Rule] = true
		default:
			visible[r.Rule] = true
			broken[r.Rule] = true
		}
	}
	for _, id := range order {
		if !visible[id] {
			continue
		}
		v := 1.0
		if broken[id] {
			v = 0
		}
		ch <- prometheus.MustNewConstMetric(sysctlRuleOKDesc, prometheus.GaugeValue, v, c.profile, id)
	}
	return nil
}
