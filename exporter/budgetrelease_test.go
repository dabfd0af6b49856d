package exporter

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// TestEventsBudgetReleasesGoneInterfaces: with a budget of two, interfaces
// a and b deleted (out of the census, no event for an hour) give their
// names back: their series go, and c, which counted under "other" while
// they held the budget, gets series of its own. What "other" counted
// stays.
func TestEventsBudgetReleasesGoneInterfaces(t *testing.T) {
	now := t0
	k := &fakeKernel{entries: []neigh.Entry{
		entry("192.0.2.1", "02:00:00:00:00:01", "a", neigh.Reachable),
		entry("192.0.2.2", "02:00:00:00:00:02", "b", neigh.Reachable),
	}}
	e := newExporter(Config{MaxInterfaces: 2}, sources{table: k, now: func() time.Time { return now }})
	ev := e.collectors[3].(*eventsCollector)
	failed := func(ifname string) neigh.Event {
		return neigh.Event{Kind: neigh.EventFailed, Entry: entry("192.0.2.9", "", ifname, neigh.Failed)}
	}
	same(t, one{ev, k}, []string{
		`{event="failed",family="inet",interface="a"} 0`,
		`{event="failed",family="inet",interface="b"} 0`,
		`{event="flip_flop",family="inet",interface="a"} 0`,
		`{event="flip_flop",family="inet",interface="b"} 0`,
		`{event="mac_changed",family="inet",interface="a"} 0`,
		`{event="mac_changed",family="inet",interface="b"} 0`,
	})
	// a and b are deleted; c appears, past the budget.
	k.entries = []neigh.Entry{entry("192.0.2.3", "02:00:00:00:00:03", "c", neigh.Reachable)}
	now = now.Add(30 * time.Minute)
	ev.take([]neigh.Event{failed("c"), failed("a")})
	same(t, one{ev, k}, []string{
		`{event="failed",family="inet",interface="a"} 1`,
		`{event="failed",family="inet",interface="b"} 0`,
		`{event="failed",family="inet",interface="other"} 1`,
		`{event="flip_flop",family="inet",interface="a"} 0`,
		`{event="flip_flop",family="inet",interface="b"} 0`,
		`{event="flip_flop",family="inet",interface="other"} 0`,
		`{event="mac_changed",family="inet",interface="a"} 0`,
		`{event="mac_changed",family="inet",interface="b"} 0`,
		`{event="mac_changed",family="inet",interface="other"} 0`,
	})
	// An hour after b was last seen, b's slot is free and c takes it; a
	// had an event half an hour ago and keeps its own.
	now = now.Add(31 * time.Minute)
	ev.take([]neigh.Event{failed("c")}) // before the scrape: still "other"
	same(t, one{ev, k}, []string{
		`{event="failed",family="inet",interface="a"} 1`,
		`{event="failed",family="inet",interface="c"} 0`,
		`{event="failed",family="inet",interface="other"} 2`,
		`{event="flip_flop",family="inet",interface="a"} 0`,
		`{event="flip_flop",family="inet",interface="c"} 0`,
		`{event="flip_flop",family="inet",interface="other"} 0`,
		`{event="mac_changed",family="inet",interface="a"} 0`,
		`{event="mac_changed",family="inet",interface="c"} 0`,
		`{event="mac_changed",family="inet",interface="other"} 0`,
	})
	ev.take([]neigh.Event{failed("c")})
	now = now.Add(time.Hour)
	same(t, one{ev, k}, []string{
		`{event="failed",family="inet",interface="c"} 1`,
		`{event="failed",family="inet",interface="other"} 2`,
		`{event="flip_flop",family="inet",interface="c"} 0`,
		`{event="flip_flop",family="inet",interface="other"} 0`,
		`{event="mac_changed",family="inet",interface="c"} 0`,
		`{event="mac_changed",family="inet",interface="other"} 0`,
	})
	// A census that cannot be read releases nothing.
	k.err = errors.New("netlink: no buffer space")
	now = now.Add(2 * time.Hour)
	same(t, one{ev, k}, []string{
		`{event="failed",family="inet",interface="c"} 1`,
		`{event="failed",family="inet",interface="other"} 2`,
		`{event="flip_flop",family="inet",interface="c"} 0`,
		`{event="flip_flop",family="inet",interface="other"} 0`,
		`{event="mac_changed",family="inet",interface="c"} 0`,
		`{event="mac_changed",family="inet",interface="other"} 0`,
	})
}

// same compares c's series, labels and value, without their HELP text.
func same(t *testing.T, c prometheus.Collector, want []string) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			got = append(got, fmt.Sprintf("{%s} %g", strings.Join(ls, ","), m.GetCounter().GetValue()))
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series (-want +got):\n%s", diff)
	}
}
