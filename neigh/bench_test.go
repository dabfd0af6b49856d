package neigh_test

import (
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// bigTable fills a fresh namespace with n PERMANENT entries: every
// documentation IPv4 address (762 of them) on as many veth interfaces as
// it takes. PERMANENT entries do not count against gc_thresh2 and
// gc_thresh3, so no collection is forced and no entry refused; they do
// count against gc_thresh1, so while the table exists the periodic
// collector runs and may retire the machine's stale entries: it runs only
// in a kernel of its own (docs/private-kernel.sh).
func bigTable(b *testing.B, n int) *neightest.Namespace {
	neightest.RequirePrivateKernel(b)
	ns := neightest.NewNamespace(b, "bench")
	nets := [][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}
	for i, made := 0, 0; made < n; i++ {
		name := fmt.Sprintf("eth%d", i)
		if err := ns.Netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: fmt.Sprintf("peer%d", i)}); err != nil {
			b.Fatal(err)
		}
		link, err := ns.Netlink.LinkByName(name)
		if err == nil {
			err = ns.Netlink.LinkSetUp(link)
		}
		if err != nil {
			b.Fatal(err)
		}
		for _, p := range nets {
			for h := 1; h <= 254 && made < n; h++ {
				err := ns.Netlink.NeighAdd(&netlink.Neigh{
					LinkIndex: link.Attrs().Index, Family: unix.AF_INET, State: netlink.NUD_PERMANENT,
					IP:           netip.AddrFrom4([4]byte{p[0], p[1], p[2], byte(h)}).AsSlice(),
					HardwareAddr: net.HardwareAddr{2, 0, 0, byte(made >> 16), byte(made >> 8), byte(made)},
				})
				if err != nil {
					b.Fatal(err)
				}
				made++
			}
		}
	}
	return ns
}

// BenchmarkList20k lists a 20,000-entry table over netlink, from another
// namespace, and encodes it as JSON: the work of `arpdoctor neigh -o json`.
func BenchmarkList20k(b *testing.B) {
	ns := bigTable(b, 20000)
	c, err := neigh.Open(ns.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 0, 8<<20)
	b.ReportAllocs()
	for b.Loop() {
		es, err := c.List(neigh.Filter{})
		if err != nil || len(es) != 20000 {
			b.Fatalf("%d entries, %v", len(es), err)
		}
		buf = buf[:0]
		for i := range es {
			buf = es[i].AppendJSON(buf)
		}
	}
}

// BenchmarkCensus20k counts a 20,000-entry table by family, interface and
// state: the exporter's read of a table, at every scrape.
func BenchmarkCensus20k(b *testing.B) {
	ns := bigTable(b, 20000)
	c, err := neigh.Open(ns.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		gs, err := c.Census()
		if err != nil || len(gs) != 27 {
			b.Fatalf("%d groups, %v", len(gs), err)
		}
	}
}
