// Package capturetest builds capture files for tests, as neightest builds
// networks: TCP segments, ARP and NDP messages in Ethernet frames (with a
// VLAN tag if wanted), written as pcap or pcapng of Ethernet, Linux
// cooked (SLL, SLL2) or raw IP link type.
//
// Tests should use documentation addresses (192.0.2.0/24,
// 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) and locally
// administered MACs (02:...).
package capturetest

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// T0 is when test captures begin.
var T0 = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// Link types a capture can be written as (LINKTYPE_* values).
const (
	LinkEthernet  uint32 = 1
	LinkRaw       uint32 = 101
	LinkLinuxSLL  uint32 = 113
	LinkLinuxSLL2 uint32 = 276
)

// ARP operations.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// Packet is one packet of a capture.
type Packet struct {
	CI   gopacket.CaptureInfo
	Data []byte
}

// Wire collects the packets of a test capture as Ethernet frames; the
// capture can then be written with another link type.
type Wire struct {
	t  testing.TB
	at time.Duration
	// VLAN tags every frame added after it is set, when not 0.
	VLAN uint16
	pkts []Packet
}

// New returns an empty capture whose clock is at T0.
func New(t testing.TB) *Wire { return &Wire{t: t} }

// After moves the capture's clock to d after T0, for the packets that
// follow.
func (w *Wire) After(d time.Duration) *Wire {
	w.at = d
	return w
}

func (w *Wire) mac(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		w.t.Fatal(err)
	}
	return m
}

func (w *Wire) addrPort(s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		w.t.Fatal(err)
	}
	return ap
}

// TCP adds a segment from src to dst ("ip:port" or "[ip6]:port") with
// flags such as "S", "SA", "A", "R", "RA", "FA", "PA", and payload bytes.
func (w *Wire) TCP(srcMAC, dstMAC, src, dst string, seq, ack uint32, flags string, payload int) *Wire {
	w.t.Helper()
	s, d := w.addrPort(src), w.addrPort(dst)
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(s.Port()), DstPort: layers.TCPPort(d.Port()),
		Seq: seq, Ack: ack, Window: 64240,
		SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"),
		RST: strings.Contains(flags, "R"), FIN: strings.Contains(flags, "F"),
		PSH: strings.Contains(flags, "P"),
	}
	if tcp.SYN {
		tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}}
	}
	var ip gopacket.NetworkLayer
	etype := layers.EthernetTypeIPv4
	if s.Addr().Is4() {
		ip = &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: s.Addr().AsSlice(), DstIP: d.Addr().AsSlice()}
	} else {
		etype = layers.EthernetTypeIPv6
		ip = &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: s.Addr().AsSlice(), DstIP: d.Addr().AsSlice()}
	}
	tcp.SetNetworkLayerForChecksum(ip)
	w.frame(srcMAC, dstMAC, etype, ip.(gopacket.SerializableLayer), tcp, gopacket.Payload(bytes.Repeat([]byte{'x'}, payload)))
	return w
}

// ARP adds an ARP request or reply in a frame from srcMAC to dstMAC; the
// sender's MAC is the frame's source. targetMAC may be "".
func (w *Wire) ARP(op uint16, srcMAC, dstMAC, senderIP, targetMAC, targetIP string) *Wire {
	w.t.Helper()
	tha := make(net.HardwareAddr, 6)
	if targetMAC != "" {
		tha = w.mac(targetMAC)
	}
	a := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: op,
		SourceHwAddress: w.mac(srcMAC), SourceProtAddress: netip.MustParseAddr(senderIP).AsSlice(),
		DstHwAddress: tha, DstProtAddress: netip.MustParseAddr(targetIP).AsSlice(),
	}
	w.frame(srcMAC, dstMAC, layers.EthernetTypeARP, a)
	return w
}

// NS adds a neighbor solicitation for target; with lladdr, a source
// link-layer address option.
func (w *Wire) NS(srcMAC, dstMAC, src, dst, target, lladdr string) *Wire {
	w.t.Helper()
	m := &layers.ICMPv6NeighborSolicitation{TargetAddress: netip.MustParseAddr(target).AsSlice()}
	if lladdr != "" {
		m.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptSourceAddress, Data: w.mac(lladdr)}}
	}
	return w.icmp6(srcMAC, dstMAC, src, dst, layers.ICMPv6TypeNeighborSolicitation, m)
}

// NA adds a solicited neighbor advertisement for target; with lladdr, a
// target link-layer address option.
func (w *Wire) NA(srcMAC, dstMAC, src, dst, target, lladdr string) *Wire {
	w.t.Helper()
	m := &layers.ICMPv6NeighborAdvertisement{Flags: 0x60, TargetAddress: netip.MustParseAddr(target).AsSlice()}
	if lladdr != "" {
		m.Options = layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: w.mac(lladdr)}}
	}
	return w.icmp6(srcMAC, dstMAC, src, dst, layers.ICMPv6TypeNeighborAdvertisement, m)
}

func (w *Wire) icmp6(srcMAC, dstMAC, src, dst string, typ uint8, body gopacket.SerializableLayer) *Wire {
	ip := &layers.IPv6{Version: 6, HopLimit: 255, NextHeader: layers.IPProtocolICMPv6,
		SrcIP: netip.MustParseAddr(src).AsSlice(), DstIP: netip.MustParseAddr(dst).AsSlice()}
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}
	icmp.SetNetworkLayerForChecksum(ip)
	w.frame(srcMAC, dstMAC, layers.EthernetTypeIPv6, ip, icmp, body)
	return w
}

// UDP adds an IPv4 datagram.
func (w *Wire) UDP(srcMAC, dstMAC, src, dst string, payload int) *Wire {
	w.t.Helper()
	s, d := w.addrPort(src), w.addrPort(dst)
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: s.Addr().AsSlice(), DstIP: d.Addr().AsSlice()}
	u := &layers.UDP{SrcPort: layers.UDPPort(s.Port()), DstPort: layers.UDPPort(d.Port())}
	u.SetNetworkLayerForChecksum(ip)
	w.frame(srcMAC, dstMAC, layers.EthernetTypeIPv4, ip, u, gopacket.Payload(make([]byte, payload)))
	return w
}

func (w *Wire) frame(srcMAC, dstMAC string, etype layers.EthernetType, ls ...gopacket.SerializableLayer) {
	w.t.Helper()
	eth := &layers.Ethernet{SrcMAC: w.mac(srcMAC), DstMAC: w.mac(dstMAC), EthernetType: etype}
	all := []gopacket.SerializableLayer{eth}
	if w.VLAN != 0 {
		eth.EthernetType = layers.EthernetTypeDot1Q
		all = append(all, &layers.Dot1Q{VLANIdentifier: w.VLAN, Type: etype})
	}
	all = append(all, ls...)
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, all...); err != nil {
		w.t.Fatalf("building a packet: %v", err)
	}
	data := append([]byte(nil), buf.Bytes()...)
	w.pkts = append(w.pkts, Packet{
		CI:   gopacket.CaptureInfo{Timestamp: T0.Add(w.at), CaptureLength: len(data), Length: len(data)},
		Data: data,
	})
}

// Packets returns the capture's packets framed for link type lt.
func (w *Wire) Packets(lt uint32) []Packet {
	out := make([]Packet, len(w.pkts))
	for i, p := range w.pkts {
		out[i] = Packet{CI: p.CI, Data: w.reframe(p.Data, lt)}
		out[i].CI.CaptureLength = len(out[i].Data)
		out[i].CI.Length = len(out[i].Data)
	}
	return out
}

// Pcap returns the capture as a nanosecond pcap file of link type lt.
func (w *Wire) Pcap(lt uint32) []byte {
	var b bytes.Buffer
	// The header is written here: pcapgo's takes an eight-bit link type.
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b23c4d)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 262144)
	binary.LittleEndian.PutUint32(h[20:], lt)
	b.Write(h[:])
	pw := pcapgo.NewWriterNanos(&b)
	for _, p := range w.Packets(lt) {
		if err := pw.WritePacket(p.CI, p.Data); err != nil {
			w.t.Fatal(err)
		}
	}
	return b.Bytes()
}

// Pcapng returns the capture as an Ethernet pcapng file.
func (w *Wire) Pcapng() []byte {
	var b bytes.Buffer
	nw, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, p := range w.Packets(LinkEthernet) {
		if err := nw.WritePacket(p.CI, p.Data); err != nil {
			w.t.Fatal(err)
		}
	}
	if err := nw.Flush(); err != nil {
		w.t.Fatal(err)
	}
	return b.Bytes()
}

// reframe turns an Ethernet frame into one of link type lt. Cooked
// captures keep the source MAC only; raw IP keeps no link layer.
func (w *Wire) reframe(eth []byte, lt uint32) []byte {
	src := eth[6:12]
	l3 := eth[14:]
	etype := binary.BigEndian.Uint16(eth[12:14])
	switch lt {
	case LinkEthernet:
		return eth
	case LinkLinuxSLL:
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[2:], 1) // ARPHRD_ETHER
		binary.BigEndian.PutUint16(h[4:], 6)
		copy(h[6:], src)
		binary.BigEndian.PutUint16(h[14:], etype)
		return append(h, l3...)
	case LinkLinuxSLL2:
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], etype)
		binary.BigEndian.PutUint32(h[4:], 2) // ifindex
		binary.BigEndian.PutUint16(h[8:], 1) // ARPHRD_ETHER
		h[11] = 6
		copy(h[12:], src)
		return append(h, l3...)
	case LinkRaw:
		if etype == uint16(layers.EthernetTypeDot1Q) {
			return append([]byte(nil), eth[18:]...)
		}
		return append([]byte(nil), l3...)
	}
	w.t.Fatalf("no framing for link type %d", lt)
	return nil
}
