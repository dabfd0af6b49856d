package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"golang.org/x/net/bpf"
)

// Filter selects the packets the tracker needs: TCP segments with SYN,
// RST or FIN set, TCP segments that carry no payload (the handshake's final
// ACK is one), ARP, and ICMPv6 neighbor solicitations and advertisements;
// over IPv4 and IPv6, with or without one VLAN tag. Segments that carry
// data are what a busy link is made of, and the tracker never needs them.
//
// The same selection exists twice: as a BPF program the kernel runs for a
// live capture, so that data segments are dropped before they are copied
// to user space, and as Match, which does in Go what the program does, for
// capture files. The tests hold the two to the same answers.
//
// Not kept: TCP in IPv4 fragments after the first, and TCP or NDP behind
// IPv6 extension headers.
type Filter struct {
	// Ports keeps only TCP segments from or to one of these ports; ARP and
	// NDP pass whatever the ports. None keeps every port.
	Ports []uint16
	// Hosts keeps only packets from, to or about an address in one of
	// these prefixes: TCP by source or destination, ARP by sender or
	// target address, NDP by source, destination or target address. None
	// keeps every host.
	Hosts []netip.Prefix
}

// MaxFilterTerms bounds Ports and Hosts each, so that the kernel program
// stays small.
const MaxFilterTerms = 16

// Validate checks the filter's size and prefixes.
func (f Filter) Validate() error {
	if len(f.Ports) > MaxFilterTerms {
		return fmt.Errorf("too many ports (%d, at most %d)", len(f.Ports), MaxFilterTerms)
	}
	if len(f.Hosts) > MaxFilterTerms {
		return fmt.Errorf("too many hosts (%d, at most %d)", len(f.Hosts), MaxFilterTerms)
	}
	for _, p := range f.Hosts {
		if !p.IsValid() {
			return fmt.Errorf("invalid host prefix %v", p)
		}
	}
	return nil
}

// EtherTypes, IP protocols and ICMPv6 types the filter looks at.
const (
	etherTypeIPv4  = 0x0800
	etherTypeARP   = 0x0806
	etherTypeIPv6  = 0x86dd
	etherTypeDot1Q = 0x8100
	etherTypeQinQ  = 0x88a8

	protoTCP    = 6
	protoICMPv6 = 58

	icmpv6NeighborSolicitation  = 135
	icmpv6NeighborAdvertisement = 136

	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// Program returns the filter as a classic BPF program for packets of link
// type lt; it returns Snaplen for a packet to keep and 0 for one to drop.
func (f Filter) Program(lt LinkType) ([]bpf.Instruction, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	a := &bpfAsm{}
	drop, keep := a.label(), a.label()
	g := bpfGen{f: f, a: a, drop: drop, keep: keep}
	switch framingOf(lt) {
	case framingEthernet:
		g.link(12, 14)
	case framingSLL:
		g.link(14, 16)
	case framingSLL2:
		g.link(0, 20)
	case framingRawIP:
		v4, v6 := a.label(), a.label()
		a.emit(
			bpf.LoadAbsolute{Off: 0, Size: 1},
			bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
		)
		a.branch(bpf.JumpEqual, 4, v4)
		a.branch(bpf.JumpEqual, 6, v6)
		a.goTo(drop)
		a.mark(v4)
		g.ipv4(0)
		a.mark(v6)
		g.ipv6(0)
	default:
		return nil, CheckLinkType(lt)
	}
	a.mark(drop)
	a.emit(bpf.RetConstant{Val: 0})
	a.mark(keep)
	a.emit(bpf.RetConstant{Val: Snaplen})
	return a.assemble()
}

// bpfGen writes the program; each part ends by jumping to keep or drop.
type bpfGen struct {
	f          Filter
	a          *bpfAsm
	drop, keep asmLabel
}

// link dispatches on the protocol field at typeOff, for a network layer
// at l3; a VLAN tag moves both by four bytes.
func (g bpfGen) link(typeOff, l3 uint32) {
	a := g.a
	tagged := a.label()
	a.emit(bpf.LoadAbsolute{Off: typeOff, Size: 2})
	a.branch(bpf.JumpEqual, etherTypeDot1Q, tagged)
	a.branch(bpf.JumpEqual, etherTypeQinQ, tagged)
	g.etherType(l3)
	a.mark(tagged)
	a.emit(bpf.LoadAbsolute{Off: l3 + 2, Size: 2})
	g.etherType(l3 + 4)
}

// etherType dispatches on the EtherType in A.
func (g bpfGen) etherType(l3 uint32) {
	a := g.a
	arp, v4, v6 := a.label(), a.label(), a.label()
	a.branch(bpf.JumpEqual, etherTypeARP, arp)
	a.branch(bpf.JumpEqual, etherTypeIPv4, v4)
	a.branch(bpf.JumpEqual, etherTypeIPv6, v6)
	a.goTo(g.drop)
	a.mark(arp)
	g.arp(l3)
	a.mark(v4)
	g.ipv4(l3)
	a.mark(v6)
	g.ipv6(l3)
}

func (g bpfGen) arp(l3 uint32) {
	if len(g.f.Hosts) == 0 {
		g.a.goTo(g.keep)
		return
	}
	// Sender and target protocol addresses of ARP for IPv4 over Ethernet.
	g.hosts(false, g.keep, l3+14, l3+24)
	g.a.goTo(g.drop)
}

func (g bpfGen) ipv4(l3 uint32) {
	a := g.a
	a.emit(bpf.LoadAbsolute{Off: l3 + 9, Size: 1})
	a.branch(bpf.JumpNotEqual, protoTCP, g.drop)
	a.emit(bpf.LoadAbsolute{Off: l3 + 6, Size: 2})
	a.branch(bpf.JumpBitsSet, 0x1fff, g.drop)
	if len(g.f.Hosts) > 0 {
		ok := a.label()
		g.hosts(false, ok, l3+12, l3+16)
		a.goTo(g.drop)
		a.mark(ok)
	}
	a.emit(bpf.LoadMemShift{Off: l3}) // X = IP header length
	g.tcp(l3, true, bpf.LoadAbsolute{Off: l3 + 2, Size: 2})
}

func (g bpfGen) ipv6(l3 uint32) {
	a := g.a
	tcp, icmp, nd := a.label(), a.label(), a.label()
	a.emit(bpf.LoadAbsolute{Off: l3 + 6, Size: 1})
	a.branch(bpf.JumpEqual, protoTCP, tcp)
	a.branch(bpf.JumpEqual, protoICMPv6, icmp)
	a.goTo(g.drop)

	a.mark(icmp)
	a.emit(bpf.LoadAbsolute{Off: l3 + 40, Size: 1})
	a.branch(bpf.JumpEqual, icmpv6NeighborSolicitation, nd)
	a.branch(bpf.JumpEqual, icmpv6NeighborAdvertisement, nd)
	a.goTo(g.drop)
	a.mark(nd)
	if len(g.f.Hosts) == 0 {
		a.goTo(g.keep)
	} else {
		g.hosts(true, g.keep, l3+8, l3+24, l3+48)
		a.goTo(g.drop)
	}

	a.mark(tcp)
	if len(g.f.Hosts) > 0 {
		ok := a.label()
		g.hosts(true, ok, l3+8, l3+24)
		a.goTo(g.drop)
		a.mark(ok)
	}
	a.emit(bpf.LoadConstant{Dst: bpf.RegX, Val: 40})
	g.tcp(l3, false, bpf.LoadAbsolute{Off: l3 + 4, Size: 2})
}

// tcp checks the segment at l3+X: ports, then flags, then whether it
// carries payload. ipLen loads the IP length field: IPv4's total length
// counts the IP header (so X is subtracted too), IPv6's payload length
// does not.
func (g bpfGen) tcp(l3 uint32, v4 bool, ipLen bpf.Instruction) {
	a := g.a
	if len(g.f.Ports) > 0 {
		ok := a.label()
		for _, p := range g.f.Ports {
			a.emit(bpf.LoadIndirect{Off: l3, Size: 2})
			a.branch(bpf.JumpEqual, uint32(p), ok)
			a.emit(bpf.LoadIndirect{Off: l3 + 2, Size: 2})
			a.branch(bpf.JumpEqual, uint32(p), ok)
		}
		a.goTo(g.drop)
		a.mark(ok)
	}
	a.emit(bpf.LoadIndirect{Off: l3 + 13, Size: 1})
	a.branch(bpf.JumpBitsSet, tcpSYN|tcpRST|tcpFIN, g.keep)
	// Payload = IP length - (IP header) - TCP header.
	a.emit(
		bpf.LoadIndirect{Off: l3 + 12, Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 2},
	)
	if v4 {
		a.emit(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	}
	a.emit(bpf.TAX{}, ipLen, bpf.ALUOpX{Op: bpf.ALUOpSub})
	a.branch(bpf.JumpEqual, 0, g.keep)
	a.goTo(g.drop)
}

// hosts jumps to match when the address at any of offs lies in one of the
// filter's prefixes of the family; it falls through otherwise.
func (g bpfGen) hosts(v6 bool, match asmLabel, offs ...uint32) {
	for _, p := range g.f.Hosts {
		if p.Addr().Is6() != v6 {
			continue
		}
		for _, off := range offs {
			g.prefix(p, off, match)
		}
	}
}

// prefix compares the address at off with p, 32 bits at a time.
func (g bpfGen) prefix(p netip.Prefix, off uint32, match asmLabel) {
	a := g.a
	words := prefixWords(p)
	if len(words) == 0 {
		a.goTo(match)
		return
	}
	miss := a.label()
	for i, w := range words {
		a.emit(bpf.LoadAbsolute{Off: off + uint32(4*i), Size: 4})
		if w.mask != 0xffffffff {
			a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: w.mask})
		}
		if i < len(words)-1 {
			a.jump(bpf.JumpEqual, w.value, next, miss)
		} else {
			a.branch(bpf.JumpEqual, w.value, match)
		}
	}
	a.mark(miss)
}

type prefixWord struct{ value, mask uint32 }

// prefixWords splits a prefix into the 32-bit words it constrains.
func prefixWords(p netip.Prefix) []prefixWord {
	b := p.Masked().Addr().AsSlice()
	bits := p.Bits()
	var out []prefixWord
	for i := 0; bits > 0; i++ {
		n := min(bits, 32)
		mask := uint32(0xffffffff) << (32 - n)
		out = append(out, prefixWord{value: binary.BigEndian.Uint32(b[4*i:]) & mask, mask: mask})
		bits -= n
	}
	return out
}

// Match reports whether the filter keeps data, a packet of link type lt.
// It does what Program's BPF does, step for step: a load beyond the end of
// the packet drops it, as it ends a BPF program.
func (f *Filter) Match(lt LinkType, data []byte) bool {
	return f.match(lt, data) != dropped
}

// What match says of a packet: dropped, kept as a TCP segment (its flags,
// 0 to 0xff), or kept as ARP or NDP.
const (
	dropped  = -1
	neighbor = -2
)

func (f *Filter) match(lt LinkType, data []byte) int {
	p := packetBytes(data)
	var typeOff, l3 int
	switch framingOf(lt) {
	case framingEthernet:
		typeOff, l3 = 12, 14
	case framingSLL:
		typeOff, l3 = 14, 16
	case framingSLL2:
		typeOff, l3 = 0, 20
	case framingRawIP:
		v, ok := p.u8(0)
		switch {
		case !ok:
			return dropped
		case v>>4 == 4:
			return f.matchIPv4(p, 0)
		case v>>4 == 6:
			return f.matchIPv6(p, 0)
		}
		return dropped
	default:
		return dropped
	}
	et, ok := p.u16(typeOff)
	if !ok {
		return dropped
	}
	if et == etherTypeDot1Q || et == etherTypeQinQ {
		if et, ok = p.u16(l3 + 2); !ok {
			return dropped
		}
		l3 += 4
	}
	switch et {
	case etherTypeARP:
		if len(f.Hosts) == 0 {
			return neighbor
		}
		if m, ok := f.matchHosts(p, false, l3+14, l3+24); ok && m {
			return neighbor
		}
		return dropped
	case etherTypeIPv4:
		return f.matchIPv4(p, l3)
	case etherTypeIPv6:
		return f.matchIPv6(p, l3)
	}
	return dropped
}

func (f *Filter) matchIPv4(p packetBytes, l3 int) int {
	proto, ok := p.u8(l3 + 9)
	if !ok || proto != protoTCP {
		return dropped
	}
	frag, ok := p.u16(l3 + 6)
	if !ok || frag&0x1fff != 0 {
		return dropped
	}
	if len(f.Hosts) > 0 {
		if m, ok := f.matchHosts(p, false, l3+12, l3+16); !ok || !m {
			return dropped
		}
	}
	vihl, ok := p.u8(l3)
	if !ok {
		return dropped
	}
	ihl := int(vihl&0x0f) * 4
	return f.matchTCP(p, l3, ihl, l3+2, true)
}

func (f *Filter) matchIPv6(p packetBytes, l3 int) int {
	nh, ok := p.u8(l3 + 6)
	if !ok {
		return dropped
	}
	switch nh {
	case protoTCP:
		if len(f.Hosts) > 0 {
			if m, ok := f.matchHosts(p, true, l3+8, l3+24); !ok || !m {
				return dropped
			}
		}
		return f.matchTCP(p, l3, 40, l3+4, false)
	case protoICMPv6:
		t, ok := p.u8(l3 + 40)
		if !ok || (t != icmpv6NeighborSolicitation && t != icmpv6NeighborAdvertisement) {
			return dropped
		}
		if len(f.Hosts) == 0 {
			return neighbor
		}
		if m, ok := f.matchHosts(p, true, l3+8, l3+24, l3+48); ok && m {
			return neighbor
		}
	}
	return dropped
}

// matchTCP mirrors bpfGen.tcp with X = x, and returns the flags of a
// segment it keeps.
func (f *Filter) matchTCP(p packetBytes, l3, x, ipLenOff int, v4 bool) int {
	if len(f.Ports) > 0 {
		found := false
		for _, port := range f.Ports {
			src, ok := p.u16(x + l3)
			if !ok {
				return dropped
			}
			if src == port {
				found = true
				break
			}
			dst, ok := p.u16(x + l3 + 2)
			if !ok {
				return dropped
			}
			if dst == port {
				found = true
				break
			}
		}
		if !found {
			return dropped
		}
	}
	flags, ok := p.u8(x + l3 + 13)
	if !ok {
		return dropped
	}
	if flags&(tcpSYN|tcpRST|tcpFIN) != 0 {
		return int(flags)
	}
	off, ok := p.u8(x + l3 + 12)
	if !ok {
		return dropped
	}
	headers := uint32(off&0xf0) >> 2
	if v4 {
		headers += uint32(x)
	}
	if ipLen, ok := p.u16(ipLenOff); !ok || uint32(ipLen)-headers != 0 {
		return dropped
	}
	return int(flags)
}

// matchHosts mirrors bpfGen.hosts; ok is false when a load fell beyond the
// packet, which ends the BPF program.
func (f *Filter) matchHosts(p packetBytes, v6 bool, offs ...int) (match, ok bool) {
	for _, pfx := range f.Hosts {
		if pfx.Addr().Is6() != v6 {
			continue
		}
		for _, off := range offs {
			m, ok := matchPrefix(p, pfx, off)
			if !ok {
				return false, false
			}
			if m {
				return true, true
			}
		}
	}
	return false, true
}

func matchPrefix(p packetBytes, pfx netip.Prefix, off int) (match, ok bool) {
	a := pfx.Addr().As16()
	addr := a[:]
	if pfx.Addr().Is4() {
		addr = addr[12:]
	}
	bits := pfx.Bits()
	for i := 0; bits > 0; i++ {
		n := min(bits, 32)
		mask := uint32(0xffffffff) << (32 - n)
		w, ok := p.u32(off + 4*i)
		if !ok {
			return false, false
		}
		if w&mask != binary.BigEndian.Uint32(addr[4*i:])&mask {
			return false, true
		}
		bits -= n
	}
	return true, true
}

// packetBytes loads big-endian fields as BPF does, failing beyond the end.
type packetBytes []byte

func (p packetBytes) u8(off int) (uint8, bool) {
	if off < 0 || off >= len(p) {
		return 0, false
	}
	return p[off], true
}

func (p packetBytes) u16(off int) (uint16, bool) {
	if off < 0 || off+2 > len(p) {
		return 0, false
	}
	return binary.BigEndian.Uint16(p[off:]), true
}

func (p packetBytes) u32(off int) (uint32, bool) {
	if off < 0 || off+4 > len(p) {
		return 0, false
	}
	return binary.BigEndian.Uint32(p[off:]), true
}
