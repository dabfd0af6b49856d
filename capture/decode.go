package capture

import (
	"encoding/binary"
	"net/netip"
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

// decoder decodes the packets of one link type into events, without
// allocating. It reads the headers as gopacket's layers did when they
// decoded them (the tests hold it to that, packet for packet), so that a
// packet counts as undecodable, ignored or traced as before; only the
// fields the tracker uses are read.
type decoder struct {
	first layer
}

// layer is a header the decoder reads; layerNone ends the decoding
// without an error, as an unsupported or absent next header does.
type layer uint8

const (
	layerNone layer = iota
	layerEthernet
	layerDot1Q
	layerSLL
	layerSLL2
	layerRawIP
	layerIPv4
	layerIPv6
	layerTCP
	layerARP
	layerICMPv6
	layerNS
	layerNA
)

func newDecoder(lt LinkType) (*decoder, error) {
	if err := CheckLinkType(lt); err != nil {
		return nil, err
	}
	d := &decoder{}
	switch framingOf(lt) {
	case framingEthernet:
		d.first = layerEthernet
	case framingSLL:
		d.first = layerSLL
	case framingSLL2:
		d.first = layerSLL2
	case framingRawIP:
		d.first = layerRawIP
	}
	return d, nil
}

type decodeResult int

const (
	decodeOK      decodeResult = iota // a TCP segment, ARP, NS or NA
	decodeIgnored                     // well formed, but nothing the tracker follows
	decodeFailed                      // malformed or truncated
)

// Protocol numbers the decoder follows, beside the filter's.
const (
	etherTypeTEB        = 0x6558 // transparent Ethernet bridging: Ethernet again
	protoHopByHop       = 0
	protoIPIP           = 4
	protoIPv6           = 41
	protoIPIPOld        = 94
	ndOptSourceLinkAddr = 1
	ndOptTargetLinkAddr = 2
	ip6OptJumbo         = 0xc2
	arpHardwareEthernet = 1
)

// afterEtherType is the header an EtherType announces. An EtherType below
// 0x0600 is an 802.3 length: LLC follows, which the tracker does not read.
func afterEtherType(et uint16) layer {
	switch et {
	case etherTypeIPv4:
		return layerIPv4
	case etherTypeIPv6:
		return layerIPv6
	case etherTypeARP:
		return layerARP
	case etherTypeDot1Q, etherTypeQinQ:
		return layerDot1Q
	case etherTypeTEB:
		return layerEthernet
	}
	return layerNone
}

// afterIP is the header an IP protocol number announces.
func afterIP(proto uint8) layer {
	switch proto {
	case protoIPIP, protoIPIPOld:
		return layerIPv4
	case protoIPv6:
		return layerIPv6
	case protoTCP:
		return layerTCP
	case protoICMPv6:
		return layerICMPv6
	}
	return layerNone
}

// decode fills e from data. Headers are read one after the other, each
// from the payload of the one before, until one announces what the
// tracker does not read or leaves nothing; the last header of a kind
// (tunnels) is the one whose addresses count.
func (d *decoder) decode(data []byte, ts int64, e *event) decodeResult {
	*e = event{ts: ts}
	for next := d.first; ; {
		var ok bool
		if data, next, ok = d.layer(next, data, e); !ok {
			return decodeFailed
		}
		if next == layerNone || len(data) == 0 {
			break
		}
	}
	switch {
	case e.what == eventNone:
		return decodeIgnored
	case e.what != eventARP && !(e.src.IsValid() && e.dst.IsValid()):
		return decodeFailed
	}
	return decodeOK
}

// layer reads one header of kind l from data into e, and returns its
// payload and what follows; ok is false when the header is malformed or
// cut short.
func (d *decoder) layer(l layer, data []byte, e *event) (payload []byte, next layer, ok bool) {
	switch l {
	case layerEthernet:
		if len(data) < 14 {
			return nil, layerNone, false
		}
		copy(e.dstMAC[:], data[0:6])
		copy(e.srcMAC[:], data[6:12])
		e.hasDstMAC, e.hasSrcMAC = true, true
		et := binary.BigEndian.Uint16(data[12:14])
		if et < 0x0600 {
			return data[14:], layerNone, true
		}
		return data[14:], afterEtherType(et), true
	case layerDot1Q:
		if len(data) < 4 {
			return nil, layerNone, false
		}
		return data[4:], afterEtherType(binary.BigEndian.Uint16(data[2:4])), true
	case layerSLL:
		return decodeSLL(data, e)
	case layerSLL2:
		if len(data) < 20 {
			return nil, layerNone, false
		}
		n := min(int(data[11]), 8)
		e.srcMAC, e.hasSrcMAC = macFrom(data[12 : 12+n])
		return data[20:], afterEtherType(binary.BigEndian.Uint16(data[0:2])), true
	case layerRawIP:
		if len(data) == 0 {
			return nil, layerNone, false
		}
		switch data[0] >> 4 {
		case 4:
			return data, layerIPv4, true
		case 6:
			return data, layerIPv6, true
		}
		return nil, layerNone, false
	case layerIPv4:
		return decodeIPv4(data, e)
	case layerIPv6:
		return decodeIPv6(data, e)
	case layerTCP:
		return decodeTCP(data, e)
	case layerARP:
		return decodeARP(data, e)
	case layerICMPv6:
		if len(data) < 4 {
			return nil, layerNone, false
		}
		switch data[0] {
		case icmpv6NeighborSolicitation:
			return data[4:], layerNS, true
		case icmpv6NeighborAdvertisement:
			return data[4:], layerNA, true
		}
		return data[4:], layerNone, true
	case layerNS:
		return decodeND(data, e, eventNS, ndOptSourceLinkAddr)
	case layerNA:
		return decodeND(data, e, eventNA, ndOptTargetLinkAddr)
	}
	return nil, layerNone, true
}

// decodeSLL reads the 16-byte Linux cooked header. Its address length
// counts the whole address (20 bytes for InfiniBand), of which at most 8
// are there: only one of 6 makes a MAC.
func decodeSLL(data []byte, e *event) ([]byte, layer, bool) {
	if len(data) < 16 {
		return nil, layerNone, false
	}
	addrType := binary.BigEndian.Uint16(data[2:4])
	// The address's end in sixteen bits, as gopacket computed it: one
	// that wraps made it fail.
	end := binary.BigEndian.Uint16(data[4:6]) + 6
	if end < 6 {
		return nil, layerNone, false
	}
	if addrType == arpHardwareEthernet && end == 12 {
		e.srcMAC, e.hasSrcMAC = macFrom(data[6:12])
	}
	return data[16:], afterEtherType(binary.BigEndian.Uint16(data[14:16])), true
}

func decodeIPv4(data []byte, e *event) ([]byte, layer, bool) {
	if len(data) < 20 {
		return nil, layerNone, false
	}
	ihl := int(data[0] & 0x0f)
	length := binary.BigEndian.Uint16(data[2:4])
	flagsFrag := binary.BigEndian.Uint16(data[6:8])
	proto := data[9]
	e.src = netip.AddrFrom4([4]byte(data[12:16]))
	e.dst = netip.AddrFrom4([4]byte(data[16:20]))
	if length == 0 {
		// TCP segmentation offload leaves the length zero: the packet
		// is as long as what was captured.
		length = uint16(len(data))
	}
	if length < 20 || ihl < 5 || ihl*4 > int(length) {
		return nil, layerNone, false
	}
	if len(data) > int(length) {
		data = data[:length]
	} else if ihl*4 > len(data) {
		return nil, layerNone, false
	}
	for opts := data[20 : ihl*4]; len(opts) > 0; {
		switch opts[0] {
		case 0: // end of options
			opts = nil
		case 1: // no-operation
			opts = opts[1:]
		default:
			if len(opts) < 2 || len(opts) < int(opts[1]) || opts[1] <= 2 {
				return nil, layerNone, false
			}
			opts = opts[opts[1]:]
		}
	}
	payload := data[ihl*4:]
	if flagsFrag&0x2000 != 0 || flagsFrag&0x1fff != 0 {
		return payload, layerNone, true // a fragment
	}
	return payload, afterIP(proto), true
}

// decodeIPv6 reads the fixed header, and a hop-by-hop options header
// after it as part of it (a jumbogram's length is there).
func decodeIPv6(data []byte, e *event) ([]byte, layer, bool) {
	if len(data) < 40 {
		return nil, layerNone, false
	}
	length := int(binary.BigEndian.Uint16(data[4:6]))
	next := data[6]
	e.src = netip.AddrFrom16([16]byte(data[8:24]))
	e.dst = netip.AddrFrom16([16]byte(data[24:40]))
	payload := data[40:]
	if next == protoHopByHop {
		if len(payload) < 2 {
			return nil, layerNone, false
		}
		next = payload[0]
		hdrLen := int(payload[1])*8 + 8
		if len(payload) < hdrLen {
			return nil, layerNone, false
		}
		var jumbo []byte
		haveJumbo := false
		for off := 2; off < hdrLen; {
			opt := payload[off:] // an option may run past the header: so it was read
			if len(opt) < 2 {
				return nil, layerNone, false
			}
			if opt[0] == 0 { // Pad1
				off++
				continue
			}
			n := int(opt[1]) + 2
			if len(opt) < n {
				return nil, layerNone, false
			}
			if opt[0] == ip6OptJumbo && !haveJumbo {
				jumbo, haveJumbo = opt[2:n], true
			}
			off += n
		}
		if haveJumbo {
			if len(jumbo) != 4 {
				return nil, layerNone, false
			}
			jl := binary.BigEndian.Uint32(jumbo)
			if jl <= 0xffff || length != 0 {
				return nil, layerNone, false
			}
			// The payload of a jumbogram starts at the hop-by-hop
			// header, as gopacket left it.
			return payload[:min(int(jl), len(payload))], afterIP(next), true
		}
		if length == 0 {
			return nil, layerNone, false
		}
		payload = payload[hdrLen:]
	}
	if length == 0 {
		return nil, layerNone, false
	}
	return payload[:min(length, len(payload))], afterIP(next), true
}

func decodeTCP(data []byte, e *event) ([]byte, layer, bool) {
	if len(data) < 20 {
		return nil, layerNone, false
	}
	off := int(data[12]>>4) * 4
	if off < 20 || off > len(data) {
		return nil, layerNone, false
	}
	for opts := data[20:off]; len(opts) > 0; {
		switch opts[0] {
		case 0: // end of options
			opts = nil
		case 1: // no-operation
			opts = opts[1:]
		default:
			if len(opts) < 2 || opts[1] < 2 || int(opts[1]) > len(opts) {
				return nil, layerNone, false
			}
			opts = opts[opts[1]:]
		}
	}
	e.what = eventTCP
	e.srcPort = binary.BigEndian.Uint16(data[0:2])
	e.dstPort = binary.BigEndian.Uint16(data[2:4])
	e.seq = binary.BigEndian.Uint32(data[4:8])
	e.ack = binary.BigEndian.Uint32(data[8:12])
	e.flags = data[13] & (tcpFIN | tcpSYN | tcpRST | tcpACK)
	return nil, layerNone, true
}

// decodeARP takes ARP for IPv4 over Ethernet, the only kind there is on
// the links traced; other ARP is well formed but ignored.
func decodeARP(data []byte, e *event) ([]byte, layer, bool) {
	if len(data) < 8 {
		return nil, layerNone, false
	}
	hw, pr := data[4], data[5]
	// The offsets of the four addresses, in eight bits as gopacket
	// computed them: sizes whose sum wraps made it fail.
	a, b, c, end := 8+hw, 8+hw+pr, 8+2*hw+pr, 8+2*hw+2*pr
	if len(data) < int(end) || a < 8 || b < a || c < b || end < c {
		return nil, layerNone, false
	}
	// The hardware type was read into eight bits: its low byte decides.
	if data[1] != arpHardwareEthernet || binary.BigEndian.Uint16(data[2:4]) != etherTypeIPv4 || hw != 6 || pr != 4 {
		return nil, layerNone, true
	}
	e.what = eventARP
	e.arpOp = binary.BigEndian.Uint16(data[6:8])
	copy(e.senderMAC[:], data[8:14])
	e.senderIP = netip.AddrFrom4([4]byte(data[14:18]))
	e.targetIP = netip.AddrFrom4([4]byte(data[24:28]))
	return nil, layerNone, true
}

// decodeND reads a neighbor solicitation or advertisement (after the
// ICMPv6 header) and the first link-layer address option of type opt.
func decodeND(data []byte, e *event, what eventKind, opt byte) ([]byte, layer, bool) {
	if len(data) < 20 {
		return nil, layerNone, false
	}
	e.what = what
	e.ndTarget = netip.AddrFrom16([16]byte(data[4:20]))
	found := false
	for opts := data[20:]; len(opts) > 0; {
		if len(opts) < 2 {
			return nil, layerNone, false
		}
		n := int(opts[1]) * 8
		if n == 0 || len(opts) < n {
			return nil, layerNone, false
		}
		if opts[0] == opt && !found {
			e.ndLinkAddr, e.hasNDLinkAddr = macFrom(opts[2:n])
			found = true
		}
		opts = opts[n:]
	}
	return nil, layerNone, true
}
