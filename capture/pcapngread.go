package capture

import (
	"errors"
	"io"
	"time"

	"github.com/google/gopacket"
)

// ngReader reads the packets of a pcapng file from the blocks ngGuard
// passes on, as pcapgo's NgReader (default options) read them, failing
// where it failed: the packets of the link type of the file's first
// interface, of every section; interfaces of other link types are
// skipped. It does not link pcapgo, whose link-type tables cost every
// command start-up time and memory.
type ngReader struct {
	g *ngGuard
	// linkType is the link type of the first interface of the file, in
	// the eight bits pcapgo compared.
	linkType     uint8
	haveLinkType bool
	ifaces       []ngIface // of the current section
	// opt holds the value of the last option read: an empty option, or a
	// timestamp offset shorter than eight bytes, reads what an earlier
	// one left in it, as pcapgo's buffer did.
	opt []byte
}

// ngIface is what the reader keeps of an interface description.
type ngIface struct {
	linkType uint8
	snaplen  uint32
	// A timestamp is ts/secondMask seconds plus offset, and
	// ts%secondMask*scaleUp/scaleDown nanoseconds.
	secondMask, scaleUp, scaleDown, offset uint64
}

// ngOptionIfTSOffset is the interface option that shifts its timestamps.
const ngOptionIfTSOffset = 14

// errNoInterface is what newNgReader returns for a file whose first
// section describes no interface before it ends: it holds no packets.
var errNoInterface = errors.New("no interface description")

// newNgReader reads the section header and the first interface
// description from g.
func newNgReader(g *ngGuard) (*ngReader, error) {
	r := &ngReader{g: g, opt: make([]byte, 1024)}
	if err := g.next(); err != nil {
		if err == io.EOF {
			return nil, errNoInterface
		}
		return nil, err
	}
	if err := r.sectionHeader(); err != nil {
		if err == io.EOF {
			return nil, errNoInterface
		}
		return nil, err
	}
	return r, nil
}

func (r *ngReader) errorf(format string, args ...any) error {
	return r.g.errorf(format, args...)
}

// options walks the options of the block from offset from, keeping the
// value of each in r.opt, and calls f for each. ngGuard checked that they
// fit in the block.
func (r *ngReader) options(from int, f func(code uint16, value []byte)) error {
	b, order := r.g.buf, r.g.order
	for p := from; len(b)-p != 4; {
		code, n := order.Uint16(b[p:]), int(order.Uint16(b[p+2:]))
		p += 4
		if code == ngOptionEnd {
			if n != 0 {
				return r.errorf("end of options of %d bytes, not 0", n)
			}
			return nil
		}
		if n != 0 {
			if n < cap(r.opt) {
				r.opt = r.opt[:n]
			} else {
				r.opt = make([]byte, n)
			}
			copy(r.opt, b[p:p+n])
			p += (n + 3) &^ 3
		}
		f(code, r.opt)
	}
	return nil
}

// sectionHeader reads the section header in g.buf, then blocks up to the
// section's first interface description.
func (r *ngReader) sectionHeader() error {
	b, order := r.g.buf, r.g.order
	r.ifaces = r.ifaces[:0]
	if order.Uint16(b[12:14]) != 1 || order.Uint16(b[14:16]) != 0 {
		return r.errorf("unknown pcapng version %d.%d in the section header", order.Uint16(b[12:14]), order.Uint16(b[14:16]))
	}
	if err := r.options(24, func(uint16, []byte) {}); err != nil {
		return err
	}
	for {
		if err := r.g.next(); err != nil {
			return err
		}
		switch r.g.typ {
		case ngInterface:
			if err := r.interfaceDescription(); err != nil {
				return err
			}
			if !r.haveLinkType {
				r.linkType, r.haveLinkType = r.ifaces[0].linkType, true
				return nil
			}
			if r.ifaces[0].linkType == r.linkType {
				return nil
			}
			// A later section whose first interface has another link
			// type: its packets are not read, and the first packet
			// block, of this section or a later one, ends the file
			// with the error below.
		case ngObsoletePacket, ngEnhancedPacket, ngSimplePacket, ngInterfaceStats:
			return r.errorf("a packet block before any interface description")
		}
		// Any other block is skipped: a section header here too, but
		// for its byte order.
	}
}

func (r *ngReader) interfaceDescription() error {
	b, order := r.g.buf, r.g.order
	in := ngIface{linkType: uint8(order.Uint16(b[8:10])), snaplen: order.Uint32(b[12:16])}
	resol := uint8(0)
	if err := r.options(16, func(code uint16, v []byte) {
		switch code {
		case ngOptionIfTSResol:
			resol = v[0]
		case ngOptionIfTSOffset:
			in.offset = order.Uint64(v[:8])
		}
	}); err != nil {
		return err
	}
	if resol == 0 {
		resol = 6
	}
	if resol&0x80 != 0 {
		in.secondMask = 1 << (resol & 0x7f)
	} else {
		in.secondMask = 1
		for range resol {
			in.secondMask *= 10
		}
	}
	in.scaleUp, in.scaleDown = 1, 1
	if in.secondMask < 1e9 {
		in.scaleUp = 1e9 / in.secondMask
	} else {
		in.scaleDown = in.secondMask / 1e9
	}
	r.ifaces = append(r.ifaces, in)
	return nil
}

func (in *ngIface) time(ts uint64) time.Time {
	return time.Unix(int64(ts/in.secondMask+in.offset), int64(ts%in.secondMask*in.scaleUp/in.scaleDown)).UTC()
}

// read returns the next packet, valid until the next call.
func (r *ngReader) read() ([]byte, gopacket.CaptureInfo, error) {
	for {
		var ci gopacket.CaptureInfo
		if err := r.g.next(); err != nil {
			return nil, ci, err
		}
		b, order := r.g.buf, r.g.order
		var data []byte
		switch r.g.typ {
		case ngEnhancedPacket, ngObsoletePacket:
			if r.g.typ == ngEnhancedPacket {
				ci.InterfaceIndex = int(order.Uint32(b[8:12]))
			} else {
				ci.InterfaceIndex = int(order.Uint16(b[8:10]))
			}
			if ci.InterfaceIndex >= len(r.ifaces) {
				return nil, ci, r.errorf("packet of interface %d, but the section describes %d", ci.InterfaceIndex, len(r.ifaces))
			}
			ts := uint64(order.Uint32(b[12:16]))<<32 | uint64(order.Uint32(b[16:20]))
			ci.Timestamp = r.ifaces[ci.InterfaceIndex].time(ts)
			ci.CaptureLength = int(order.Uint32(b[20:24]))
			ci.Length = int(order.Uint32(b[24:28]))
			data = b[28 : 28+ci.CaptureLength]
		case ngSimplePacket:
			ci.Length = int(order.Uint32(b[8:12]))
			ci.CaptureLength = ci.Length
			if len(r.ifaces) == 0 {
				return nil, ci, r.errorf("packet before any interface description")
			}
			if s := r.ifaces[0].snaplen; s != 0 && uint32(ci.CaptureLength) > s {
				ci.CaptureLength = int(s)
			}
			data = b[12 : 12+ci.CaptureLength]
		case ngInterface:
			if err := r.interfaceDescription(); err != nil {
				return nil, ci, err
			}
			continue
		case ngInterfaceStats:
			if err := r.interfaceStatistics(); err != nil {
				return nil, ci, err
			}
			continue
		case ngSectionHeader:
			if err := r.sectionHeader(); err != nil {
				return nil, ci, err
			}
			continue
		default:
			continue
		}
		if r.ifaces[ci.InterfaceIndex].linkType != r.linkType {
			continue
		}
		return data, ci, nil
	}
}

// interfaceStatistics reads nothing the trace uses, but what is wrong
// with it.
func (r *ngReader) interfaceStatistics() error {
	if i := r.g.order.Uint32(r.g.buf[8:12]); i >= uint32(len(r.ifaces)) {
		return r.errorf("statistics of interface %d, but the section describes %d", i, len(r.ifaces))
	}
	return r.options(20, func(uint16, []byte) {})
}
