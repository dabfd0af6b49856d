package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for Config.
const (
	DefaultProfile          = "cloud"
	DefaultVerifyMaxEntries = 256
	// DefaultMaxHandshakes bounds each traced interface's open handshakes:
	// a long-running exporter must not grow with a SYN flood.
	DefaultMaxHandshakes = 10_000
)

// Config says what the exporter measures.
type Config struct {
	// NetNS is the network namespace to read (see neigh.OpenNetNS); "" is
	// the current one.
	NetNS string
	// Profile names the sysctl profile whose rules are exported; "" is
	// DefaultProfile.
	Profile string
	// TraceInterfaces are traced passively, each for the exporter's life.
	TraceInterfaces []string
	// MaxHandshakes bounds each trace's open handshakes; 0 is
	// DefaultMaxHandshakes.
	MaxHandshakes int
	// VerifyInterval spaces the active verification rounds; 0 turns
	// verification off.
	VerifyInterval time.Duration
	// VerifyMaxEntries bounds the entries probed in one round; a larger
	// table is verified a slice per round, in turn. 0 is
	// DefaultVerifyMaxEntries.
	VerifyMaxEntries int
	// Probe paces the probes of a round.
	Probe neigh.ProbeOptions
	// MaxInterfaces is how many interfaces keep series of their own in
	// each metric; 0 is DefaultMaxInterfaces, negative keeps every one.
	MaxInterfaces int
	// FindingsSize is how many recent findings are kept; 0 is
	// DefaultFindingsSize.
	FindingsSize int
	// FlipWindow is the neighbor events' flip-flop window; 0 is
	// neigh.DefaultFlipWindow.
	FlipWindow time.Duration
	// Root is where /proc is: "/" (or "") on a running machine.
	Root string
	// AllNetNS also reads the neighbor table of every network namespace of
	// the machine, rediscovered every NetNSInterval, into
	// arpdoctor_netns_neighbor_entries. The other metrics stay those of
	// NetNS.
	AllNetNS bool
	// ProcRoot is the machine's proc filesystem the namespaces are
	// discovered under (see namespaces.Options); "" is /proc.
	ProcRoot string
	// Discover finds the namespaces; nil is DiscoverNetNS under ProcRoot.
	Discover func(ctx context.Context) ([]NetNS, error)
	// NetNSInterval spaces the rounds over every namespace; 0 is
	// DefaultNetNSInterval.
	NetNSInterval time.Duration
	// MaxNetNS is how many namespaces keep series of their own; 0 is
	// DefaultMaxNetNS, negative keeps every one with something to report.
	MaxNetNS int
	// Version and Revision label arpdoctor_build_info.
	Version, Revision string
	// Logger receives a line per finding and the collectors' failures;
	// nil discards them.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Profile == "" {
		c.Profile = DefaultProfile
	}
	if c.MaxHandshakes <= 0 {
		c.MaxHandshakes = DefaultMaxHandshakes
	}
	if c.VerifyMaxEntries <= 0 {
		c.VerifyMaxEntries = DefaultVerifyMaxEntries
	}
	if c.MaxInterfaces == 0 {
		c.MaxInterfaces = DefaultMaxInterfaces
	}
	if c.FlipWindow <= 0 {
		c.FlipWindow = neigh.DefaultFlipWindow
	}
	if c.Root == "" {
		c.Root = "/"
	}
	if c.ProcRoot == "" {
		c.ProcRoot = "/proc"
	}
	if c.NetNSInterval <= 0 {
		c.NetNSInterval = DefaultNetNSInterval
	}
	if c.MaxNetNS == 0 {
		c.MaxNetNS = DefaultMaxNetNS
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// The seams: what the collectors ask of the kernel, so that each can be
// tested on fixed inputs.

// tableReader reads the neighbor table: a *neigh.Client.
type tableReader interface {
	List(f neigh.Filter) ([]neigh.Entry, error)
	// Census counts the entries by family, interface and state: what the
	// metrics need of a table, without an entry per entry.
	Census() ([]neigh.Group, error)
	Tables(f neigh.Family) ([]neigh.Table, error)
}

// watcher follows the table's netlink events: a *neigh.Client.
type watcher interface {
	Watch(ctx context.Context, o neigh.WatchOptions, emit func([]neigh.Event) error) error
}

// prober verifies entries on the wire: a *neigh.Client.
type prober interface {
	Probe(ctx context.Context, entries []neigh.Entry, o neigh.ProbeOptions) ([]neigh.ProbeResult, error)
}

// procStatsReader reads a table's /proc/net/stat counters:
// neigh.ReadProcStats.
type procStatsReader func(table string) (neigh.ProcStats, error)

// settingsReader reads the live sysctl values, asking k about the table:
// sysctl.ReadRunning.
type settingsReader func(k sysctl.Kernel) (*sysctl.Snapshot, error)

// tracer traces one interface passively until ctx ends, giving each
// finding to emit: capture.OpenLive and capture.Run.
type tracer func(ctx context.Context, emit func(capture.Finding)) error

// sources are the exporter's seams, filled with the real kernel by Open.
type sources struct {
	table     tableReader
	watch     watcher
	probe     prober
	procStats procStatsReader
	settings  settingsReader
	// traces are keyed by interface, in traceOrder.
	traces     map[string]tracer
	traceOrder []string
	now        func() time.Time
	// netnsGone says whether the namespace read is still the one its
	// name or path opens (a *NetNSDeletedError when not); nil for the
	// exporter's own namespace.
	netnsGone func() error
}

// collector measures one concern; the exporter times each scrape of it and
// reports whether it succeeded, as node_exporter does.
type collector interface {
	name() string
	describe(ch chan<- *prometheus.Desc)
	update(s *scrape, ch chan<- prometheus.Metric) error
}

// Exporter is a prometheus.Collector over the neighbor cache of one
// network namespace, with background watchers that run until Run's
// context ends.
type Exporter struct {
	cfg        Config
	log        *slog.Logger
	src        sources
	collectors []collector
	findings   *ring
	background []func(ctx context.Context)
	closers    []io.Closer
	events     *eventsCollector
	failures   *failureLog

	goneMu sync.Mutex
	gone   error // the last scrape's netnsGone, logged when it changes
}

// Open connects to the kernel for cfg: the neighbor table of cfg.NetNS,
// and a live capture on each trace interface, opened now so that a missing
// interface or privilege is an error here rather than a silent metric.
// Close releases them.
func Open(cfg Config) (*Exporter, error) {
	cfg.setDefaults()
	if _, err := sysctl.Profile(cfg.Profile); err != nil {
		return nil, err
	}
	c, err := neigh.Open(cfg.NetNS)
	if err != nil {
		return nil, err
	}
	closers := []io.Closer{c}
	fail := func(err error) (*Exporter, error) {
		for _, cl := range closers {
			cl.Close()
		}
		return nil, err
	}
	src := sources{
		table: c, watch: c, probe: c,
		procStats: func(table string) (neigh.ProcStats, error) { return neigh.ReadProcStats(cfg.Root, table) },
		settings: func(k sysctl.Kernel) (*sysctl.Snapshot, error) {
			return sysctl.ReadRunning(sysctl.Running{Root: cfg.Root, Do: c.NetNS().Do, Kernel: k}, nil)
		},
		traces: map[string]tracer{},
		now:    time.Now,
	}
	for _, ifname := range cfg.TraceInterfaces {
		if _, dup := src.traces[ifname]; dup {
			continue
		}
		if _, err := c.InterfaceByName(ifname); err != nil {
			return fail(&StartError{Collector: CollectorHandshake, Err: err})
		}
		live, err := capture.OpenLiveWithHost(capture.LiveConfig{NetNS: cfg.NetNS, Interface: ifname, IdleTick: traceIdleTick})
		if err != nil {
			return fail(&StartError{Collector: CollectorHandshake, Err: fmt.Errorf("tracing %s: %w", ifname, err)})
		}
		lt := &liveTrace{netns: cfg.NetNS, ifname: ifname, maxHandshakes: cfg.MaxHandshakes, live: live}
		closers = append(closers, lt)
		src.traces[ifname] = lt.run
		src.traceOrder = append(src.traceOrder, ifname)
	}
	if cfg.VerifyInterval > 0 {
		if err := tryProbeSocket(c.NetNS()); err != nil {
			return fail(&StartError{Collector: CollectorVerify, Err: fmt.Errorf("verifying: %w", err)})
		}
	}
	if cfg.AllNetNS {
		if err := tryEnterNetNS(); err != nil {
			return fail(&StartError{Collector: CollectorNetNS, Err: fmt.Errorf("reading every network namespace: %w", err)})
		}
	}
	if ns := c.NetNS(); !ns.IsCurrent() {
		src.netnsGone = func() error { return heldNetNSGone(ns) }
	}
	e := newExporter(cfg, src)
	e.closers = closers
	return e, nil
}

// newExporter builds the exporter over any sources.
func newExporter(cfg Config, src sources) *Exporter {
	cfg.setDefaults()
	if src.now == nil {
		src.now = time.Now
	}
	e := &Exporter{cfg: cfg, log: cfg.Logger, src: src, findings: newRing(cfg.FindingsSize), failures: newFailureLog(cfg.Logger, src.now)}
	rules, _ := sysctl.Profile(cfg.Profile)
	e.collectors = []collector{
		&neighborCollector{maxInterfaces: cfg.MaxInterfaces},
		&tableCollector{procStats: src.procStats},
		&settingsCollector{profile: cfg.Profile, rules: rules, read: src.settings, now: src.now},
	}
	ev := newEventsCollector(e, cfg.MaxInterfaces)
	e.events = ev
	e.collectors = append(e.collectors, ev)
	e.background = append(e.background, ev.run)
	if len(src.traceOrder) > 0 {
		hs := newHandshakeCollector(e, src.traceOrder, cfg.MaxInterfaces)
		e.collectors = append(e.collectors, hs)
		e.background = append(e.background, hs.run)
	}
	if cfg.VerifyInterval > 0 {
		v := &verifyCollector{e: e}
		e.collectors = append(e.collectors, v)
		e.background = append(e.background, v.run)
	}
	if cfg.AllNetNS {
		discover := cfg.Discover
		if discover == nil {
			discover = func(ctx context.Context) ([]NetNS, error) { return DiscoverNetNS(ctx, cfg.ProcRoot) }
		}
		n := &netnsCollector{e: e, discover: discover, max: cfg.MaxNetNS}
		e.collectors = append(e.collectors, n)
		e.background = append(e.background, n.run)
	}
	return e
}

// Close releases what Open opened; call it after Run has returned.
func (e *Exporter) Close() error {
	var errs []error
	for _, c := range e.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Run runs the background collectors (the kernel's events, the traces,
// verification) until ctx ends, and returns once they all have stopped.
func (e *Exporter) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, run := range e.background {
		wg.Go(func() { run(ctx) })
	}
	wg.Wait()
}

// Describe implements prometheus.Collector: every metric the exporter can
// export with its configuration.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	ch <- buildInfoDesc
	ch <- collectorDurationDesc
	ch <- collectorSuccessDesc
	for _, c := range e.collectors {
		c.describe(ch)
	}
}

// Collect implements prometheus.Collector: the collectors run at once,
// over one snapshot of the table.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(buildInfoDesc, prometheus.GaugeValue, 1, e.cfg.Version, e.cfg.Revision, goVersion())
	s := &scrape{src: e.src.table}
	gone := e.checkNetNS()
	var wg sync.WaitGroup
	for _, c := range e.collectors {
		wg.Go(func() { e.execute(c, s, gone, ch) })
	}
	wg.Wait()
}

// checkNetNS says whether the namespace read is gone from its name, and
// logs it once when that changes rather than at every scrape.
func (e *Exporter) checkNetNS() error {
	if e.src.netnsGone == nil {
		return nil
	}
	err := e.src.netnsGone()
	e.goneMu.Lock()
	defer e.goneMu.Unlock()
	switch {
	case err != nil && e.gone == nil:
		e.log.Error("the network namespace read is unreachable: every collector fails until its name refers to it again; restart the exporter to read a namespace made anew under that name", "err", err)
	case err == nil && e.gone != nil:
		e.log.Info("the network namespace is reachable by its name again; the collectors read it again", "netns", e.cfg.NetNS)
	}
	e.gone = err
	return err
}

// execute runs one collector for a scrape. When the namespace read is
// gone from its name (gone), every collector fails without reading it:
// what the namespace holds no longer concerns anything reachable, and
// checkNetNS has said so once.
func (e *Exporter) execute(c collector, s *scrape, gone error, ch chan<- prometheus.Metric) {
	begin := time.Now()
	err := gone
	if err == nil {
		err = c.update(s, ch)
	}
	d := time.Since(begin)
	ok := 1.0
	if err != nil {
		ok = 0
	}
	// A deleted namespace is logged once, when the scrape finds it so,
	// not by every collector at every scrape.
	if gone == nil {
		e.failures.observe(c.name(), d, err)
	}
	ch <- prometheus.MustNewConstMetric(collectorDurationDesc, prometheus.GaugeValue, d.Seconds(), c.name())
	ch <- prometheus.MustNewConstMetric(collectorSuccessDesc, prometheus.GaugeValue, ok, c.name())
}

// scrape is one scrape's view of the table: the census and the tables are
// read once, whichever collector asks first, and shared, so that a scrape
// dumps a large table once rather than once per collector. No collector
// needs the entries themselves, so none is kept: a 20,000-entry table
// costs a scrape a few dozen groups.
type scrape struct {
	src     tableReader
	cenOnce sync.Once
	groups  []neigh.Group
	cenErr  error
	tabOnce sync.Once
	tables  []neigh.Table
	tabErr  error
}

func (s *scrape) census() ([]neigh.Group, error) {
	s.cenOnce.Do(func() { s.groups, s.cenErr = s.src.Census() })
	return s.groups, s.cenErr
}

// Census implements sysctl.Kernel over the scrape's census.
func (s *scrape) Census() ([]neigh.Group, error) { return s.census() }

// Tables implements sysctl.Kernel over the scrape's tables.
func (s *scrape) Tables(f neigh.Family) ([]neigh.Table, error) {
	s.tabOnce.Do(func() { s.tables, s.tabErr = s.src.Tables("") })
	if s.tabErr != nil {
		return nil, s.tabErr
	}
	var out []neigh.Table
	for _, t := range s.tables {
		if f == "" || t.Family == f {
			out = append(out, t)
		}
	}
	return out, nil
}

// retry runs f until ctx ends, waiting after each failure, a little longer
// each time up to a minute; the error of the last attempt goes to setErr
// (nil while f runs).
func retry(ctx context.Context, log *slog.Logger, what string, setErr func(error), f func(context.Context) error) {
	const first, most = time.Second, time.Minute
	wait := first
	for ctx.Err() == nil {
		setErr(nil)
		start := time.Now()
		err := f(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped")
		}
		setErr(err)
		log.Error(what+" failed; trying again", "err", err, "retry_in", wait.String())
		if time.Since(start) > most {
			wait = first
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, most)
	}
}

// traceIdleTick is how often a trace wakes on a quiet link to settle its
// handshakes' verdicts: a second late is nothing to a metric scraped every
// 15 to 60 seconds, and five times fewer wake-ups keep an idle exporter
// under a thousandth of a core (docs/benchmarks.md).
const traceIdleTick = time.Second

// liveTrace is one interface's passive trace, reopened after a failure.
type liveTrace struct {
	netns, ifname string
	maxHandshakes int
	mu            sync.Mutex
	live          *capture.Live // the capture opened by Open, until the first run takes it
}

func (lt *liveTrace) run(ctx context.Context, emit func(capture.Finding)) error {
	lt.mu.Lock()
	live := lt.live
	lt.live = nil
	lt.mu.Unlock()
	if live == nil {
		var err error
		if live, err = capture.OpenLiveWithHost(capture.LiveConfig{NetNS: lt.netns, Interface: lt.ifname, IdleTick: traceIdleTick}); err != nil {
			return err
		}
	}
	defer live.Close()
	_, err := capture.Run(ctx, capture.RunConfig{
		Sources:          []capture.Source{live},
		HandshakeTimeout: capture.DefaultHandshakeTimeout,
		MaxHandshakes:    lt.maxHandshakes,
		Host:             live.Host,
		CountOK:          true,
		Emit:             emit,
	})
	return err
}

// Close releases a capture that no run took.
func (lt *liveTrace) Close() error {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if lt.live != nil {
		err := lt.live.Close()
		lt.live = nil
		return err
	}
	return nil
}

func goVersion() string { return runtime.Version() }
