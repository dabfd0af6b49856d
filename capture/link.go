package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// LinkType is a pcap link type (LINKTYPE_*). gopacket's layers.LinkType is
// eight bits wide and cannot hold LINKTYPE_LINUX_SLL2 (276), which is what
// `tcpdump -i any` writes.
type LinkType uint32

// The link types trace reads.
const (
	LinkTypeEthernet  LinkType = 1
	LinkTypeRaw       LinkType = 101
	LinkTypeLinuxSLL  LinkType = 113
	LinkTypeIPv4      LinkType = 228
	LinkTypeIPv6      LinkType = 229
	LinkTypeLinuxSLL2 LinkType = 276

	// DLT_RAW as some systems write it instead of LINKTYPE_RAW: 12 on
	// most BSDs, 14 on OpenBSD.
	linkTypeRawBSD     LinkType = 12
	linkTypeRawOpenBSD LinkType = 14
)

// Snaplen is the most of a packet that is kept, as tcpdump's default: the
// handshake needs only headers, but -w output should look like any other
// capture.
const Snaplen = 262144

// framing is how a link type frames the IP packet: where the protocol
// field and the network layer are, and which MACs it records.
type framing int

const (
	framingUnsupported framing = iota
	framingEthernet
	framingSLL
	framingSLL2
	framingRawIP
)

func framingOf(lt LinkType) framing {
	switch lt {
	case LinkTypeEthernet:
		return framingEthernet
	case LinkTypeLinuxSLL:
		return framingSLL
	case LinkTypeLinuxSLL2:
		return framingSLL2
	case LinkTypeRaw, linkTypeRawBSD, linkTypeRawOpenBSD, LinkTypeIPv4, LinkTypeIPv6:
		return framingRawIP
	}
	return framingUnsupported
}

// String names the link type as tcpdump does (EN10MB, LINUX_SLL2, RAW).
func (lt LinkType) String() string {
	switch lt {
	case LinkTypeEthernet:
		return "EN10MB"
	case LinkTypeLinuxSLL:
		return "LINUX_SLL"
	case LinkTypeLinuxSLL2:
		return "LINUX_SLL2"
	case LinkTypeRaw, linkTypeRawBSD, linkTypeRawOpenBSD:
		return "RAW"
	case LinkTypeIPv4:
		return "IPV4"
	case LinkTypeIPv6:
		return "IPV6"
	}
	if lt <= 0xff {
		if name := layers.LinkType(lt).String(); !strings.HasPrefix(name, "Unknown") {
			return fmt.Sprintf("%d (%s)", uint32(lt), name)
		}
	}
	return strconv.FormatUint(uint64(lt), 10)
}

// ErrUnsupportedLinkType is wrapped by the error for a capture whose link
// type the tracker cannot read.
var ErrUnsupportedLinkType = errors.New("unsupported link type")

// CheckLinkType says whether packets of link type lt can be traced.
func CheckLinkType(lt LinkType) error {
	if framingOf(lt) == framingUnsupported {
		return fmt.Errorf("%w %s: trace reads Ethernet, Linux cooked (SLL, SLL2) and raw IP captures", ErrUnsupportedLinkType, lt)
	}
	return nil
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
