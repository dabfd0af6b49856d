package exporter

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/prometheus/client_golang/prometheus"
)

// countedEvents are the events counted: those that point at a stale,
// contested or dead entry.
var countedEvents = []neigh.EventKind{neigh.EventMACChanged, neigh.EventFlipFlop, neigh.EventFailed}

// eventsCollector counts the kernel's neighbor events, followed over
// netlink in the background for the exporter's life.
type eventsCollector struct {
	e       *Exporter
	budget  *interfaceBudget
	mu      sync.Mutex
	counts  map[eventKey]uint64
	lastErr error

	// The exporter's own verification makes events too: the kernel takes
	// the MAC that answers a probe, which after a wrong MAC set by hand
	// looks like two hosts taking turns. underProbe are the entries of the
	// round under way, whose MAC changes are held until the round says
	// whether it corrected them; corrected are the corrections of the
	// last rounds, each awaited for correctionWindow.
	underProbe map[probeKey]bool
	held       []neigh.Event
	corrected  map[probeKey]correction
}

// correctionWindow is how long after a verification round a MAC change to
// the MAC that answered it is taken for the round's correction: netlink
// delivers the kernel's event within milliseconds, a busy exporter may
// read it seconds later.
const correctionWindow = 5 * time.Second

type probeKey struct {
	ifname string
	ip     netip.Addr
}

type correction struct {
	mac   string
	until time.Time
}

type eventKey struct {
	family neigh.Family
	ifname string
	event  neigh.EventKind
}

func newEventsCollector(e *Exporter, maxInterfaces int) *eventsCollector {
	b := newInterfaceBudget(maxInterfaces)
	b.now = e.src.now
	return &eventsCollector{e: e, budget: b, counts: map[eventKey]uint64{}}
}

// interfaceGoneAfter is how long an interface must be out of the table's
// census, with no event either, before its series go and its place in the
// budget is given to another: an interface whose entries all expired is
// not gone, but one that stays without entries or events for an hour has
// nothing to count that a new series at zero would miss.
const interfaceGoneAfter = time.Hour

// releaseGone drops the series of the interfaces gone from the table (see
// interfaceGoneAfter), freeing their names in the budget; c.mu is held.
func (c *eventsCollector) releaseGone(groups []neigh.Group) {
	present := make(map[string]bool, len(groups))
	for _, g := range groups {
		present[g.Interface] = true
	}
	gone := c.budget.release(present, c.e.src.now().Add(-interfaceGoneAfter))
	if len(gone) == 0 {
		return
	}
	drop := make(map[string]bool, len(gone))
	for _, n := range gone {
		drop[n] = true
	}
	for k := range c.counts {
		if drop[k.ifname] {
			delete(c.counts, k)
		}
	}
}

func (*eventsCollector) name() string { return "events" }

func (*eventsCollector) describe(ch chan<- *prometheus.Desc) { ch <- neighborEventsDesc }

func (c *eventsCollector) update(s *scrape, ch chan<- prometheus.Metric) error {
	// The interfaces of the table get their series at zero before any
	// event, so that an alert's increase() sees the first mac_changed.
	// A table that cannot be read is the neighbor collector's failure.
	groups, cenErr := s.census()
	// Copied under the lock and sent after it, so that a slow scrape never
	// holds up the events.
	c.mu.Lock()
	if cenErr == nil {
		c.releaseGone(groups)
	}
	for _, g := range groups {
		c.seed(g.Family, g.Interface)
	}
	ms := make([]prometheus.Metric, 0, len(c.counts))
	for k, n := range c.counts {
		ms = append(ms, prometheus.MustNewConstMetric(neighborEventsDesc, prometheus.CounterValue, float64(n), string(k.family), labelValue(k.ifname), string(k.event)))
	}
	err := c.lastErr
	c.mu.Unlock()
	for _, m := range ms {
		ch <- m
	}
	return err
}

func (c *eventsCollector) setErr(err error) {
	c.mu.Lock()
	c.lastErr = err
	c.mu.Unlock()
}

func (c *eventsCollector) run(ctx context.Context) {
	if c.e.src.watch == nil {
		return
	}
	// The table as it is at the start is the census's to count: only
	// changes are events here.
	o := neigh.WatchOptions{FlipWindow: c.e.cfg.FlipWindow, ChangesOnly: true}
	retry(ctx, c.e.log, "watching the neighbor table", c.setErr, func(ctx context.Context) error {
		return c.e.src.watch.Watch(ctx, o, func(evs []neigh.Event) error {
			c.take(evs)
			return nil
		})
	})
}

// seed makes the family and interface's series exist, at zero until
// counted, and returns the interface's label; c.mu is held.
func (c *eventsCollector) seed(family neigh.Family, ifname string) string {
	if ifname == "" || (family != neigh.Inet && family != neigh.Inet6) {
		return ""
	}
	label := c.budget.label(ifname)
	for _, k := range countedEvents {
		key := eventKey{family, label, k}
		if _, ok := c.counts[key]; !ok {
			c.counts[key] = 0
		}
	}
	return label
}

// take counts a batch of events. Any event makes its family and
// interface's series exist at zero, so that the first mac_changed is an
// increase Prometheus sees, not a series appearing at 1.
func (c *eventsCollector) take(evs []neigh.Event) {
	var notes []Record
	c.mu.Lock()
	for i := range evs {
		ev := &evs[i]
		if ev.Kind == neigh.EventResync || ev.Entry.Interface == "" {
			continue
		}
		if macChange(ev.Kind) && c.underProbe[probeKey{ev.Entry.Interface, ev.Entry.IP}] {
			c.held = append(c.held, *ev)
			continue
		}
		if r, ok := c.count(ev); ok {
			notes = append(notes, r)
		}
	}
	c.mu.Unlock()
	for _, r := range notes {
		c.e.note(r)
	}
}

func macChange(k neigh.EventKind) bool {
	return k == neigh.EventMACChanged || k == neigh.EventFlipFlop
}

// count counts one event and returns its record; c.mu is held. A MAC
// change that a verification round made, to the MAC that answered it,
// counts as mac_changed, never flip_flop, and says so.
func (c *eventsCollector) count(ev *neigh.Event) (Record, bool) {
	ifname := c.seed(ev.Entry.Family, ev.Entry.Interface)
	if ifname == "" {
		return Record{}, false
	}
	switch ev.Kind {
	case neigh.EventMACChanged, neigh.EventFlipFlop:
		k := probeKey{ev.Entry.Interface, ev.Entry.IP}
		if corr, ok := c.corrected[k]; ok && corr.mac == ev.Entry.MAC && !c.e.src.now().After(corr.until) {
			delete(c.corrected, k)
			c.counts[eventKey{ev.Entry.Family, ifname, neigh.EventMACChanged}]++
			return correctedRecord(ev), true
		}
		fallthrough
	case neigh.EventFailed:
		c.counts[eventKey{ev.Entry.Family, ifname, ev.Kind}]++
		return eventRecord(c.e.cfg.NetNS, ev), true
	}
	return Record{}, false
}

// probing says a verification round is about to probe entries: their MAC
// changes wait for its results.
func (c *eventsCollector) probing(entries []neigh.Entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.underProbe = make(map[probeKey]bool, len(entries))
	for _, e := range entries {
		c.underProbe[probeKey{e.Interface, e.IP}] = true
	}
}

// probed takes a round's results (nil when it failed), ended at end: the
// entries the kernel corrected from the answers are awaited for their MAC
// change, and the changes held meanwhile are counted.
func (c *eventsCollector) probed(results []neigh.ProbeResult, end time.Time) {
	var notes []Record
	c.mu.Lock()
	if c.corrected == nil {
		c.corrected = map[probeKey]correction{}
	}
	for k, corr := range c.corrected {
		if end.After(corr.until) {
			delete(c.corrected, k)
		}
	}
	for i := range results {
		if r := &results[i]; r.Corrected() {
			c.corrected[probeKey{r.Entry.Interface, r.Entry.IP}] = correction{mac: r.Answered[0], until: end.Add(correctionWindow)}
		}
	}
	held := c.held
	c.held, c.underProbe = nil, nil
	for i := range held {
		if r, ok := c.count(&held[i]); ok {
			notes = append(notes, r)
		}
	}
	c.mu.Unlock()
	for _, r := range notes {
		c.e.note(r)
	}
}
