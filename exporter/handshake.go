package exporter

import (
	"context"
	"sync"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/prometheus/client_golang/prometheus"
)

// findingKinds are the trace's kinds that are counted: every kind but the
// handshakes that worked.
var findingKinds = func() []capture.Kind {
	var ks []capture.Kind
	for _, k := range capture.Kinds {
		if k != capture.HandshakeOK {
			ks = append(ks, k)
		}
	}
	return ks
}()

// handshakeCollector counts the findings of passive traces, each running
// in the background for the exporter's life.
type handshakeCollector struct {
	e          *Exporter
	interfaces []string
	labels     map[string]string // interface -> its label, past the budget "other"
	mu         sync.Mutex
	counts     map[handshakeKey]uint64
	errs       map[string]error
}

type handshakeKey struct {
	ifname string
	kind   capture.Kind
}

func newHandshakeCollector(e *Exporter, interfaces []string, maxInterfaces int) *handshakeCollector {
	c := &handshakeCollector{e: e, interfaces: interfaces, labels: map[string]string{},
		counts: map[handshakeKey]uint64{}, errs: map[string]error{}}
	b := newInterfaceBudget(maxInterfaces)
	for _, ifname := range interfaces {
		l := b.label(ifname)
		c.labels[ifname] = l
		for _, k := range findingKinds {
			c.counts[handshakeKey{l, k}] = 0
		}
	}
	return c
}

func (*handshakeCollector) name() string { return "handshake" }

func (*handshakeCollector) describe(ch chan<- *prometheus.Desc) { ch <- handshakeFindingsDesc }

func (c *handshakeCollector) update(_ *scrape, ch chan<- prometheus.Metric) error {
	// Copied under the lock and sent after it, so that a slow scrape never
	// holds up the traces.
	c.mu.Lock()
	ms := make([]prometheus.Metric, 0, len(c.counts))
	for k, n := range c.counts {
		ms = append(ms, prometheus.MustNewConstMetric(handshakeFindingsDesc, prometheus.CounterValue, float64(n), labelValue(k.ifname), string(k.kind)))
	}
	var err error
	for _, ifname := range c.interfaces {
		if err = c.errs[ifname]; err != nil {
			break
		}
	}
	c.mu.Unlock()
	for _, m := range ms {
		ch <- m
	}
	return err
}

func (c *handshakeCollector) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, ifname := range c.interfaces {
		trace := c.e.src.traces[ifname]
		wg.Go(func() {
			setErr := func(err error) {
				c.mu.Lock()
				c.errs[ifname] = err
				c.mu.Unlock()
			}
			// A trace that starts again numbers its findings from 1:
			// offset keeps the interface's ids, and what a correction
			// corrects, unique for the exporter's life.
			var offset uint64
			retry(ctx, c.e.log.With("interface", ifname), "tracing "+ifname, setErr, func(ctx context.Context) error {
				// The trace reopens by the namespace's name: a
				// namespace made anew under it is not the one read.
				if gone := c.e.src.netnsGone; gone != nil {
					if err := gone(); err != nil {
						return err
					}
				}
				base := offset
				return trace(ctx, func(f capture.Finding) {
					f.ID += base
					if f.Correction {
						f.Corrects += base
					}
					offset = max(offset, f.ID)
					c.take(ifname, &f)
				})
			})
		})
	}
	wg.Wait()
}

func (c *handshakeCollector) take(ifname string, f *capture.Finding) {
	if f.Kind == capture.HandshakeOK {
		return
	}
	// A correction updates a finding already counted (a handshake judged
	// while its client retried, that completed after all): each handshake
	// counts once, by its verdict, for a counter cannot take one back.
	if !f.Correction {
		c.mu.Lock()
		c.counts[handshakeKey{c.labels[ifname], f.Kind}]++
		c.mu.Unlock()
	}
	c.e.note(traceRecord(c.e.cfg.NetNS, ifname, f))
}
