package exporter

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/arpdoctor/arpdoctor/internal/words"
	"github.com/arpdoctor/arpdoctor/namespaces"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the all-namespaces mode (Config.AllNetNS).
const (
	// DefaultMaxNetNS is how many namespaces keep series of their own; the
	// others are summed into netns="other". At most 18 series each (two
	// families, nine states), so the per-node budget of a thousand series
	// holds however many pods the node runs.
	DefaultMaxNetNS = 16
	// DefaultNetNSInterval spaces the rounds that rediscover the
	// namespaces and read their tables.
	DefaultNetNSInterval = 30 * time.Second
)

// Labels of the netns label that are no namespace's own.
const (
	// HostNetNS labels the machine's own namespace.
	HostNetNS = "host"
	// OtherNetNS labels the namespaces summed together: those with
	// nothing to report and those past the budget.
	OtherNetNS = "other"
)

// maxNetNSAtOnce bounds the namespaces read at the same time in a round.
const maxNetNSAtOnce = 4

// reportable are the states that give a namespace series of its own: a
// STALE entry is what the incident is made of (the kernel trusts it until
// traffic makes it check), INCOMPLETE and FAILED ones are neighbors that do
// not answer. A namespace whose entries are all REACHABLE, PERMANENT, ...
// has nothing to report.
var reportable = neigh.StateSet(neigh.Stale | neigh.Incomplete | neigh.Failed)

// NetNS is a network namespace read in the all-namespaces mode.
type NetNS struct {
	// Label names it in the netns label: HostNetNS for the machine's own,
	// else namespaces.Namespace.Label() (the pod UID, the container ID or
	// the name). Namespaces with the same label are summed.
	Label string
	// Path is where the namespace was found (/proc/PID/ns/net,
	// /run/netns/NAME, a bind mount), to name it in errors.
	Path string
	// Open connects to its table. The exporter closes the table after
	// each read, so that it never keeps a deleted pod's namespace alive.
	Open func() (NetNSTable, error)
}

// NetNSTable is what the exporter reads of a namespace: a *neigh.Client.
type NetNSTable interface {
	Census() ([]neigh.Group, error)
	Close() error
}

// DiscoverNetNS finds every network namespace of the machine under
// procRoot (see namespaces.Options.ProcRoot), labelled for the netns label.
func DiscoverNetNS(ctx context.Context, procRoot string) ([]NetNS, error) {
	res, err := namespaces.Discover(ctx, namespaces.Options{ProcRoot: procRoot})
	if err != nil {
		return nil, err
	}
	out := make([]NetNS, 0, len(res.Namespaces))
	for _, ns := range res.Namespaces {
		out = append(out, NetNS{Label: NetNSLabel(&ns), Path: ns.Path, Open: func() (NetNSTable, error) { return ns.Open() }})
	}
	return out, nil
}

// NetNSLabel is the netns label of a discovered namespace.
func NetNSLabel(ns *namespaces.Namespace) string {
	if ns.Initial {
		return HostNetNS
	}
	return ns.Label()
}

// netnsCollector reads every namespace's table in the background, a round
// every interval, and exports the last round: entries by namespace, family
// and state.
type netnsCollector struct {
	e        *Exporter
	discover func(ctx context.Context) ([]NetNS, error)
	max      int // < 0: no limit

	mu      sync.Mutex
	last    *netnsRound
	lastErr error
}

// NetNSError says why one namespace of the machine could not be read.
type NetNSError struct {
	Label, Path string
	Err         error
	index       int // in the round's discovery
}

func (e *NetNSError) Error() string {
	return fmt.Sprintf("reading network namespace %s (%s): %s", e.Label, e.Path, e.reason())
}

func (e *NetNSError) Unwrap() error { return e.Err }

// reason is the error on one line, with the descriptor the namespace was
// reached through (/proc/self/fd/N, which tells nobody anything) named by
// the path it was found at.
func (e *NetNSError) reason() string {
	return words.OneLine(selfFD.ReplaceAllLiteralString(e.Err.Error(), e.Path))
}

var selfFD = regexp.MustCompile(`/proc/self/fd/[0-9]+`)

// netnsRoundError is a round's failure: how many namespaces failed, and
// the first of them, on one line.
type netnsRoundError struct {
	failed, discovered int
	first              error
}

func (e *netnsRoundError) Error() string {
	return fmt.Sprintf("%s of %d failed to read; the first: %s", words.Count(e.failed, "network namespace", "network namespaces"), e.discovered, e.first)
}

func (e *netnsRoundError) Unwrap() error { return e.first }

// maxNetNSErrorLines bounds the lines a round logs, one per namespace that
// failed; the rest are counted in one more line.
const maxNetNSErrorLines = 8

// errNetNSPending is the netns collector's failure until its first round
// has finished: a discovery can take long (or never finish) on a large or
// broken proc root.
var errNetNSPending = errors.New("the first round over the network namespaces has not finished yet")

// netnsRound is what one round found.
type netnsRound struct {
	discovered, read int
	// counts are the entries by namespace label, family and state.
	counts map[string]map[netnsKey]int
}

type netnsKey struct {
	family neigh.Family
	state  neigh.State
}

func (*netnsCollector) name() string { return "netns" }

func (*netnsCollector) describe(ch chan<- *prometheus.Desc) {
	ch <- netnsEntriesDesc
	ch <- netnsDiscoveredDesc
	ch <- netnsReadDesc
}

func (c *netnsCollector) update(_ *scrape, ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	r, err := c.last, c.lastErr
	c.mu.Unlock()
	if r == nil {
		// Until a round has finished nothing is known: no series, and a
		// failure rather than a success over nothing.
		return cmp.Or(err, errNetNSPending)
	}
	ch <- prometheus.MustNewConstMetric(netnsDiscoveredDesc, prometheus.GaugeValue, float64(r.discovered))
	ch <- prometheus.MustNewConstMetric(netnsReadDesc, prometheus.GaugeValue, float64(r.read))
	for label, counts := range r.fold(c.max) {
		for k, n := range counts {
			ch <- prometheus.MustNewConstMetric(netnsEntriesDesc, prometheus.GaugeValue, float64(n), labelValue(label), string(k.family), k.state.String())
		}
	}
	return err
}

// fold keeps the series of the max namespaces with the most reportable
// entries (ties by label) and sums the rest into OtherNetNS. A round is
// folded anew at each scrape: a gauge may move between series.
func (r *netnsRound) fold(max int) map[string]map[netnsKey]int {
	var ranked []string
	score := map[string]int{}
	for label, counts := range r.counts {
		for k, n := range counts {
			if reportable.Has(k.state) {
				score[label] += n
			}
		}
		if score[label] > 0 {
			ranked = append(ranked, label)
		}
	}
	slices.SortFunc(ranked, func(a, b string) int {
		if c := cmp.Compare(score[b], score[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	if max >= 0 && len(ranked) > max {
		ranked = ranked[:max]
	}
	out := map[string]map[netnsKey]int{}
	for _, label := range ranked {
		out[label] = r.counts[label]
	}
	other := map[netnsKey]int{}
	for label, counts := range r.counts {
		if _, kept := out[label]; kept {
			continue
		}
		for k, n := range counts {
			other[k] += n
		}
	}
	if len(other) > 0 {
		// A namespace may be labelled "other" itself: it joins the rest.
		for k, n := range out[OtherNetNS] {
			other[k] += n
		}
		out[OtherNetNS] = other
	}
	return out
}

func (c *netnsCollector) run(ctx context.Context) {
	t := time.NewTicker(c.e.cfg.NetNSInterval)
	defer t.Stop()
	for {
		r, errs, err := c.round(ctx)
		if ctx.Err() != nil {
			return
		}
		if c.e.failures.observeRound("reading the network namespaces", err) {
			c.logErrors(errs)
		}
		c.mu.Lock()
		// Namespaces gone since the last round are gone from the metrics
		// with it; a round that could not even discover them leaves none,
		// rather than the last round's series going stale.
		c.last, c.lastErr = r, err
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// logErrors logs a round's failures, a line for each namespace that failed
// (naming it by label and path), up to maxNetNSErrorLines.
// logErrors logs a line for each namespace a round failed to read, when
// the round's failure is logged (see failureLog.observeRound).
func (c *netnsCollector) logErrors(errs []*NetNSError) {
	for i, ne := range errs {
		if i == maxNetNSErrorLines {
			c.e.log.Error("reading more network namespaces failed", "more", len(errs)-i)
			break
		}
		c.e.log.Error("reading a network namespace failed", "netns", ne.Label, "path", ne.Path, "err", ne.reason())
	}
}

// round discovers the namespaces and reads each table once, a few at a
// time, each through a client of its own closed right after. A namespace
// gone meanwhile is left out; one that fails otherwise is left out, is
// among the errors returned, and makes the round's error (one line), as
// does a missing privilege.
func (c *netnsCollector) round(ctx context.Context) (*netnsRound, []*NetNSError, error) {
	nss, err := c.discover(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("discovering the network namespaces: %w", err)
	}
	if len(nss) == 0 {
		// Every machine has a namespace of its own: none found is a
		// proc root that holds no processes, not an empty machine.
		return nil, nil, errors.New("discovering the network namespaces: none found, not even the machine's own")
	}
	r := &netnsRound{discovered: len(nss), counts: map[string]map[netnsKey]int{}}
	var mu sync.Mutex
	var errs []*NetNSError
	sem := make(chan struct{}, maxNetNSAtOnce)
	var wg sync.WaitGroup
	for i, ns := range nss {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			groups, err := readNetNS(ns)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, namespaces.ErrGone):
				return
			case err != nil:
				errs = append(errs, &NetNSError{Label: ns.Label, Path: ns.Path, Err: err, index: i})
				return
			}
			r.read++
			counts := r.counts[ns.Label]
			if counts == nil {
				counts = map[netnsKey]int{}
				r.counts[ns.Label] = counts
			}
			for _, g := range groups {
				counts[netnsKey{g.Family, g.State}] += g.Entries
			}
		})
	}
	wg.Wait()
	if len(errs) == 0 {
		return r, nil, nil
	}
	// In the order discovered, so that the first is the same each round.
	slices.SortStableFunc(errs, func(a, b *NetNSError) int { return cmp.Compare(a.index, b.index) })
	return r, errs, &netnsRoundError{failed: len(errs), discovered: len(nss), first: errs[0]}
}

func readNetNS(ns NetNS) ([]neigh.Group, error) {
	t, err := ns.Open()
	if err != nil {
		return nil, err
	}
	defer t.Close()
	return t.Census()
}
