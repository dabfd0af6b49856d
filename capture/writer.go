package capture

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcapgo"
)

// pcapWriter writes packets as a nanosecond pcap file that tcpdump and
// Wireshark open.
type pcapWriter struct {
	buf *bufio.Writer
	w   *pcapgo.Writer
	lt  LinkType
	tag []byte // scratch for frames that get their VLAN tag back
}

// newPcapWriter writes the file header. It is written here rather than
// by pcapgo, whose header takes an eight-bit link type.
func newPcapWriter(w io.Writer, lt LinkType) (*pcapWriter, error) {
	buf := bufio.NewWriterSize(w, 256<<10)
	var h [pcapHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagicNano)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], Snaplen)
	binary.LittleEndian.PutUint32(h[20:], uint32(lt))
	if _, err := buf.Write(h[:]); err != nil {
		return nil, fmt.Errorf("writing the pcap header: %w", err)
	}
	return &pcapWriter{buf: buf, w: pcapgo.NewWriterNanos(buf), lt: lt}, nil
}

// write writes one packet. A frame whose VLAN tag the kernel took off
// (live capture) gets it back, as libpcap does it.
func (p *pcapWriter) write(data []byte, ci gopacket.CaptureInfo) error {
	if len(ci.AncillaryData) > 0 && p.lt == LinkTypeEthernet && len(data) >= 12 {
		if tci, ok := ci.AncillaryData[0].(VLANTag); ok {
			p.tag = append(p.tag[:0], data[:12]...)
			p.tag = binary.BigEndian.AppendUint16(p.tag, etherTypeDot1Q)
			p.tag = binary.BigEndian.AppendUint16(p.tag, uint16(tci))
			p.tag = append(p.tag, data[12:]...)
			data = p.tag
			ci.Length += 4
		}
	}
	if len(data) > Snaplen {
		data = data[:Snaplen]
	}
	ci.CaptureLength = len(data)
	if ci.Length < ci.CaptureLength {
		ci.Length = ci.CaptureLength
	}
	ci.AncillaryData = nil
	if err := p.w.WritePacket(ci, data); err != nil {
		return fmt.Errorf("writing a packet: %w", err)
	}
	return nil
}

func (p *pcapWriter) flush() error {
	if err := p.buf.Flush(); err != nil {
		return fmt.Errorf("writing the capture: %w", err)
	}
	return nil
}
