package exporter

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/prometheus/client_golang/prometheus"
)

// verdicts are every verdict, each exported after a round, zero or not.
var verdicts = []neigh.Verdict{neigh.VerdictOK, neigh.VerdictMismatch, neigh.VerdictNoAnswer, neigh.VerdictDuplicate, neigh.VerdictUnprobed}

// inUse are the states of entries traffic is using: the ones verified.
// INCOMPLETE and FAILED ones are already known dead, PERMANENT and NOARP
// ones are set by hand.
var inUse = neigh.StateSet(neigh.Reachable | neigh.Stale | neigh.Delay | neigh.Probe)

// verifyCollector probes the entries in use every interval, in the
// background, and reports the last round's verdicts.
type verifyCollector struct {
	e       *Exporter
	offset  int // where the next round starts, when the table is larger than a round
	repeats verifyRepeats

	mu      sync.Mutex
	counts  map[neigh.Verdict]int
	lastEnd time.Time
	lastErr error
}

func (*verifyCollector) name() string { return "verify" }

func (*verifyCollector) describe(ch chan<- *prometheus.Desc) {
	ch <- verifyEntriesDesc
	ch <- verifyLastRunDesc
}

func (c *verifyCollector) update(_ *scrape, ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lastEnd.IsZero() {
		for _, v := range verdicts {
			ch <- prometheus.MustNewConstMetric(verifyEntriesDesc, prometheus.GaugeValue, float64(c.counts[v]), string(v))
		}
		ch <- prometheus.MustNewConstMetric(verifyLastRunDesc, prometheus.GaugeValue, float64(c.lastEnd.UnixNano())/1e9)
	}
	return c.lastErr
}

func (c *verifyCollector) run(ctx context.Context) {
	t := time.NewTicker(c.e.cfg.VerifyInterval)
	defer t.Stop()
	for {
		err := c.round(ctx)
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.lastErr = err
		c.mu.Unlock()
		if err != nil {
			c.e.log.Error("verification failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// round probes at most VerifyMaxEntries entries in use; a larger table is
// covered over several rounds, a slice each, so that a round's traffic
// stays bounded.
func (c *verifyCollector) round(ctx context.Context) error {
	entries, err := c.e.src.table.List(neigh.Filter{States: inUse})
	if err != nil {
		return fmt.Errorf("listing the entries to verify: %w", err)
	}
	c.repeats.keepOnly(entries)
	if n, most := len(entries), c.e.cfg.VerifyMaxEntries; n > most {
		start := c.offset % n
		batch := make([]neigh.Entry, 0, most)
		for i := range most {
			batch = append(batch, entries[(start+i)%n])
		}
		c.offset = start + most
		entries = batch
	}
	ev := c.e.events
	ev.probing(entries)
	results, err := c.e.src.probe.Probe(ctx, entries, c.e.cfg.Probe)
	end := c.e.src.now()
	if err != nil {
		ev.probed(nil, end)
		return fmt.Errorf("probing: %w", err)
	}
	counts := map[neigh.Verdict]int{}
	for i := range results {
		r := &results[i]
		counts[r.Verdict]++
		if c.repeats.fresh(r) {
			c.e.note(verifyRecord(c.e.cfg.NetNS, end, r))
		}
	}
	// After the round's own records: the correction it made follows the
	// mismatch it found.
	ev.probed(results, end)
	c.mu.Lock()
	c.counts, c.lastEnd = counts, end
	c.mu.Unlock()
	return nil
}
