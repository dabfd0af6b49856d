package neigh

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// Census counts exactly the entries List returns, in every state, and
// nothing List would not take.
func TestCensusCountsWhatListReturns(t *testing.T) {
	c := labConn()
	c.neighMsgs = append(c.neighMsgs,
		// Not neighbors List takes: a bridge FDB entry, an IPv4 entry with
		// an IPv6 destination, one with no destination, a short message.
		neighMsg{family: unix.AF_BRIDGE, ifindex: 3, state: Permanent, mac: mac1}.bytes(),
		neighMsg{family: unix.AF_INET, ifindex: 3, state: Stale, ip: "2001:db8::1"}.bytes(),
		neighMsg{family: unix.AF_INET6, ifindex: 3, state: Stale}.bytes(),
		[]byte{unix.AF_INET, 0, 0},
		// A second STALE entry on eth0, to be counted with the first.
		neighMsg{family: unix.AF_INET, ifindex: 3, state: Stale, ip: "192.0.2.101", mac: mac1}.bytes(),
	)
	got, err := testClient(c).Census()
	if err != nil {
		t.Fatal(err)
	}
	list, err := testClient(labConn()).List(Filter{States: AllStates})
	if err != nil {
		t.Fatal(err)
	}
	want := []Group{
		{Family: Inet, Interface: "eth0", IfIndex: 3, State: None, Entries: 1},
		{Family: Inet, Interface: "eth0", IfIndex: 3, State: Reachable, Entries: 1},
		{Family: Inet, Interface: "eth0", IfIndex: 3, State: Stale, Entries: 2},
		{Family: Inet6, Interface: "eth0", IfIndex: 3, State: Reachable, Entries: 1},
		{Family: Inet6, Interface: "eth0", IfIndex: 3, State: NoARP, Entries: 1},
		{Family: Inet, Interface: "eth1", IfIndex: 2, State: Failed, Entries: 1},
		{Family: Inet, Interface: "if9", IfIndex: 9, State: Permanent, Entries: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Census (-want +got):\n%s", diff)
	}
	fromList := CensusOf(list)
	want[2].Entries = 1 // List's table lacks the second STALE entry
	if diff := cmp.Diff(want, fromList); diff != "" {
		t.Errorf("CensusOf(List) (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{unix.AF_UNSPEC}, c.families); diff != "" {
		t.Errorf("dump families (-want +got):\n%s", diff)
	}
}

// A dump the kernel marks inconsistent is counted again from zero.
func TestCensusRetriesInterruptedDump(t *testing.T) {
	c := labConn()
	c.interrupted = 2
	gs, err := testClient(c).Census()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range gs {
		n += g.Entries
	}
	if n != 7 || len(c.families) != 3 {
		t.Errorf("counted %d entries after %d dumps, want 7 after 3", n, len(c.families))
	}
}

func BenchmarkCensusOf(b *testing.B) {
	es, err := testClient(labConn()).List(Filter{States: AllStates})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		CensusOf(es)
	}
}
