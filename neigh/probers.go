package neigh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

func probeError(ifname string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return &PrivilegeError{Op: "probing on " + ifname, Cap: CapNetRaw}
	}
	return fmt.Errorf("probing on %s: %w", ifname, err)
}

// openProber opens the prober for one family on one interface, inside
// the client's namespace: the socket stays there after Do returns.
func (c *Client) openProber(l link, family Family, addrs []netip.Prefix) (p prober, err error) {
	if c.newProber != nil {
		return c.newProber(l, family, addrs)
	}
	err = c.ns.Do(func() (err error) {
		if family == Inet6 {
			p, err = openNDP(l)
		} else {
			p, err = openARP(l, addrs)
		}
		return err
	})
	return p, err
}

// arpProber speaks ARP on one interface through an AF_PACKET socket.
type arpProber struct {
	f      *os.File
	rc     syscall.RawConn
	link   link
	addrs  []netip.Prefix
	ifaddr *unix.SockaddrLinklayer
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openARP opens the socket in the calling thread's namespace.
func openARP(l link, addrs []netip.Prefix) (prober, error) {
	if len(l.mac) != 6 {
		return nil, fmt.Errorf("%s has no Ethernet address", l.name)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return nil, err
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: l.index}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "arp")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	bcast := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: l.index, Halen: 6}
	copy(bcast.Addr[:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	return &arpProber{f: f, rc: rc, link: l, addrs: addrs, ifaddr: bcast}, nil
}

// source picks the interface's IPv4 address on the target's subnet, else
// its first one, else 0.0.0.0 (an ARP probe, which owners answer too).
func (p *arpProber) source(ip netip.Addr) netip.Addr {
	var first netip.Addr
	for _, a := range p.addrs {
		if !a.Addr().Is4() {
			continue
		}
		if a.Contains(ip) {
			return a.Addr()
		}
		if !first.IsValid() {
			first = a.Addr()
		}
	}
	if first.IsValid() {
		return first
	}
	return netip.IPv4Unspecified()
}

// send broadcasts an ARP request for ip.
func (p *arpProber) send(ip netip.Addr) error {
	var b [28]byte
	binary.BigEndian.PutUint16(b[0:], 1)             // Ethernet
	binary.BigEndian.PutUint16(b[2:], unix.ETH_P_IP) // IPv4
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], 1) // request
	copy(b[8:14], p.link.mac)
	src := p.source(ip).As4()
	copy(b[14:18], src[:])
	dst := ip.As4()
	copy(b[24:28], dst[:])
	var serr error
	err := p.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b[:], 0, p.ifaddr)
		return serr != unix.EAGAIN
	})
	if err != nil {
		return err
	}
	return serr
}

// answers reads ARP replies until the socket is closed.
func (p *arpProber) answers(out chan<- answer, done <-chan struct{}) {
	buf := make([]byte, 1500)
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := p.rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err != nil {
			return
		}
		if rerr != nil {
			continue
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if ip, mac, ok := parseARPReply(buf[:n]); ok {
			select {
			case out <- answer{ip, mac}:
			case <-done:
				return
			}
		}
	}
}

// parseARPReply reads an Ethernet/IPv4 ARP reply's sender.
func parseARPReply(b []byte) (netip.Addr, string, bool) {
	if len(b) < 28 || binary.BigEndian.Uint16(b[0:]) != 1 || binary.BigEndian.Uint16(b[2:]) != unix.ETH_P_IP ||
		b[4] != 6 || b[5] != 4 || binary.BigEndian.Uint16(b[6:]) != 2 {
		return netip.Addr{}, "", false
	}
	return netip.AddrFrom4([4]byte(b[14:18])), formatMAC(b[8:14]), true
}

func (p *arpProber) close() error { return p.f.Close() }

// ndpProber speaks NDP on one interface through an ICMPv6 socket.
type ndpProber struct {
	c    *ndp.Conn
	ifi  *net.Interface
	src  netip.Addr
	link link
}

// openNDP opens the socket in the calling thread's namespace. The source
// is the interface's link-local address, else a global one, else the
// unspecified address.
func openNDP(l link) (prober, error) {
	ifi, err := net.InterfaceByIndex(l.index)
	if err != nil {
		return nil, err
	}
	// The package net resolves a zone by name in a process-wide cache of
	// the interfaces it saw, which may be another namespace's: an eth0 in
	// here would be sent out of the host's eth0. A numeric zone is taken
	// as the index as it is.
	named := *ifi
	named.Name = strconv.Itoa(ifi.Index)
	ifi = &named
	var c *ndp.Conn
	var src netip.Addr
	for _, kind := range []ndp.Addr{ndp.LinkLocal, ndp.Global, ndp.UniqueLocal, ndp.Unspecified} {
		if c, src, err = ndp.Listen(ifi, kind); err == nil {
			break
		}
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	var filter ipv6.ICMPFilter
	filter.SetAll(true)
	filter.Accept(ipv6.ICMPTypeNeighborAdvertisement)
	if err := c.SetICMPFilter(&filter); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.SetControlMessage(ipv6.FlagInterface, true); err != nil {
		c.Close()
		return nil, err
	}
	return &ndpProber{c: c, ifi: ifi, src: src, link: l}, nil
}

// send multicasts a neighbor solicitation for ip to its solicited-node
// address.
func (p *ndpProber) send(ip netip.Addr) error {
	snm, err := ndp.SolicitedNodeMulticast(ip)
	if err != nil {
		return err
	}
	ns := &ndp.NeighborSolicitation{TargetAddress: ip}
	if !p.src.IsUnspecified() {
		ns.Options = []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: p.ifi.HardwareAddr}}
	}
	return p.c.WriteTo(ns, nil, snm)
}

// answers reads neighbor advertisements until the socket is closed. An
// advertisement names its sender's MAC in its target link-layer option.
func (p *ndpProber) answers(out chan<- answer, done <-chan struct{}) {
	for {
		msg, cm, _, err := p.c.ReadFrom()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		na, ok := msg.(*ndp.NeighborAdvertisement)
		if !ok || (cm != nil && cm.IfIndex != 0 && cm.IfIndex != p.ifi.Index) {
			continue
		}
		for _, o := range na.Options {
			if lla, ok := o.(*ndp.LinkLayerAddress); ok && lla.Direction == ndp.Target {
				select {
				case out <- answer{na.TargetAddress.WithZone(""), formatMAC(lla.Addr)}:
				case <-done:
					return
				}
			}
		}
	}
}

func (p *ndpProber) close() error { return p.c.Close() }
