package capture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcapgo"
)

// oracleFile reads a capture as FileSource did with pcapgo's readers,
// pcapng through ngGuard: the oracle the own readers are tested against.
type oracleFile struct {
	reader  gopacket.ZeroCopyPacketDataSource
	lt      LinkType
	guard   *ngGuard
	packets int
	err     error
}

// guardReader passes on the blocks ngGuard checked, as pcapgo's NgReader
// read them.
type guardReader struct {
	g   *ngGuard
	pos int
	err error
}

func (r *guardReader) Read(p []byte) (int, error) {
	for r.pos == len(r.g.buf) {
		if r.err != nil {
			return 0, r.err
		}
		r.pos = 0
		if r.err = r.g.next(); r.err != nil {
			r.g.buf = r.g.buf[:0]
			return 0, r.err
		}
	}
	n := copy(p, r.g.buf[r.pos:])
	r.pos += n
	return n, nil
}

func newOracleFile(data []byte) (*oracleFile, error) {
	return newOracleReader(bufio.NewReaderSize(bytes.NewReader(data), 1<<20), false)
}

func newOracleReader(br *bufio.Reader, gzipped bool) (*oracleFile, error) {
	head, err := br.Peek(pcapHeaderLen)
	if len(head) < 4 {
		if err == nil || err == io.EOF {
			return nil, ErrNotCapture
		}
		return nil, err
	}
	if binary.BigEndian.Uint16(head) == gzipMagic && !gzipped {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, err
		}
		return newOracleReader(bufio.NewReaderSize(zr, 1<<20), true)
	}
	s := &oracleFile{}
	switch {
	case binary.LittleEndian.Uint32(head) == ngSectionHeader:
		s.guard = newNgGuard(br)
		ng, err := pcapgo.NewNgReader(bufio.NewReaderSize(&guardReader{g: s.guard}, 64<<10), pcapgo.NgReaderOptions{})
		switch {
		case err == io.EOF:
			s.reader, s.lt = emptyOracle{}, LinkTypeEthernet
			return s, nil
		case err != nil:
			return nil, err
		}
		s.reader, s.lt = ng, s.guard.firstLinkType
	default:
		var order binary.ByteOrder
		switch {
		case isPcapMagic(binary.LittleEndian.Uint32(head)):
			order = binary.LittleEndian
		case isPcapMagic(binary.BigEndian.Uint32(head)):
			order = binary.BigEndian
		default:
			return nil, ErrNotCapture
		}
		if len(head) < pcapHeaderLen {
			return nil, io.ErrUnexpectedEOF
		}
		s.lt = LinkType(order.Uint32(head[20:24]) & 0x03ffffff)
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, err
		}
		pr.SetSnaplen(Snaplen)
		s.reader = pr
	}
	if err := CheckLinkType(s.lt); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *oracleFile) ReadPacketData() (data []byte, ci gopacket.CaptureInfo, err error) {
	if s.err != nil {
		return nil, ci, s.err
	}
	defer func() {
		if r := recover(); r != nil {
			data, err = nil, fmt.Errorf("the pcap reader failed: %v", r)
		}
		if err != nil {
			s.err = err
		}
	}()
	data, ci, err = s.reader.ZeroCopyReadPacketData()
	switch {
	case err == io.EOF && s.guard == nil && ci.CaptureLength > 0:
		return nil, ci, io.ErrUnexpectedEOF
	case err != nil:
		return nil, ci, err
	}
	s.packets++
	if ci.Length < ci.CaptureLength {
		ci.Length = ci.CaptureLength
	}
	return data, ci, nil
}

type emptyOracle struct{}

func (emptyOracle) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	return nil, gopacket.CaptureInfo{}, io.EOF
}

func (emptyOracle) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	return nil, gopacket.CaptureInfo{}, io.EOF
}
