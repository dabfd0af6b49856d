package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/arpdoctor/arpdoctor/namespaces"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeMachine is a machine's namespaces, each a fixed table; it counts the
// tables open.
type fakeMachine struct {
	mu     sync.Mutex
	err    error                  // of the discovery
	tables map[string]*fakeKernel // by label
	gone   map[string]bool        // discovered, gone when opened
	broken map[string]bool        // discovered, fail to open
	// brokenErr is how the broken ones fail; nil is "no such thing".
	brokenErr error
	open      int
	opened    int
}

func (m *fakeMachine) discover(context.Context) ([]NetNS, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	var out []NetNS
	add := func(label string) {
		out = append(out, NetNS{Label: label, Path: "/run/netns/" + label, Open: func() (NetNSTable, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			switch {
			case m.gone[label]:
				return nil, fmt.Errorf("opening %s: %w", label, namespaces.ErrGone)
			case m.broken[label] && m.brokenErr != nil:
				return nil, m.brokenErr
			case m.broken[label]:
				return nil, errors.New("no such thing")
			}
			m.open++
			m.opened++
			return &fakeNetNSTable{fakeKernel: m.tables[label], m: m}, nil
		}})
	}
	for label := range m.tables {
		add(label)
	}
	for label := range m.gone {
		add(label)
	}
	for label := range m.broken {
		add(label)
	}
	return out, nil
}

type fakeNetNSTable struct {
	*fakeKernel
	m *fakeMachine
}

func (t *fakeNetNSTable) Close() error {
	t.m.mu.Lock()
	t.m.open--
	t.m.mu.Unlock()
	return nil
}

// netnsExporter is an exporter over m in the all-namespaces mode, whose
// rounds the test makes.
func netnsExporter(m *fakeMachine, max int) (*Exporter, *netnsCollector) {
	e := newExporter(Config{AllNetNS: true, Discover: m.discover, MaxNetNS: max}, sources{table: &fakeKernel{}})
	return e, e.collectors[len(e.collectors)-1].(*netnsCollector)
}

func (c *netnsCollector) roundNow(t *testing.T) {
	t.Helper()
	r, _, err := c.round(context.Background())
	c.mu.Lock()
	c.last, c.lastErr = r, err
	c.mu.Unlock()
}

// TestNetNSCollector: the namespaces with a STALE, INCOMPLETE or FAILED
// entry have series of their own, the others are summed into "other";
// every table is closed after its read; a namespace gone is gone from the
// metrics at the next round.
func TestNetNSCollector(t *testing.T) {
	m := &fakeMachine{tables: map[string]*fakeKernel{
		HostNetNS: {entries: []neigh.Entry{
			entry("198.51.100.1", "02:00:00:00:00:01", "eth0", neigh.Reachable),
			entry("2001:db8::1", "02:00:00:00:00:01", "eth0", neigh.Reachable),
		}},
		"pod-a": {entries: []neigh.Entry{
			entry("192.0.2.50", "02:00:00:00:50:a1", "eth0", neigh.Stale),
			entry("192.0.2.1", "02:00:00:00:00:01", "eth0", neigh.Reachable),
		}},
		"pod-b": {entries: []neigh.Entry{
			entry("192.0.2.1", "02:00:00:00:00:01", "eth0", neigh.Reachable),
		}},
	}, gone: map[string]bool{"pod-gone": true}}
	e, c := netnsExporter(m, 0)

	// Before the first round: no series, and no success over nothing.
	compare(t, e, `
# HELP arpdoctor_collector_success 1 when the collector succeeded, else 0: neighbor, table and settings in this scrape; events, handshake, verify and netns in their background work, which runs between scrapes.
# TYPE arpdoctor_collector_success gauge
arpdoctor_collector_success{collector="events"} 1
arpdoctor_collector_success{collector="neighbor"} 1
arpdoctor_collector_success{collector="netns"} 0
arpdoctor_collector_success{collector="settings"} 0
arpdoctor_collector_success{collector="table"} 1
`, "arpdoctor_collector_success", "arpdoctor_netns_neighbor_entries")

	c.roundNow(t)
	compare(t, e, `
# HELP arpdoctor_netns_discovered Network namespaces found by the last round over every namespace.
# TYPE arpdoctor_netns_discovered gauge
arpdoctor_netns_discovered 4
# HELP arpdoctor_netns_neighbor_entries Neighbor entries of every network namespace of the machine by namespace, family and NUD state, as of the last round; namespaces with nothing to report or past the budget summed into netns="other".
# TYPE arpdoctor_netns_neighbor_entries gauge
arpdoctor_netns_neighbor_entries{family="inet",netns="pod-a",state="REACHABLE"} 1
arpdoctor_netns_neighbor_entries{family="inet",netns="pod-a",state="STALE"} 1
arpdoctor_netns_neighbor_entries{family="inet",netns="other",state="REACHABLE"} 2
arpdoctor_netns_neighbor_entries{family="inet6",netns="other",state="REACHABLE"} 1
# HELP arpdoctor_netns_read Network namespaces whose table the last round over every namespace read; the others were gone or failed.
# TYPE arpdoctor_netns_read gauge
arpdoctor_netns_read 3
`, "arpdoctor_netns_discovered", "arpdoctor_netns_read", "arpdoctor_netns_neighbor_entries")
	if m.open != 0 || m.opened != 3 {
		t.Errorf("%d tables open after the round, %d opened: want 0 and 3", m.open, m.opened)
	}

	// pod-a is deleted, pod-b's neighbor dies.
	m.mu.Lock()
	delete(m.tables, "pod-a")
	m.tables["pod-b"].entries[0].State = neigh.Failed
	m.mu.Unlock()
	c.roundNow(t)
	compare(t, e, `
# HELP arpdoctor_netns_neighbor_entries Neighbor entries of every network namespace of the machine by namespace, family and NUD state, as of the last round; namespaces with nothing to report or past the budget summed into netns="other".
# TYPE arpdoctor_netns_neighbor_entries gauge
arpdoctor_netns_neighbor_entries{family="inet",netns="pod-b",state="FAILED"} 1
arpdoctor_netns_neighbor_entries{family="inet",netns="other",state="REACHABLE"} 1
arpdoctor_netns_neighbor_entries{family="inet6",netns="other",state="REACHABLE"} 1
`, "arpdoctor_netns_neighbor_entries")
	if m.open != 0 {
		t.Errorf("%d tables open after the round", m.open)
	}
}

// TestNetNSBudget: past MaxNetNS, the namespaces with the most to report
// keep their series (ties by label), the rest are summed into "other".
func TestNetNSBudget(t *testing.T) {
	m := &fakeMachine{tables: map[string]*fakeKernel{}}
	for i, label := range []string{"a", "b", "c", "d"} {
		k := &fakeKernel{}
		for j := range i + 1 {
			k.entries = append(k.entries, neigh.Entry{IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(j)}), Family: neigh.Inet, Interface: "eth0", State: neigh.Stale})
		}
		m.tables[label] = k
	}
	m.tables["e"] = &fakeKernel{entries: []neigh.Entry{entry("192.0.2.9", "", "eth0", neigh.Incomplete)}}
	e, c := netnsExporter(m, 2)
	c.roundNow(t)
	compare(t, e, `
# HELP arpdoctor_netns_neighbor_entries Neighbor entries of every network namespace of the machine by namespace, family and NUD state, as of the last round; namespaces with nothing to report or past the budget summed into netns="other".
# TYPE arpdoctor_netns_neighbor_entries gauge
arpdoctor_netns_neighbor_entries{family="inet",netns="c",state="STALE"} 3
arpdoctor_netns_neighbor_entries{family="inet",netns="d",state="STALE"} 4
arpdoctor_netns_neighbor_entries{family="inet",netns="other",state="INCOMPLETE"} 1
arpdoctor_netns_neighbor_entries{family="inet",netns="other",state="STALE"} 3
`, "arpdoctor_netns_neighbor_entries")
}

// TestNetNSFailure: a namespace that fails to open is left out and fails
// the collector; one gone meanwhile is only left out.
func TestNetNSFailure(t *testing.T) {
	m := &fakeMachine{tables: map[string]*fakeKernel{"ok": {entries: []neigh.Entry{entry("192.0.2.1", "", "eth0", neigh.Failed)}}},
		gone: map[string]bool{"gone": true}}
	e, c := netnsExporter(m, 0)
	c.roundNow(t)
	compare(t, e, `
# HELP arpdoctor_collector_success 1 when the collector succeeded, else 0: neighbor, table and settings in this scrape; events, handshake, verify and netns in their background work, which runs between scrapes.
# TYPE arpdoctor_collector_success gauge
arpdoctor_collector_success{collector="events"} 1
arpdoctor_collector_success{collector="neighbor"} 1
arpdoctor_collector_success{collector="netns"} 1
arpdoctor_collector_success{collector="settings"} 0
arpdoctor_collector_success{collector="table"} 1
`, "arpdoctor_collector_success")
	m.broken = map[string]bool{"broken": true}
	c.roundNow(t)
	compare(t, e, `
# HELP arpdoctor_collector_success 1 when the collector succeeded, else 0: neighbor, table and settings in this scrape; events, handshake, verify and netns in their background work, which runs between scrapes.
# TYPE arpdoctor_collector_success gauge
arpdoctor_collector_success{collector="events"} 1
arpdoctor_collector_success{collector="neighbor"} 1
arpdoctor_collector_success{collector="netns"} 0
arpdoctor_collector_success{collector="settings"} 0
arpdoctor_collector_success{collector="table"} 1
# HELP arpdoctor_netns_neighbor_entries Neighbor entries of every network namespace of the machine by namespace, family and NUD state, as of the last round; namespaces with nothing to report or past the budget summed into netns="other".
# TYPE arpdoctor_netns_neighbor_entries gauge
arpdoctor_netns_neighbor_entries{family="inet",netns="ok",state="FAILED"} 1
`, "arpdoctor_collector_success", "arpdoctor_netns_neighbor_entries")

	// A discovery that fails leaves no series behind to go stale.
	m.err = errors.New("reading /proc: permission denied")
	c.roundNow(t)
	compare(t, e, `
# HELP arpdoctor_collector_success 1 when the collector succeeded, else 0: neighbor, table and settings in this scrape; events, handshake, verify and netns in their background work, which runs between scrapes.
# TYPE arpdoctor_collector_success gauge
arpdoctor_collector_success{collector="events"} 1
arpdoctor_collector_success{collector="neighbor"} 1
arpdoctor_collector_success{collector="netns"} 0
arpdoctor_collector_success{collector="settings"} 0
arpdoctor_collector_success{collector="table"} 1
`, "arpdoctor_collector_success", "arpdoctor_netns_neighbor_entries", "arpdoctor_netns_discovered")
}

// TestNetNSLabel: the machine's own namespace is "host", the others go by
// their pod, container or name.
func TestNetNSLabel(t *testing.T) {
	for _, tc := range []struct {
		ns   namespaces.Namespace
		want string
	}{
		{namespaces.Namespace{Initial: true, Name: "x"}, "host"},
		{namespaces.Namespace{Attribution: namespaces.Attribution{PodUID: "0f3c2a4e-1b2c-4d5e-8f90-123456789abc"}}, "0f3c2a4e-1b2c-4d5e-8f90-123456789abc"},
		{namespaces.Namespace{Name: "blue"}, "blue"},
	} {
		if got := NetNSLabel(&tc.ns); got != tc.want {
			t.Errorf("NetNSLabel(%+v) = %q, want %q", tc.ns, got, tc.want)
		}
	}
}

// Linux takes any bytes in an interface's name and a namespace's: a name
// that is not UTF-8, or that holds terminal escapes, is escaped in its
// label, and the scrape goes on.
func TestOddNamesInLabels(t *testing.T) {
	m := &fakeMachine{tables: map[string]*fakeKernel{
		HostNetNS:    {entries: []neigh.Entry{entry("198.51.100.1", "02:00:00:00:00:01", "\xff\xfe", neigh.Stale)}},
		"atk-\xff":   {entries: []neigh.Entry{entry("192.0.2.50", "02:00:00:00:50:a1", "eth0", neigh.Stale)}},
		"pod\x1b[2J": {entries: []neigh.Entry{entry("192.0.2.50", "02:00:00:00:50:a1", "eth0", neigh.Stale)}},
	}}
	e, c := netnsExporter(m, 0)
	e.src.table = m.tables[HostNetNS]
	c.roundNow(t)
	compare(t, e, `
# HELP arpdoctor_neighbor_entries Neighbor entries by family, interface and NUD state; only non-zero series, interfaces past the budget folded into interface="other".
# TYPE arpdoctor_neighbor_entries gauge
arpdoctor_neighbor_entries{family="inet",interface="\\xff\\xfe",state="STALE"} 1
# HELP arpdoctor_netns_neighbor_entries Neighbor entries of every network namespace of the machine by namespace, family and NUD state, as of the last round; namespaces with nothing to report or past the budget summed into netns="other".
# TYPE arpdoctor_netns_neighbor_entries gauge
arpdoctor_netns_neighbor_entries{family="inet",netns="atk-\\xff",state="STALE"} 1
arpdoctor_netns_neighbor_entries{family="inet",netns="host",state="STALE"} 1
arpdoctor_netns_neighbor_entries{family="inet",netns="pod\\x1b[2J",state="STALE"} 1
`, "arpdoctor_neighbor_entries", "arpdoctor_netns_neighbor_entries")
	compare(t, e, `
# HELP arpdoctor_neighbor_events_total Neighbor-table events from the kernel's netlink stream: mac_changed, flip_flop, failed.
# TYPE arpdoctor_neighbor_events_total counter
arpdoctor_neighbor_events_total{event="failed",family="inet",interface="\\xff\\xfe"} 0
arpdoctor_neighbor_events_total{event="flip_flop",family="inet",interface="\\xff\\xfe"} 0
arpdoctor_neighbor_events_total{event="mac_changed",family="inet",interface="\\xff\\xfe"} 0
`, "arpdoctor_neighbor_events_total")
}

// TestNetNSErrorLines: each namespace that fails is one log line naming it
// by its label and the path it was found at, never by the descriptor it
// was reached through; the collector's error is one line too.
func TestNetNSErrorLines(t *testing.T) {
	var buf bytes.Buffer
	m := &fakeMachine{tables: map[string]*fakeKernel{"ok": {}}, broken: map[string]bool{"pod-a": true, "pod-b": true},
		brokenErr: fmt.Errorf("entering network namespace /proc/self/fd/8: %w", errors.New("operation not permitted\nby the seccomp profile"))}
	e := newExporter(Config{AllNetNS: true, Discover: m.discover, Logger: slog.New(slog.NewJSONHandler(&buf, nil))}, sources{table: &fakeKernel{}})
	c := e.collectors[len(e.collectors)-1].(*netnsCollector)
	r, errs, err := c.round(context.Background())
	c.logErrors(errs)
	c.mu.Lock()
	c.last, c.lastErr = r, err
	c.mu.Unlock()
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		got = append(got, fmt.Sprintf("%v netns=%v path=%v err=%v", v["msg"], v["netns"], v["path"], v["err"]))
	}
	want := []string{
		"reading a network namespace failed netns=pod-a path=/run/netns/pod-a err=entering network namespace /run/netns/pod-a: operation not permitted by the seccomp profile",
		"reading a network namespace failed netns=pod-b path=/run/netns/pod-b err=entering network namespace /run/netns/pod-b: operation not permitted by the seccomp profile",
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log lines (-want +got):\n%s", diff)
	}
	if msg := c.update(nil, make(chan prometheus.Metric, 100)).Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "/proc/self/fd") ||
		!strings.HasPrefix(msg, "2 network namespaces of 3 failed to read; the first: reading network namespace pod-") {
		t.Errorf("the collector's error %q: want one line naming the namespace", msg)
	}
}

// TestNetNSNoneFound: a round that finds no namespace at all (a proc root
// without processes) is a failure, not a success over nothing.
func TestNetNSNoneFound(t *testing.T) {
	m := &fakeMachine{tables: map[string]*fakeKernel{}}
	_, c := netnsExporter(m, 0)
	if r, _, err := c.round(context.Background()); err == nil {
		t.Errorf("round over no namespace: %+v, want an error", r)
	}
}
