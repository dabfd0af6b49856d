package capture

import (
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// event is what the tracker takes from one packet, copied out of the
// packet's buffer (which the source reuses).
type event struct {
	ts int64 // capture time, Unix nanoseconds

	srcMAC, dstMAC       mac
	hasSrcMAC, hasDstMAC bool

	what eventKind

	// IP addresses: of the TCP segment, or of the IPv6 packet carrying NDP.
	src, dst netip.Addr

	// TCP.
	srcPort, dstPort uint16
	seq, ack         uint32
	flags            uint8

	// ARP.
	arpOp              uint16
	senderMAC          mac
	senderIP, targetIP netip.Addr

	// NDP: the target, and the source or target link-layer address option.
	ndTarget      netip.Addr
	ndLinkAddr    mac
	hasNDLinkAddr bool
}

type eventKind uint8

const (
	eventNone eventKind = iota
	eventTCP
	eventARP
	eventNS // neighbor solicitation
	eventNA // neighbor advertisement
)

// decoder decodes the packets of one link type with a DecodingLayerParser
// into layers allocated once: a tenth of the cost of gopacket.NewPacket.
type decoder struct {
	eth   layers.Ethernet
	dot1q layers.Dot1Q
	sll   layers.LinuxSLL
	sll2  linuxSLL2
	raw   rawIP
	ip4   layers.IPv4
	ip6   layers.IPv6
	tcp   layers.TCP
	arp   layers.ARP
	icmp6 layers.ICMPv6
	ns    layers.ICMPv6NeighborSolicitation
	na    layers.ICMPv6NeighborAdvertisement

	parser  *gopacket.DecodingLayerParser
	decoded []gopacket.LayerType
}

func newDecoder(lt LinkType) (*decoder, error) {
	if err := CheckLinkType(lt); err != nil {
		return nil, err
	}
	d := &decoder{decoded: make([]gopacket.LayerType, 0, 8)}
	var first gopacket.LayerType
	switch framingOf(lt) {
	case framingEthernet:
		first = layers.LayerTypeEthernet
	case framingSLL:
		first = layers.LayerTypeLinuxSLL
	case framingSLL2:
		first = layerTypeLinuxSLL2
	case framingRawIP:
		first = layerTypeRawIP
	}
	d.parser = gopacket.NewDecodingLayerParser(first)
	d.parser.SetDecodingLayerContainer(gopacket.DecodingLayerArray(nil))
	for _, l := range []gopacket.DecodingLayer{
		&d.eth, &d.dot1q, &d.sll, &d.sll2, &d.raw, &d.ip4, &d.ip6,
		&d.tcp, &d.arp, &d.icmp6, &d.ns, &d.na,
	} {
		d.parser.AddDecodingLayer(l)
	}
	// Layers past the ones above (payloads, other protocols) end the
	// decoding without an error; what was decoded says what the packet is.
	d.parser.IgnoreUnsupported = true
	return d, nil
}

type decodeResult int

const (
	decodeOK      decodeResult = iota // a TCP segment, ARP, NS or NA
	decodeIgnored                     // well formed, but nothing the tracker follows
	decodeFailed                      // malformed or truncated
)

// decode fills e from data.
func (d *decoder) decode(data []byte, ts int64, e *event) decodeResult {
	*e = event{ts: ts}
	err := d.parser.DecodeLayers(data, &d.decoded)
	for _, t := range d.decoded {
		switch t {
		case layers.LayerTypeEthernet:
			e.srcMAC, e.hasSrcMAC = macFrom(d.eth.SrcMAC)
			e.dstMAC, e.hasDstMAC = macFrom(d.eth.DstMAC)
		case layers.LayerTypeLinuxSLL:
			if d.sll.AddrType == 1 { // ARPHRD_ETHER
				e.srcMAC, e.hasSrcMAC = macFrom(d.sll.Addr)
			}
		case layerTypeLinuxSLL2:
			e.srcMAC, e.hasSrcMAC = macFrom(d.sll2.Addr)
		case layers.LayerTypeIPv4:
			e.src, _ = netip.AddrFromSlice(d.ip4.SrcIP)
			e.dst, _ = netip.AddrFromSlice(d.ip4.DstIP)
		case layers.LayerTypeIPv6:
			e.src, _ = netip.AddrFromSlice(d.ip6.SrcIP)
			e.dst, _ = netip.AddrFromSlice(d.ip6.DstIP)
		case layers.LayerTypeTCP:
			e.what = eventTCP
			e.srcPort, e.dstPort = uint16(d.tcp.SrcPort), uint16(d.tcp.DstPort)
			e.seq, e.ack = d.tcp.Seq, d.tcp.Ack
			e.flags = tcpFlags(&d.tcp)
		case layers.LayerTypeARP:
			d.decodeARP(e)
		case layers.LayerTypeICMPv6NeighborSolicitation:
			e.what = eventNS
			e.ndTarget, _ = netip.AddrFromSlice(d.ns.TargetAddress)
			e.ndLinkAddr, e.hasNDLinkAddr = ndLinkAddr(d.ns.Options, layers.ICMPv6OptSourceAddress)
		case layers.LayerTypeICMPv6NeighborAdvertisement:
			e.what = eventNA
			e.ndTarget, _ = netip.AddrFromSlice(d.na.TargetAddress)
			e.ndLinkAddr, e.hasNDLinkAddr = ndLinkAddr(d.na.Options, layers.ICMPv6OptTargetAddress)
		}
	}
	switch {
	case err != nil:
		return decodeFailed
	case e.what == eventNone:
		return decodeIgnored
	case e.what != eventARP && !(e.src.IsValid() && e.dst.IsValid()):
		return decodeFailed
	}
	return decodeOK
}

// decodeARP takes ARP for IPv4 over Ethernet, the only kind there is on
// the links traced.
func (d *decoder) decodeARP(e *event) {
	a := &d.arp
	if a.AddrType != layers.LinkTypeEthernet || a.Protocol != layers.EthernetTypeIPv4 ||
		a.HwAddressSize != 6 || a.ProtAddressSize != 4 {
		return
	}
	e.what = eventARP
	e.arpOp = a.Operation
	e.senderMAC, _ = macFrom(a.SourceHwAddress)
	e.senderIP, _ = netip.AddrFromSlice(a.SourceProtAddress)
	e.targetIP, _ = netip.AddrFromSlice(a.DstProtAddress)
}

func tcpFlags(t *layers.TCP) uint8 {
	var f uint8
	if t.FIN {
		f |= tcpFIN
	}
	if t.SYN {
		f |= tcpSYN
	}
	if t.RST {
		f |= tcpRST
	}
	if t.ACK {
		f |= tcpACK
	}
	return f
}

func ndLinkAddr(opts layers.ICMPv6Options, typ layers.ICMPv6Opt) (mac, bool) {
	for _, o := range opts {
		if o.Type == typ {
			return macFrom(o.Data)
		}
	}
	return mac{}, false
}
