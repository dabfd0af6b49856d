package exporter

import (
	"errors"
	"sync"
	"time"

	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/prometheus/client_golang/prometheus"
)

// settingsCollector judges the live sysctl values by a profile's rules.
// A rule holds when every value it judges is OK; a warning counts as
// broken, as `sysctl check` shows it. The values are the live ones: whether
// they survive a reboot is for `arpdoctor sysctl check` to say.
//
// Reading the settings is most of a scrape's cost (dozens of files under
// /proc/sys, read from inside the namespace), and they change rarely: the
// judgment is kept for settingsEvery, so a rule's value, and the rules on
// the table's counters, may lag by that much.
type settingsCollector struct {
	profile string
	rules   []sysctl.Rule
	read    settingsReader
	now     func() time.Time

	mu    sync.Mutex
	at    time.Time // when the kept judgment was made
	order []string  // the rules judged, in the report's order
	value map[string]float64
}

// settingsEvery is how often the settings are read again.
const settingsEvery = time.Minute

func (*settingsCollector) name() string { return "settings" }

func (*settingsCollector) describe(ch chan<- *prometheus.Desc) { ch <- sysctlRuleOKDesc }

func (c *settingsCollector) update(s *scrape, ch chan<- prometheus.Metric) error {
	if len(c.rules) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now == nil {
		c.now = time.Now
	}
	if c.order == nil || c.now().Sub(c.at) >= settingsEvery {
		if err := c.judge(s); err != nil {
			return err
		}
	}
	for _, id := range c.order {
		ch <- prometheus.MustNewConstMetric(sysctlRuleOKDesc, prometheus.GaugeValue, c.value[id], c.profile, id)
	}
	return nil
}

// judge reads the settings and keeps each rule's value.
func (c *settingsCollector) judge(s *scrape) error {
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
	c.order, c.value, c.at = []string{}, map[string]float64{}, c.now()
	for _, id := range order {
		if !visible[id] {
			continue
		}
		c.order = append(c.order, id)
		c.value[id] = 1
		if broken[id] {
			c.value[id] = 0
		}
	}
	return nil
}
