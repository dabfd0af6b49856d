package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// pcapng block types that ngReader reads.
const (
	ngSectionHeader          = 0x0A0D0D0A
	ngInterface              = 1
	ngObsoletePacket         = 2
	ngSimplePacket           = 3
	ngInterfaceStats         = 5
	ngEnhancedPacket         = 6
	ngByteOrderMagic  uint32 = 0x1A2B3C4D
	ngOptionEnd              = 0
	ngOptionIfTSResol        = 9
	ngMaxBlock               = 16 << 20
	// ngMaxInterfaces bounds the interfaces of one section: ngReader
	// keeps every description it reads, and real captures have a few.
	ngMaxInterfaces      = 4096
	ngBlockOverhead      = 12 // type, length, trailing length
	ngEnhancedPacketHead = 28 // type, length, interface, timestamp, lengths
)

// ngGuard reads a pcapng file block by block, each whole and checked
// before ngReader interprets it: a bogus captured length would make it
// allocate gigabytes, an overlong option skip the rest of the file without
// a word, a bogus timestamp resolution divide by zero, and a file that
// ends inside a block must not read as a clean end. Such a file ends with
// an error that says where.
type ngGuard struct {
	r         *bufio.Reader
	order     binary.ByteOrder
	off       int64  // where the next block starts
	blockOff  int64  // where the block in buf starts
	typ       uint32 // the type of the block in buf
	buf       []byte
	head      [12]byte
	linkTypes []LinkType // interfaces of the current section
	snap0     uint32     // snap length of the section's first interface, as ngReader sees it
	// firstLinkType is the link type of the first interface of the file,
	// whose packets are read (those of other link types are skipped).
	firstLinkType LinkType
	haveLinkType  bool
}

func newNgGuard(r *bufio.Reader) *ngGuard {
	return &ngGuard{r: r, order: binary.LittleEndian}
}

// ngError is a block that makes no sense, and where it starts.
type ngError struct {
	offset int64
	err    error
}

func (e *ngError) Error() string { return e.err.Error() }
func (e *ngError) Unwrap() error { return e.err }

func (g *ngGuard) errorf(format string, args ...any) error {
	return &ngError{offset: g.blockOff, err: fmt.Errorf(format, args...)}
}

// next reads and checks one block into buf.
func (g *ngGuard) next() error {
	g.blockOff = g.off
	g.buf = g.buf[:0]
	head := g.head[:]
	if _, err := io.ReadFull(g.r, head[:8]); err != nil {
		if err == io.EOF {
			return io.EOF
		}
		return g.errorf("the file ends inside a block header (a capture cut short): %w", io.ErrUnexpectedEOF)
	}
	typ := binary.LittleEndian.Uint32(head[0:4]) // the section header's type reads the same either way
	if typ == ngSectionHeader {
		if _, err := io.ReadFull(g.r, head[8:12]); err != nil {
			return g.errorf("the file ends inside a section header: %w", io.ErrUnexpectedEOF)
		}
		switch ngByteOrderMagic {
		case binary.LittleEndian.Uint32(head[8:12]):
			g.order = binary.LittleEndian
		case binary.BigEndian.Uint32(head[8:12]):
			g.order = binary.BigEndian
		default:
			return g.errorf("section header with a bad byte-order magic %#x", binary.LittleEndian.Uint32(head[8:12]))
		}
	} else {
		typ = g.order.Uint32(head[0:4])
	}
	length := g.order.Uint32(head[4:8])
	switch {
	case length < ngBlockOverhead || length%4 != 0:
		return g.errorf("block of type %#x has a bad length %d", typ, length)
	case length > ngMaxBlock:
		return g.errorf("block of type %#x claims %d bytes (more than %d)", typ, length, ngMaxBlock)
	}
	if cap(g.buf) < int(length) {
		g.buf = make([]byte, length)
	}
	g.buf = g.buf[:length]
	start := 8
	if typ == ngSectionHeader {
		start = 12
	}
	copy(g.buf, head[:start])
	if _, err := io.ReadFull(g.r, g.buf[start:]); err != nil {
		return g.errorf("the file ends inside a block of %d bytes (a capture cut short): %w", length, io.ErrUnexpectedEOF)
	}
	if trail := g.order.Uint32(g.buf[length-4:]); trail != length {
		return g.errorf("block of type %#x ends with length %d, not %d", typ, trail, length)
	}
	g.typ = typ
	if err := g.check(typ, g.buf); err != nil {
		return err
	}
	g.off += int64(length)
	return nil
}

// check applies what ngReader needs to be true of each block it reads.
func (g *ngGuard) check(typ uint32, b []byte) error {
	n := uint32(len(b))
	body := n - 4 // where options end
	switch typ {
	case ngSectionHeader:
		if n < 28 {
			return g.errorf("section header of %d bytes is too short", n)
		}
		g.linkTypes = g.linkTypes[:0]
		return g.checkOptions(b, 24, body, false)
	case ngInterface:
		if n < 20 {
			return g.errorf("interface description of %d bytes is too short", n)
		}
		if len(g.linkTypes) >= ngMaxInterfaces {
			return g.errorf("more than %d interface descriptions in one section", ngMaxInterfaces)
		}
		lt := LinkType(g.order.Uint16(b[8:10]))
		// A snap length larger than any capture tool writes means "no
		// limit": ngReader then does not cut simple packets to it.
		if g.order.Uint32(b[12:16]) > Snaplen {
			g.order.PutUint32(b[12:16], 0)
		}
		if len(g.linkTypes) == 0 {
			g.snap0 = g.order.Uint32(b[12:16])
		}
		g.linkTypes = append(g.linkTypes, lt)
		if !g.haveLinkType {
			g.firstLinkType, g.haveLinkType = lt, true
		}
		return g.checkOptions(b, 16, body, true)
	case ngEnhancedPacket, ngObsoletePacket:
		if n < 32 {
			return g.errorf("packet block of %d bytes is too short", n)
		}
		var iface uint32
		if typ == ngEnhancedPacket {
			iface = g.order.Uint32(b[8:12])
		} else {
			iface = uint32(g.order.Uint16(b[8:10]))
		}
		if iface >= uint32(len(g.linkTypes)) {
			return g.errorf("packet of interface %d, but the section describes %d", iface, len(g.linkTypes))
		}
		if caplen := g.order.Uint32(b[20:24]); caplen > n-32 || caplen > Snaplen {
			return g.errorf("packet block of %d bytes claims %d captured bytes", n, caplen)
		}
	case ngSimplePacket:
		if n < 16 {
			return g.errorf("simple packet block of %d bytes is too short", n)
		}
		if len(g.linkTypes) == 0 {
			return g.errorf("packet before any interface description")
		}
		caplen := g.order.Uint32(b[8:12])
		if g.snap0 != 0 {
			caplen = min(caplen, g.snap0)
		}
		if caplen > n-16 || caplen > Snaplen {
			return g.errorf("simple packet block of %d bytes claims %d captured bytes", n, caplen)
		}
	case ngInterfaceStats:
		if n < 24 {
			return g.errorf("interface statistics of %d bytes is too short", n)
		}
		return g.checkOptions(b, 20, body, false)
	}
	return nil
}

// checkOptions walks the options in b[from:to]: each must fit in the
// block. ngReader reuses the previous option's value for an empty one, so
// an empty or bogus timestamp resolution would divide by zero.
func (g *ngGuard) checkOptions(b []byte, from, to uint32, iface bool) error {
	for p := from; p+4 <= to; {
		code := g.order.Uint16(b[p:])
		olen := uint32(g.order.Uint16(b[p+2:]))
		if code == ngOptionEnd {
			return nil
		}
		padded := (olen + 3) &^ 3
		if p+4+padded > to {
			return g.errorf("option %d of %d bytes overruns its block", code, olen)
		}
		if iface && code == ngOptionIfTSResol {
			if olen == 0 {
				return g.errorf("empty timestamp resolution option")
			}
			r := b[p+4]
			if (r&0x80 != 0 && r&0x7f >= 64) || (r&0x80 == 0 && r > 19) {
				return g.errorf("timestamp resolution %#x cannot be represented", r)
			}
		}
		p += 4 + padded
	}
	return nil
}
