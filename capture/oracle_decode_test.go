package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// oracleDecoder is the decoder as it was built on gopacket's layers, with
// a DecodingLayerParser: the oracle the own decoder is tested against,
// packet for packet.
type oracleDecoder struct {
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

func newOracleDecoder(lt LinkType) (*oracleDecoder, error) {
	if err := CheckLinkType(lt); err != nil {
		return nil, err
	}
	d := &oracleDecoder{decoded: make([]gopacket.LayerType, 0, 8)}
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

// decode fills e from data.
func (d *oracleDecoder) decode(data []byte, ts int64, e *event) decodeResult {
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
			e.flags = oracleTCPFlags(&d.tcp)
		case layers.LayerTypeARP:
			d.decodeARP(e)
		case layers.LayerTypeICMPv6NeighborSolicitation:
			e.what = eventNS
			e.ndTarget, _ = netip.AddrFromSlice(d.ns.TargetAddress)
			e.ndLinkAddr, e.hasNDLinkAddr = oracleNDLinkAddr(d.ns.Options, layers.ICMPv6OptSourceAddress)
		case layers.LayerTypeICMPv6NeighborAdvertisement:
			e.what = eventNA
			e.ndTarget, _ = netip.AddrFromSlice(d.na.TargetAddress)
			e.ndLinkAddr, e.hasNDLinkAddr = oracleNDLinkAddr(d.na.Options, layers.ICMPv6OptTargetAddress)
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
func (d *oracleDecoder) decodeARP(e *event) {
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

func oracleTCPFlags(t *layers.TCP) uint8 {
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

func oracleNDLinkAddr(opts layers.ICMPv6Options, typ layers.ICMPv6Opt) (mac, bool) {
	for _, o := range opts {
		if o.Type == typ {
			return macFrom(o.Data)
		}
	}
	return mac{}, false
}

// Decoding layers for what gopacket lacks. Their layer types are private
// numbers: they only ever meet the parser they are given to.
const (
	layerTypeLinuxSLL2 gopacket.LayerType = 1_000_276
	layerTypeRawIP     gopacket.LayerType = 1_000_101
)

// linuxSLL2 decodes the 20-byte Linux cooked header v2.
type linuxSLL2 struct {
	layers.BaseLayer
	Protocol   layers.EthernetType
	IfIndex    uint32
	PacketType layers.LinuxSLLPacketType
	// Addr is the link-layer source address: the sender's MAC for
	// packets received, the interface's own for packets sent.
	Addr []byte
}

func (s *linuxSLL2) CanDecode() gopacket.LayerClass    { return layerTypeLinuxSLL2 }
func (s *linuxSLL2) LayerType() gopacket.LayerType     { return layerTypeLinuxSLL2 }
func (s *linuxSLL2) NextLayerType() gopacket.LayerType { return s.Protocol.LayerType() }

func (s *linuxSLL2) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) < 20 {
		df.SetTruncated()
		return errors.New("Linux SLL2 header truncated")
	}
	s.Protocol = layers.EthernetType(binary.BigEndian.Uint16(data[0:2]))
	s.IfIndex = binary.BigEndian.Uint32(data[4:8])
	s.PacketType = layers.LinuxSLLPacketType(data[10])
	n := min(int(data[11]), 8)
	s.Addr = data[12 : 12+n]
	s.BaseLayer = layers.BaseLayer{Contents: data[:20], Payload: data[20:]}
	return nil
}

// rawIP is the empty link layer of raw IP captures: it only says which
// IP version follows.
type rawIP struct {
	layers.BaseLayer
	next gopacket.LayerType
}

func (r *rawIP) CanDecode() gopacket.LayerClass    { return layerTypeRawIP }
func (r *rawIP) LayerType() gopacket.LayerType     { return layerTypeRawIP }
func (r *rawIP) NextLayerType() gopacket.LayerType { return r.next }

func (r *rawIP) DecodeFromBytes(data []byte, df gopacket.DecodeFeedback) error {
	if len(data) == 0 {
		df.SetTruncated()
		return errors.New("empty raw IP packet")
	}
	switch data[0] >> 4 {
	case 4:
		r.next = layers.LayerTypeIPv4
	case 6:
		r.next = layers.LayerTypeIPv6
	default:
		return fmt.Errorf("raw IP packet of version %d", data[0]>>4)
	}
	r.BaseLayer = layers.BaseLayer{Payload: data}
	return nil
}
