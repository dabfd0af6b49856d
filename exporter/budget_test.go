package exporter

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// allStates are the states an entry can be in, one bit each, and NONE.
var allStates = []neigh.State{neigh.Incomplete, neigh.Reachable, neigh.Stale, neigh.Delay, neigh.Probe,
	neigh.Failed, neigh.NoARP, neigh.Permanent, neigh.None}

// wideKernel has interfaces interfaces, each with an entry in every state,
// IPv4 and IPv6.
func wideKernel(interfaces int) *fakeKernel {
	k := &fakeKernel{tables: tablesForTest}
	n := 0
	for i := range interfaces {
		for _, s := range allStates {
			n++
			v4 := netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
			v6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(n >> 8), 15: byte(n)})
			ifname := fmt.Sprintf("veth%d", i)
			k.entries = append(k.entries,
				neigh.Entry{IP: v4, Family: neigh.Inet, Interface: ifname, State: s, MAC: "02:00:00:00:00:01"},
				neigh.Entry{IP: v6, Family: neigh.Inet6, Interface: ifname, State: s, MAC: "02:00:00:00:00:01"})
		}
	}
	return k
}

// TestSeriesBudget: however many interfaces and entries, one scrape of the
// exporter's registry, every collector on, stays under a thousand series.
func TestSeriesBudget(t *testing.T) {
	const interfaces = 300
	k := wideKernel(interfaces)
	var traces []string
	tr := map[string]tracer{}
	for i := range 100 {
		ifname := fmt.Sprintf("veth%d", i)
		traces = append(traces, ifname)
		tr[ifname] = func(context.Context, func(capture.Finding)) error { return nil }
	}
	// Three hundred namespaces, each with every state in both families.
	m := &fakeMachine{tables: map[string]*fakeKernel{}}
	for i := range 300 {
		m.tables[fmt.Sprintf("pod-%03d", i)] = wideKernel(1)
	}
	e := newExporter(Config{VerifyInterval: 1, AllNetNS: true, Discover: m.discover}, sources{table: k, probe: &fakeProber{}, settings: stockSettings,
		procStats: func(string) (neigh.ProcStats, error) { return neigh.ProcStats{"unresolved_discards": 1}, nil },
		traces:    tr, traceOrder: traces})
	// Every event on every interface, and every finding on every traced
	// interface.
	ev := e.collectors[3].(*eventsCollector)
	var evs []neigh.Event
	for i := range k.entries {
		for _, kind := range countedEvents {
			evs = append(evs, neigh.Event{Kind: kind, Entry: k.entries[i]})
		}
	}
	ev.take(evs)
	hs := e.collectors[4].(*handshakeCollector)
	for _, ifname := range traces {
		for _, kind := range findingKinds {
			hs.take(ifname, &capture.Finding{Kind: kind})
		}
	}
	v := e.collectors[5].(*verifyCollector)
	if err := v.round(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.collectors[6].(*netnsCollector).roundNow(t)
	reg, err := NewRegistry(e)
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		series += len(mf.GetMetric())
	}
	t.Logf("%d series from %d interfaces, %d entries", series, interfaces, len(k.entries))
	if series > 1000 {
		t.Errorf("one scrape carries %d series, want at most 1000", series)
	}
	// With the budget lifted, every interface has series of its own.
	wide := newExporter(Config{MaxInterfaces: -1}, sources{table: k})
	if n := testutil.CollectAndCount(wide, "arpdoctor_neighbor_entries"); n != interfaces*len(allStates)*2 {
		t.Errorf("without a budget: %d neighbor series, want %d", n, interfaces*len(allStates)*2)
	}
}
