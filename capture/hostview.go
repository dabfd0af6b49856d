package capture

import (
	"net/netip"

	"github.com/arpdoctor/arpdoctor/neigh"
)

// HostView answers what the packets of a live capture cannot: the host's
// current neighbor entry for an IP, and whether an IP is on the capture's
// link or behind a gateway. Trackers of capture files have none.
type HostView interface {
	// Neighbor returns the kernel's entry for ip on the capture interface;
	// ok is false when there is none or it cannot be read.
	Neighbor(ip netip.Addr) (e KernelEntry, ok bool)
	// OnLink says whether the routing table reaches ip directly on the
	// capture interface; known is false when the route cannot be read.
	OnLink(ip netip.Addr) (onLink, known bool)
}

// KernelView is the HostView of the host a live capture runs on, read
// over netlink inside the capture's network namespace.
type KernelView struct {
	c       *neigh.Client
	ifname  string
	ifindex int
}

// OpenKernelView connects to the neighbor and routing tables of the
// network namespace named by netnsSpec (see neigh.OpenNetNS), for questions
// about interface ifname.
func OpenKernelView(netnsSpec, ifname string) (*KernelView, error) {
	c, err := neigh.Open(netnsSpec)
	if err != nil {
		return nil, err
	}
	ifi, err := c.InterfaceByName(ifname)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &KernelView{c: c, ifname: ifname, ifindex: ifi.Index}, nil
}

// Close releases the netlink socket.
func (k *KernelView) Close() error { return k.c.Close() }

// Neighbor implements HostView.
func (k *KernelView) Neighbor(ip netip.Addr) (KernelEntry, bool) {
	es, err := k.c.List(neigh.Filter{
		Interface: k.ifname,
		States:    neigh.AllStates,
		Prefixes:  []netip.Prefix{netip.PrefixFrom(ip, ip.BitLen())},
	})
	if err != nil || len(es) == 0 {
		return KernelEntry{}, false
	}
	e := es[0]
	return KernelEntry{IP: e.IP, MAC: e.MAC, State: e.State, Interface: e.Interface}, true
}

// OnLink implements HostView.
func (k *KernelView) OnLink(ip netip.Addr) (onLink, known bool) {
	r, err := k.c.RouteTo(ip)
	if err != nil {
		return false, false
	}
	if r.Local {
		// The host's own address: the capture is the client's, and its
		// packets are on this link by definition.
		return true, true
	}
	return !r.Gateway.IsValid() && r.IfIndex == k.ifindex, true
}
