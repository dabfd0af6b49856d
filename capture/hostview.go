package capture

import (
	"fmt"
	"net/netip"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
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
	neighbors *neigh.Client
	routes    *netlink.Handle
	ifname    string
	ifindex   int
}

// OpenKernelView connects to the neighbor table and the routing table of
// the network namespace named by netnsSpec (see neigh.OpenNetNS), for
// questions about interface ifname.
func OpenKernelView(netnsSpec, ifname string) (*KernelView, error) {
	ns, err := neigh.OpenNetNS(netnsSpec)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	c, err := neigh.Open(netnsSpec)
	if err != nil {
		return nil, err
	}
	ifi, err := c.InterfaceByName(ifname)
	if err != nil {
		c.Close()
		return nil, err
	}
	var h *netlink.Handle
	err = ns.Do(func() error {
		var err error
		// The handle's socket is made on this thread, so it stays in the
		// namespace.
		if h, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("opening netlink: %w", err)
		}
		return nil
	})
	if err != nil {
		c.Close()
		return nil, err
	}
	index := ifi.Index
	return &KernelView{neighbors: c, routes: h, ifname: ifname, ifindex: index}, nil
}

// Close releases the netlink sockets.
func (k *KernelView) Close() error {
	k.routes.Close()
	return k.neighbors.Close()
}

// Neighbor implements HostView.
func (k *KernelView) Neighbor(ip netip.Addr) (KernelEntry, bool) {
	es, err := k.neighbors.List(neigh.Filter{
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
	routes, err := k.routes.RouteGet(ip.AsSlice())
	if err != nil || len(routes) == 0 {
		return false, false
	}
	r := routes[0]
	if r.Type == unix.RTN_LOCAL {
		// The host's own address: the capture is the client's, and its
		// packets are on this link by definition.
		return true, true
	}
	return r.Gw == nil && r.LinkIndex == k.ifindex, true
}
