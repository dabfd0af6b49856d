package capture

import (
	"errors"
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

// Live is a live capture together with the kernel's view of its
// interface: how trace, doctor and the exporter all capture.
type Live struct {
	*LiveSource
	// Host is nil when the kernel's view could not be opened (findings
	// then lack the kernel's entries); HostErr says why.
	Host    HostView
	HostErr error
	kv      *KernelView
}

// OpenLiveWithHost opens the capture cfg describes and the kernel's view
// of its interface in the same namespace. A capture that cannot open is
// an error; a view that cannot is not.
func OpenLiveWithHost(cfg LiveConfig) (*Live, error) {
	src, err := OpenLive(cfg)
	if err != nil {
		return nil, err
	}
	l := &Live{LiveSource: src}
	if l.kv, l.HostErr = OpenKernelView(cfg.NetNS, cfg.Interface); l.HostErr == nil {
		l.Host = l.kv
	}
	return l, nil
}

// Close releases the capture and the kernel's view; closing again does
// nothing.
func (l *Live) Close() error {
	err := l.LiveSource.Close()
	if l.kv != nil {
		err = errors.Join(err, l.kv.Close())
		l.kv, l.Host = nil, nil
	}
	return err
}
