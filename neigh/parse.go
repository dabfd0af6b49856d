package neigh

import (
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Sizes and attribute numbers from include/uapi/linux/neighbour.h.
const (
	sizeofNdmsg = 12 // struct ndmsg

	ndaDst       = 1
	ndaLLAddr    = 2
	ndaCacheinfo = 3
	ndaProbes    = 4
	ndaFlagsExt  = 15

	iflaAddress = 1
	iflaIfname  = 3

	ifaAddress = 1
	ifaLocal   = 2
)

// attrs walks the netlink attributes in b, calling f with each one's type
// (flags stripped) and value. It stops at the first malformed attribute.
func attrs(b []byte, f func(typ uint16, v []byte)) {
	for len(b) >= unix.SizeofRtAttr {
		l := int(binary.NativeEndian.Uint16(b))
		if l < unix.SizeofRtAttr || l > len(b) {
			return
		}
		f(binary.NativeEndian.Uint16(b[2:])&nlaTypeMask, b[unix.SizeofRtAttr:l])
		l = (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
		if l > len(b) {
			return
		}
		b = b[l:]
	}
}

// parseNeigh reads one RTM_NEWNEIGH payload (struct ndmsg and attributes).
// ok is false for what is not an IPv4 or IPv6 neighbor: bridge FDB
// entries, NHRP mappings, a malformed message. hz is USER_HZ, the unit of
// NDA_CACHEINFO's ages.
func parseNeigh(m []byte, hz int64) (e Entry, ok bool) {
	if len(m) < sizeofNdmsg {
		return Entry{}, false
	}
	switch m[0] {
	case unix.AF_INET:
		e.Family = Inet
	case unix.AF_INET6:
		e.Family = Inet6
	default:
		return Entry{}, false
	}
	e.IfIndex = int(int32(binary.NativeEndian.Uint32(m[4:])))
	e.State = State(binary.NativeEndian.Uint16(m[8:]))
	e.Flags = Flags(m[10])
	age := func(b []byte) Age {
		return Age(time.Duration(binary.NativeEndian.Uint32(b)) * time.Second / time.Duration(hz))
	}
	attrs(m[sizeofNdmsg:], func(typ uint16, v []byte) {
		switch typ {
		case ndaDst:
			if a, valid := netip.AddrFromSlice(v); valid {
				e.IP = a
			}
		case ndaLLAddr:
			e.MAC = formatMAC(v)
		case ndaCacheinfo:
			// struct nda_cacheinfo: confirmed, used, updated, refcnt.
			if len(v) >= 12 {
				e.ConfirmedAgo, e.UsedAgo, e.UpdatedAgo = age(v), age(v[4:]), age(v[8:])
			}
		case ndaProbes:
			e.Probes = u32(v)
		case ndaFlagsExt:
			e.Flags |= Flags(u32(v)) << flagExtShift
		}
	})
	if !e.IP.IsValid() || (e.Family == Inet) != e.IP.Is4() {
		return Entry{}, false
	}
	return e, true
}

// formatMAC writes a link-layer address as net.HardwareAddr.String does,
// in one allocation.
func formatMAC(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	const hex = "0123456789abcdef"
	buf := make([]byte, 0, len(b)*3-1)
	for i, c := range b {
		if i > 0 {
			buf = append(buf, ':')
		}
		buf = append(buf, hex[c>>4], hex[c&0xf])
	}
	return string(buf)
}

// link is what the package needs to know of an interface.
type link struct {
	index int
	name  string
	mac   net.HardwareAddr
	flags uint32 // IFF_*
}

// parseLink reads an RTM_NEWLINK payload's index, name and address.
func parseLink(m []byte) (l link, ok bool) {
	if len(m) < unix.SizeofIfInfomsg {
		return link{}, false
	}
	l.index = int(int32(binary.NativeEndian.Uint32(m[4:])))
	l.flags = binary.NativeEndian.Uint32(m[8:])
	attrs(m[unix.SizeofIfInfomsg:], func(typ uint16, v []byte) {
		switch typ {
		case iflaIfname:
			l.name = cString(v)
		case iflaAddress:
			l.mac = net.HardwareAddr(slices.Clone(v))
		}
	})
	return l, l.name != ""
}

// parseAddr reads an RTM_NEWADDR payload: the interface and its address
// with prefix length. IFA_LOCAL is the address itself where a
// point-to-point link puts the peer in IFA_ADDRESS.
func parseAddr(m []byte) (ifindex int, p netip.Prefix, ok bool) {
	const sizeofIfaddrmsg = 8
	if len(m) < sizeofIfaddrmsg {
		return 0, netip.Prefix{}, false
	}
	bits := int(m[1])
	ifindex = int(binary.NativeEndian.Uint32(m[4:]))
	var addr, local netip.Addr
	attrs(m[sizeofIfaddrmsg:], func(typ uint16, v []byte) {
		a, valid := netip.AddrFromSlice(v)
		if !valid {
			return
		}
		switch typ {
		case ifaAddress:
			addr = a
		case ifaLocal:
			local = a
		}
	})
	if local.IsValid() {
		addr = local
	}
	if !addr.IsValid() {
		return 0, netip.Prefix{}, false
	}
	return ifindex, netip.PrefixFrom(addr, bits), true
}

// cString reads a NUL-terminated string attribute.
func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// appendAttr appends one netlink attribute, padded to four bytes.
func appendAttr(b []byte, typ uint16, v []byte) []byte {
	l := unix.SizeofRtAttr + len(v)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, v...)
	for l%unix.RTA_ALIGNTO != 0 {
		b = append(b, 0)
		l++
	}
	return b
}

func putU32(b []byte, v uint32) { binary.NativeEndian.PutUint32(b, v) }
func putU16(b []byte, v uint16) { binary.NativeEndian.PutUint16(b, v) }
