package capture

import (
	"errors"
	"fmt"
	"strconv"
)

// LinkType is a pcap link type (LINKTYPE_*), 32 bits wide: it must hold
// LINKTYPE_LINUX_SLL2 (276), which is what `tcpdump -i any` writes.
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
	if name, ok := otherLinkTypes[lt]; ok {
		return fmt.Sprintf("%d (%s)", uint32(lt), name)
	}
	return strconv.FormatUint(uint64(lt), 10)
}

// otherLinkTypes names the link types trace does not read that captures
// commonly have, in the words gopacket used for them, so that the error
// for such a capture says what it is.
var otherLinkTypes = map[LinkType]string{
	0:   "Null",
	9:   "PPP",
	10:  "FDDI",
	105: "802.11",
	108: "Loop",
	117: "PFLog",
	119: "Prism",
	127: "RadioTap",
	220: "USB",
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
