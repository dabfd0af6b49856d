package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/google/gopacket"
)

// pcapReader reads the records of a classic pcap file. It reads them as
// pcapgo's Reader did, failing where it failed, without linking the package
// (its link-type tables cost every command start-up time and memory).
type pcapReader struct {
	r     *bufio.Reader
	order binary.ByteOrder
	// nanoFactor turns the fraction of a second into nanoseconds: 1000
	// for microsecond files, 1 for nanosecond ones.
	nanoFactor uint32
	buf        []byte // for a packet larger than r's buffer
}

// newPcapReader reads the file header from r, whose first bytes were
// seen to be a pcap magic of byte order order.
func newPcapReader(r *bufio.Reader, order binary.ByteOrder) (*pcapReader, error) {
	var h [pcapHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	p := &pcapReader{r: r, order: order, nanoFactor: 1000}
	if order.Uint32(h[0:4]) == pcapMagicNano {
		p.nanoFactor = 1
	}
	if v := order.Uint16(h[4:6]); v != 2 {
		return nil, fmt.Errorf("unknown major version %d", v)
	}
	if v := order.Uint16(h[6:8]); v != 4 {
		return nil, fmt.Errorf("unknown minor version %d", v)
	}
	return p, nil
}

// read returns the next packet, valid until the next call. A record
// header cut short ends with io.ErrUnexpectedEOF, data cut short with
// io.EOF or io.ErrUnexpectedEOF and ci.CaptureLength set, as io.ReadFull
// would end them.
func (p *pcapReader) read() (data []byte, ci gopacket.CaptureInfo, err error) {
	h, err := p.next(pcapRecordHeadLen)
	if err != nil {
		return nil, ci, err
	}
	// The fraction is scaled in 32 bits, as pcapgo did: a bogus
	// microsecond count wraps rather than overflowing into seconds.
	ci.Timestamp = time.Unix(int64(p.order.Uint32(h[0:4])), int64(p.order.Uint32(h[4:8])*p.nanoFactor)).UTC()
	ci.CaptureLength = int(p.order.Uint32(h[8:12]))
	ci.Length = int(p.order.Uint32(h[12:16]))
	// As libpcap does, take packets longer than the header's snap length,
	// up to the most any tool writes; beyond that a length is bogus.
	if ci.CaptureLength > Snaplen {
		return nil, ci, fmt.Errorf("capture length exceeds snap length: %d > %d", ci.CaptureLength, Snaplen)
	}
	if ci.CaptureLength > ci.Length {
		return nil, ci, fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	}
	data, err = p.next(ci.CaptureLength)
	return data, ci, err
}

// next returns the next n bytes: in the reader's buffer when they fit,
// which they do unless it is smaller than Snaplen.
func (p *pcapReader) next(n int) ([]byte, error) {
	if n > p.r.Size() {
		if cap(p.buf) < n {
			p.buf = make([]byte, n)
		}
		_, err := io.ReadFull(p.r, p.buf[:n])
		return p.buf[:n], err
	}
	b, err := p.r.Peek(n)
	if len(b) < n {
		if err == io.EOF && len(b) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	p.r.Discard(n)
	return b, nil
}
