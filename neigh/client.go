package neigh

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// conn is the netlink boundary: the real one talks to the kernel, tests
// give a fake. Each dump calls f with every reply payload (the family
// header and its attributes), valid only during the call, and returns
// errDumpInterrupted when the kernel says the table changed meanwhile.
type conn interface {
	// links dumps RTM_NEWLINK messages.
	links(f func(msg []byte)) error
	// addrs dumps RTM_NEWADDR messages.
	addrs(f func(msg []byte)) error
	// routes dumps RTM_NEWROUTE messages; body is the struct rtmsg.
	routes(body []byte, f func(msg []byte)) error
	// getRoute asks for the route to one destination (body: struct rtmsg
	// and RTA_DST) and calls f with the RTM_NEWROUTE answer.
	getRoute(body []byte, f func(msg []byte)) error
	// neighbors dumps RTM_NEWNEIGH messages of one family (unix.AF_INET,
	// AF_INET6) or both (AF_UNSPEC).
	neighbors(family int, f func(msg []byte)) error
	// tables dumps RTM_NEWNEIGHTBL messages.
	tables(f func(msg []byte)) error
	// change sends a request that changes the table (RTM_NEWNEIGH,
	// RTM_DELNEIGH) and returns the kernel's answer.
	change(typ, flags uint16, msg []byte) error
	close() error
}

// Client reads and changes the neighbor table of one network namespace.
// It is safe for concurrent use; its requests take turns on one socket.
type Client struct {
	ns   *NetNS
	conn conn
	// hz is USER_HZ, the unit of NDA_CACHEINFO ages.
	hz int64
	// newProber replaces the ARP and NDP sockets in tests; nil opens the
	// real ones.
	newProber func(l link, family Family, addrs []netip.Prefix) (prober, error)
}

// Open connects to the kernel's neighbor table in the namespace named by
// netnsSpec (see OpenNetNS; "" is the current one). Reading needs no
// privilege; entering another namespace needs CAP_SYS_ADMIN.
func Open(netnsSpec string) (*Client, error) {
	ns, err := OpenNetNS(netnsSpec)
	if err != nil {
		return nil, err
	}
	var s *nlSocket
	err = ns.Do(func() error {
		s, err = openNetlink()
		return err
	})
	if err != nil {
		ns.Close()
		return nil, err
	}
	return &Client{ns: ns, conn: netlinkConn{s}, hz: userHZ()}, nil
}

// Close releases the netlink sockets and the namespace.
func (c *Client) Close() error {
	return errors.Join(c.conn.close(), c.ns.Close())
}

// NetNS is the namespace the client reads.
func (c *Client) NetNS() *NetNS { return c.ns }

// Do runs f on an OS thread inside the client's namespace (see NetNS.Do).
func (c *Client) Do(f func() error) error { return c.ns.Do(f) }

// InterfaceError says an interface named in a filter does not exist.
type InterfaceError struct {
	Name  string
	NetNS string // "" for the current namespace
}

func (e *InterfaceError) Error() string {
	if e.NetNS != "" {
		return fmt.Sprintf("interface %q not found in network namespace %s", e.Name, e.NetNS)
	}
	return fmt.Sprintf("interface %q not found", e.Name)
}

// List returns the entries that match f, sorted by interface name, then
// numerically by IP (IPv4 before IPv6).
func (c *Client) List(f Filter) ([]Entry, error) {
	names, err := c.linkNames()
	if err != nil {
		return nil, err
	}
	if f.Interface != "" && !hasValue(names, f.Interface) {
		return nil, &InterfaceError{Name: f.Interface, NetNS: c.ns.Spec}
	}
	var col collector
	err = retryDump(func() error {
		col.reset()
		return c.conn.neighbors(f.Family.af(), func(m []byte) {
			e, ok := parseNeigh(m, c.hz)
			if !ok {
				return
			}
			e.Interface = names[e.IfIndex]
			if e.Interface == "" {
				e.Interface = fmt.Sprintf("if%d", e.IfIndex)
			}
			if f.Match(&e) {
				col.add(e)
			}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing neighbors: %w", err)
	}
	out := col.entries()
	SortEntries(out)
	return out, nil
}

// links maps interface index to interface.
func (c *Client) links() (map[int]link, error) {
	var links map[int]link
	err := retryDump(func() error {
		links = map[int]link{}
		return c.conn.links(func(m []byte) {
			if l, ok := parseLink(m); ok {
				links[l.index] = l
			}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	return links, nil
}

// linkNames maps interface index to name.
func (c *Client) linkNames() (map[int]string, error) {
	links, err := c.links()
	if err != nil {
		return nil, err
	}
	names := make(map[int]string, len(links))
	for i, l := range links {
		names[i] = l.name
	}
	return names, nil
}

// addrs maps interface index to the interface's addresses.
func (c *Client) addrs() (map[int][]netip.Prefix, error) {
	var addrs map[int][]netip.Prefix
	err := retryDump(func() error {
		addrs = map[int][]netip.Prefix{}
		return c.conn.addrs(func(m []byte) {
			if i, p, ok := parseAddr(m); ok {
				addrs[i] = append(addrs[i], p)
			}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	return addrs, nil
}

// collector gathers entries in chunks and copies them once into a slice
// of the exact size. Appending to one slice instead allocates about five
// times the final size on a large table, since append grows big slices by
// a quarter at a time.
type collector struct {
	chunks [][]Entry
	n      int
}

func (c *collector) reset() { c.chunks, c.n = c.chunks[:0], 0 }

func (c *collector) add(e Entry) {
	if k := len(c.chunks); k == 0 || len(c.chunks[k-1]) == cap(c.chunks[k-1]) {
		c.chunks = append(c.chunks, make([]Entry, 0, min(64<<k, 4096)))
	}
	last := &c.chunks[len(c.chunks)-1]
	*last = append(*last, e)
	c.n++
}

func (c *collector) entries() []Entry {
	out := make([]Entry, 0, c.n)
	for _, ch := range c.chunks {
		out = append(out, ch...)
	}
	return out
}

func hasValue(m map[int]string, v string) bool {
	for _, x := range m {
		if x == v {
			return true
		}
	}
	return false
}

// SortEntries orders entries by interface name, then numerically by IP
// (IPv4 before IPv6).
func SortEntries(es []Entry) {
	slices.SortFunc(es, func(a, b Entry) int { return compareEntries(&a, &b) })
}

func compareEntries(a, b *Entry) int {
	if c := strings.Compare(a.Interface, b.Interface); c != 0 {
		return c
	}
	return a.IP.Compare(b.IP)
}

// dumpRetries bounds how often a dump the kernel marked inconsistent is
// run again.
const dumpRetries = 5

// retryDump runs a dump again while the kernel says the table changed
// during it. A table that keeps changing faster than it can be read gets
// the last result, as ip(8) prints it after its "may be inconsistent"
// warning. dump must reset what it collects.
func retryDump(dump func() error) error {
	var err error
	for range dumpRetries {
		if err = dump(); !errors.Is(err, errDumpInterrupted) {
			return err
		}
	}
	return nil
}

// netlinkConn is the real conn.
type netlinkConn struct{ s *nlSocket }

func (c netlinkConn) links(f func([]byte)) error {
	return c.s.dump(unix.RTM_GETLINK, make([]byte, unix.SizeofIfInfomsg), unix.RTM_NEWLINK, f)
}

func (c netlinkConn) addrs(f func([]byte)) error {
	return c.s.dump(unix.RTM_GETADDR, make([]byte, 8), unix.RTM_NEWADDR, f) // struct ifaddrmsg
}

func (c netlinkConn) routes(body []byte, f func([]byte)) error {
	return c.s.dump(unix.RTM_GETROUTE, body, unix.RTM_NEWROUTE, f)
}

func (c netlinkConn) getRoute(body []byte, f func([]byte)) error {
	return c.s.exchange(unix.RTM_GETROUTE, unix.NLM_F_ACK, body, unix.RTM_NEWROUTE, f)
}

func (c netlinkConn) neighbors(family int, f func([]byte)) error {
	ndmsg := make([]byte, sizeofNdmsg)
	ndmsg[0] = byte(family)
	return c.s.dump(unix.RTM_GETNEIGH, ndmsg, unix.RTM_NEWNEIGH, f)
}

func (c netlinkConn) tables(f func([]byte)) error {
	return c.s.dump(unix.RTM_GETNEIGHTBL, make([]byte, sizeofNdtmsg), unix.RTM_NEWNEIGHTBL, f)
}

func (c netlinkConn) change(typ, flags uint16, msg []byte) error {
	return c.s.request(typ, flags, msg)
}

func (c netlinkConn) close() error { return c.s.close() }

// Interface is a network interface as the kernel reports it.
type Interface struct {
	Index int
	Name  string
	MAC   net.HardwareAddr
	// Flags are the IFF_* flags (unix.IFF_LOOPBACK, unix.IFF_NOARP, ...).
	Flags uint32
}

// Interfaces lists the interfaces of the client's namespace.
func (c *Client) Interfaces() ([]Interface, error) {
	links, err := c.links()
	if err != nil {
		return nil, err
	}
	out := make([]Interface, 0, len(links))
	for _, l := range links {
		out = append(out, Interface{Index: l.index, Name: l.name, MAC: l.mac, Flags: l.flags})
	}
	slices.SortFunc(out, func(a, b Interface) int { return a.Index - b.Index })
	return out, nil
}

// InterfaceByName looks an interface up in the client's namespace, over
// netlink. (The package net looks names up in a process-wide cache, which
// lookups inside other namespaces would fill with their names.)
func (c *Client) InterfaceByName(name string) (Interface, error) {
	links, err := c.links()
	if err != nil {
		return Interface{}, err
	}
	for _, l := range links {
		if l.name == name {
			return Interface{Index: l.index, Name: l.name, MAC: l.mac, Flags: l.flags}, nil
		}
	}
	return Interface{}, &InterfaceError{Name: name, NetNS: c.ns.Spec}
}
