package capture

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// ngBlock builds a little-endian pcapng block around body.
func ngBlock(typ uint32, body []byte) []byte {
	n := 12 + len(body)
	b := binary.LittleEndian.AppendUint32(nil, typ)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, uint32(n))
}

func ngSHB() []byte {
	body := binary.LittleEndian.AppendUint32(nil, ngByteOrderMagic)
	body = binary.LittleEndian.AppendUint16(body, 1)
	body = binary.LittleEndian.AppendUint16(body, 0)
	body = binary.LittleEndian.AppendUint64(body, ^uint64(0))
	return ngBlock(ngSectionHeader, body)
}

func ngIDB(snaplen uint32, options []byte) []byte {
	body := binary.LittleEndian.AppendUint16(nil, uint16(LinkTypeEthernet))
	body = binary.LittleEndian.AppendUint16(body, 0)
	body = binary.LittleEndian.AppendUint32(body, snaplen)
	return ngBlock(ngInterface, append(body, options...))
}

func ngEPB(iface uint32, caplen uint32, data []byte) []byte {
	ts := uint64(t0.UnixMicro())
	body := binary.LittleEndian.AppendUint32(nil, iface)
	body = binary.LittleEndian.AppendUint32(body, uint32(ts>>32))
	body = binary.LittleEndian.AppendUint32(body, uint32(ts))
	body = binary.LittleEndian.AppendUint32(body, caplen)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(data)))
	body = append(body, data...)
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	return ngBlock(ngEnhancedPacket, body)
}

func ngOption(code uint16, value []byte) []byte {
	o := binary.LittleEndian.AppendUint16(nil, code)
	o = binary.LittleEndian.AppendUint16(o, uint16(len(value)))
	o = append(o, value...)
	for len(o)%4 != 0 {
		o = append(o, 0)
	}
	return o
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// A pcapng file that lies about lengths or resolutions ends with an error
// that says which packet and where, never a crash, a silent skip or an
// allocation of what the file claims.
func TestPcapngGuard(t *testing.T) {
	w := newWire(t)
	w.tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:80", 1, 0, "S", 0)
	syn := w.packets(LinkTypeEthernet)[0].data
	good := ngEPB(0, uint32(len(syn)), syn)
	shb, idb := ngSHB(), ngIDB(65535, nil)
	idbEnd := int64(len(shb) + len(idb))
	manyIDBs := cat(shb, bytes.Repeat(idb, ngMaxInterfaces+1), good)
	shbV2 := ngSHB()
	shbV2[12] = 2
	isb5 := ngBlock(ngInterfaceStats, []byte{5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	idbSLL := ngIDB(65535, nil)
	idbSLL[8] = byte(LinkTypeLinuxSLL)
	badTrailer := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(badTrailer[len(badTrailer)-4:], 8)
	for _, tc := range []struct {
		name    string
		file    []byte
		packets int
		want    string
	}{
		{"good", cat(shb, idb, good, good), 2, ""},
		{"huge snap length", cat(shb, ngIDB(0xffffffff, nil), good), 1, ""},
		{"captured length beyond its block", cat(shb, idb, good, ngEPB(0, 1<<30, syn)), 1,
			"x.pcapng: packet 2 at offset " + itoa(int(idbEnd)+len(good)) + ": packet block of " + itoa(len(good)) + " bytes claims 1073741824 captured bytes"},
		{"timestamp resolution that divides by zero", cat(shb, ngIDB(65535, ngOption(ngOptionIfTSResol, []byte{0x80 | 70})), good), 0,
			"x.pcapng: packet 1 at offset 28: timestamp resolution 0xc6 cannot be represented"},
		{"empty timestamp resolution", cat(shb, ngIDB(65535, ngOption(ngOptionIfTSResol, nil)), good), 0,
			"x.pcapng: packet 1 at offset 28: empty timestamp resolution option"},
		{"option overrunning its block", cat(shb, ngIDB(65535, []byte{2, 0, 100, 0}), good), 0,
			"x.pcapng: packet 1 at offset 28: option 2 of 100 bytes overruns its block"},
		{"trailing length", cat(shb, idb, badTrailer), 0,
			"x.pcapng: packet 1 at offset " + itoa(int(idbEnd)) + ": block of type 0x6 ends with length 8, not " + itoa(len(good))},
		{"unknown interface", cat(shb, idb, ngEPB(3, uint32(len(syn)), syn)), 0,
			"x.pcapng: packet 1 at offset " + itoa(int(idbEnd)) + ": packet of interface 3, but the section describes 1"},
		{"cut short", cat(shb, idb, good, good[:50]), 1,
			"x.pcapng: packet 2 at offset " + itoa(int(idbEnd)+len(good)) + ": the file ends inside a block of " + itoa(len(good)) + " bytes (a capture cut short): unexpected EOF"},
		{"too many interfaces", manyIDBs, 0,
			"x.pcapng: packet 1 at offset " + itoa(len(shb)+ngMaxInterfaces*len(idb)) + ": more than 4096 interface descriptions in one section"},
		{"as many interfaces as allowed", cat(shb, bytes.Repeat(idb, ngMaxInterfaces), good), 1, ""},
		{"length not a multiple of 4", cat(shb, idb, ngBlock(0x99, []byte{1, 2, 3})), 0,
			"x.pcapng: packet 1 at offset " + itoa(int(idbEnd)) + ": block of type 0x99 has a bad length 15"},
		{"unknown version", cat(shbV2, idb, good), 0,
			"x.pcapng: packet 1 at offset 0: unknown pcapng version 2.0 in the section header"},
		{"statistics of an unknown interface", cat(shb, idb, good, isb5, good), 1,
			"x.pcapng: packet 2 at offset " + itoa(int(idbEnd)+len(good)) + ": statistics of interface 5, but the section describes 1"},
		{"section of another link type", cat(shb, idb, good, shb, idbSLL, good), 1,
			"x.pcapng: packet 2 at offset " + itoa(int(idbEnd)+len(good)+len(shb)+len(idbSLL)) + ": a packet block before any interface description"},
		{"unknown blocks skipped", cat(shb, ngBlock(0x99, nil), idb, ngBlock(0x98, []byte{1, 2, 3, 4}), good, good), 2, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := NewFileSource("x.pcapng", bytes.NewReader(tc.file))
			n := 0
			for err == nil {
				_, _, err = src.ReadPacketData()
				if err == nil {
					n++
				}
			}
			switch {
			case tc.want == "" && err != io.EOF:
				t.Errorf("error %v, want a clean end", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("error %v\nwant  %s", err, tc.want)
			}
			if n != tc.packets {
				t.Errorf("%d packets before the end, want %d", n, tc.packets)
			}
		})
	}
}
