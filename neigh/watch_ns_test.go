package neigh_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// watchNS is a namespace with one interface, arpdt0, and no traffic: the
// only changes to its table are the test's.
func watchNS(t testing.TB) (*neightest.Namespace, int) {
	ns := neightest.NewNamespace(t, "watch")
	if err := ns.Netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "arpdt0"}, PeerName: "arpdt1"}); err != nil {
		t.Fatal(err)
	}
	link, err := ns.Netlink.LinkByName("arpdt0")
	if err == nil {
		err = ns.Netlink.LinkSetUp(link)
	}
	if err != nil {
		t.Fatal(err)
	}
	return ns, link.Attrs().Index
}

func setNeigh(t testing.TB, ns *neightest.Namespace, ifindex int, ip, mac string, state neigh.State) {
	t.Helper()
	a := netip.MustParseAddr(ip)
	n := &netlink.Neigh{LinkIndex: ifindex, Family: unix.AF_INET, State: int(state), IP: a.AsSlice()}
	if a.Is6() {
		n.Family = unix.AF_INET6
	}
	if mac != "" {
		n.HardwareAddr, _ = net.ParseMAC(mac)
	}
	if err := ns.Netlink.NeighSet(n); err != nil {
		t.Fatalf("setting %s: %v", ip, err)
	}
}

func delNeigh(t testing.TB, ns *neightest.Namespace, ifindex int, ip string) {
	t.Helper()
	a := netip.MustParseAddr(ip)
	n := &netlink.Neigh{LinkIndex: ifindex, Family: unix.AF_INET, IP: a.AsSlice()}
	if a.Is6() {
		n.Family = unix.AF_INET6
	}
	if err := ns.Netlink.NeighDel(n); err != nil {
		t.Fatalf("deleting %s: %v", ip, err)
	}
}

// startWatch runs Watch in the background; events arrive on the channel.
func startWatch(t testing.TB, spec string, o neigh.WatchOptions) <-chan neigh.Event {
	c, err := neigh.Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan neigh.Event, 1<<16)
	done := make(chan error, 1)
	go func() {
		done <- c.Watch(ctx, o, func(evs []neigh.Event) error {
			for _, ev := range evs {
				ch <- ev
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
		c.Close()
	})
	return ch
}

func next(t testing.TB, ch <-chan neigh.Event) neigh.Event {
	t.Helper()
	select {
	case ev := <-ch:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return neigh.Event{}
}

func TestWatchEventsInOrder(t *testing.T) {
	ns, idx := watchNS(t)
	const a, b = "02:00:00:00:50:a1", "02:00:00:00:50:b2"
	setNeigh(t, ns, idx, "192.0.2.59", a, neigh.Stale)
	ch := startWatch(t, ns.Name, neigh.WatchOptions{})
	if ev := next(t, ch); ev.Kind != neigh.EventPresent || ev.Entry.IP.String() != "192.0.2.59" {
		t.Fatalf("first event %+v, want the present entry", ev)
	}

	type step struct {
		do   func()
		want string
	}
	steps := []step{
		{func() { setNeigh(t, ns, idx, "192.0.2.60", a, neigh.Stale) }, "new 192.0.2.60 " + a + " STALE"},
		{func() { setNeigh(t, ns, idx, "192.0.2.60", a, neigh.Permanent) }, "state 192.0.2.60 " + a + " PERMANENT(STALE)"},
		{func() { setNeigh(t, ns, idx, "192.0.2.60", b, neigh.Permanent) }, "mac_changed 192.0.2.60 " + b + "(" + a + ") PERMANENT(PERMANENT)"},
		{func() { setNeigh(t, ns, idx, "192.0.2.60", a, neigh.Permanent) }, "flip_flop 192.0.2.60 " + a + "(" + b + ") PERMANENT(PERMANENT)"},
		// Set FAILED by hand: a state change; a FAILED after unanswered
		// probes is "failed" (TestWatchIncident in commands has one).
		{func() { setNeigh(t, ns, idx, "192.0.2.60", "", neigh.Failed) }, "state 192.0.2.60  FAILED(PERMANENT)"},
		{func() { delNeigh(t, ns, idx, "192.0.2.60") }, "deleted 192.0.2.60  FAILED(FAILED)"},
		{func() { setNeigh(t, ns, idx, "2001:db8::60", b, neigh.Stale) }, "new 2001:db8::60 " + b + " STALE"},
		// Deleting an entry that holds a MAC, the kernel first marks it
		// FAILED, then removes it; it says both, and no probe failed.
		{func() { delNeigh(t, ns, idx, "2001:db8::60") }, "state 2001:db8::60  FAILED(STALE)"},
		{func() {}, "deleted 2001:db8::60  FAILED(FAILED)"},
	}
	for _, s := range steps {
		s.do()
		ev := next(t, ch)
		if got := describe(ev); got != s.want {
			t.Errorf("event %q, want %q", got, s.want)
		}
		if ev.Entry.Interface != "arpdt0" {
			t.Errorf("event on %q, want arpdt0", ev.Entry.Interface)
		}
	}
}

func describe(ev neigh.Event) string {
	s := string(ev.Kind) + " " + ev.Entry.IP.String() + " " + ev.Entry.MAC
	if ev.OldMAC != "" {
		s += "(" + ev.OldMAC + ")"
	}
	s += " " + ev.Entry.State.String()
	if ev.HasOld {
		s += "(" + ev.OldState.String() + ")"
	}
	return s
}

// A burst of thousands of changes through a tiny socket buffer, read by a
// slow consumer, overruns the socket; after the resync the view built from
// the events equals a fresh dump.
func TestWatchBurstResync(t *testing.T) {
	ns, idx := watchNS(t)
	c, err := neigh.Open(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type key struct {
		IP    netip.Addr
		MAC   string
		State neigh.State
	}
	view := map[netip.Addr]key{}
	resyncs := 0
	marker := netip.MustParseAddr("192.0.2.254")
	sawMarker := make(chan struct{})
	// An entry present at the start tells when watching has begun.
	setNeigh(t, ns, idx, "192.0.2.253", "02:00:00:00:00:fd", neigh.Permanent)
	started := make(chan struct{})
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- c.Watch(ctx, neigh.WithReceiveBuffer(neigh.WatchOptions{Filter: neigh.Filter{States: neigh.AllStates}}, 4096),
			func(evs []neigh.Event) error {
				time.Sleep(2 * time.Millisecond) // a slow reader
				for _, ev := range evs {
					switch ev.Kind {
					case neigh.EventPresent:
						view[ev.Entry.IP] = key{ev.Entry.IP, ev.Entry.MAC, ev.Entry.State}
						close(started)
					case neigh.EventResync:
						resyncs++
					case neigh.EventDeleted:
						delete(view, ev.Entry.IP)
					default:
						view[ev.Entry.IP] = key{ev.Entry.IP, ev.Entry.MAC, ev.Entry.State}
						if ev.Entry.IP == marker {
							close(sawMarker)
						}
					}
				}
				return nil
			})
	}()
	select {
	case <-started:
	case err := <-watchErr:
		t.Fatalf("Watch: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not start")
	}

	// Thousands of changes to few entries: the table stays small, as the
	// machine-wide thresholds want it (see neightest).
	for i := range 2000 {
		ip := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i % 40)}).String()
		switch {
		case i >= 1960 && i%2 == 0:
			delNeigh(t, ns, idx, ip)
		default:
			setNeigh(t, ns, idx, ip, fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8, i&0xff), neigh.Permanent)
		}
	}
	setNeigh(t, ns, idx, marker.String(), "02:00:00:00:00:fe", neigh.Permanent)
	select {
	case <-sawMarker:
	case err := <-watchErr:
		t.Fatalf("Watch ended before the marker: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the marker change never arrived")
	}
	cancel()
	if err := <-watchErr; err != nil {
		t.Errorf("Watch: %v", err)
	}
	dump, err := c.List(neigh.Filter{States: neigh.AllStates})
	if err != nil {
		t.Fatal(err)
	}
	want := map[netip.Addr]key{}
	for _, e := range dump {
		want[e.IP] = key{e.IP, e.MAC, e.State}
	}
	if resyncs == 0 {
		t.Error("the burst did not overrun the socket; the resync path went untested")
	}
	if diff := cmp.Diff(want, view, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("view after %d resyncs vs fresh dump (-dump +view):\n%s", resyncs, diff)
	}
	if len(view) < 20 {
		t.Errorf("view holds %d entries, want over 20", len(view))
	}
}

// BenchmarkWatchLatency measures the time from a change made in the kernel
// to its event reaching the consumer.
func BenchmarkWatchLatency(b *testing.B) {
	ns, idx := watchNS(b)
	macs := []string{"02:00:00:00:50:a1", "02:00:00:00:50:b2"}
	setNeigh(b, ns, idx, "192.0.2.70", macs[1], neigh.Permanent)
	ch := startWatch(b, ns.Name, neigh.WatchOptions{})
	next(b, ch) // present: watching has begun
	var total time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		setNeigh(b, ns, idx, "192.0.2.70", macs[i%2], neigh.Permanent)
		next(b, ch)
		total += time.Since(start)
		i++
	}
	b.ReportMetric(float64(total.Microseconds())/float64(i), "µs/event")
}
