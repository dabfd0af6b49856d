package capture

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// sameReadAsOracle reads data with FileSource and with pcapgo's readers:
// the same packets (data, timestamps, lengths, interface), then both at
// the end or both with an error. It returns how many packets were read.
func sameReadAsOracle(t testing.TB, name string, data []byte) int {
	t.Helper()
	src, err := NewFileSource(name, bytes.NewReader(data))
	o, oerr := newOracleFile(data)
	if (err == nil) != (oerr == nil) {
		t.Fatalf("%s: opening: error %v, pcapgo's %v", name, err, oerr)
	}
	if err != nil {
		return 0
	}
	if src.LinkType() != o.lt {
		t.Fatalf("%s: link type %v, pcapgo's %v", name, src.LinkType(), o.lt)
	}
	for n := 0; ; n++ {
		p, ci, err := src.ReadPacketData()
		op, oci, oerr := o.ReadPacketData()
		if (err == nil) != (oerr == nil) || (err == io.EOF) != (oerr == io.EOF) {
			t.Fatalf("%s: packet %d: error %v, pcapgo's %v", name, n+1, err, oerr)
		}
		if err != nil {
			return n
		}
		if !bytes.Equal(p, op) {
			t.Fatalf("%s: packet %d: data\n% x\npcapgo's\n% x", name, n+1, p, op)
		}
		if !ci.Timestamp.Equal(oci.Timestamp) || ci.Timestamp.Location() != oci.Timestamp.Location() ||
			ci.CaptureLength != oci.CaptureLength || ci.Length != oci.Length ||
			ci.InterfaceIndex != oci.InterfaceIndex || len(ci.AncillaryData) != 0 {
			t.Fatalf("%s: packet %d: %+v, pcapgo's %+v", name, n+1, ci, oci)
		}
	}
}

// Every capture of tcpdump's test suite reads as it did with pcapgo.
func TestReaderMatchesPcapgoOnCorpus(t *testing.T) {
	files := corpusFiles(t)
	if len(files) == 0 {
		t.Skipf("no capture corpus at %s", corpusDir)
	}
	packets := 0
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		packets += sameReadAsOracle(t, filepath.Base(path), data)
	}
	t.Logf("%d packets of %d captures", packets, len(files))
}

// readerSeeds are captures of each format: pcap of both resolutions and
// byte orders, pcapng, compressed, and the guard's cases.
func readerSeeds(t testing.TB) [][]byte {
	w := newWire(t)
	w.synAndSynAck(0, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000)
	w.after(1*s).arp(arpReply, newMAC, serverMAC, "192.0.2.50", serverMAC, "192.0.2.10")
	var seeds [][]byte
	for _, lt := range decodeLinkTypes {
		seeds = append(seeds, w.pcap(lt))
	}
	micro := bytes.Clone(w.pcap(LinkTypeEthernet))
	copy(micro, []byte{0xd4, 0xc3, 0xb2, 0xa1})
	big := bytes.Clone(w.pcap(LinkTypeEthernet))
	swapPcap(big)
	shb, idb := ngSHB(), ngIDB(65535, nil)
	syn := w.packets(LinkTypeEthernet)[0].data
	good := ngEPB(0, uint32(len(syn)), syn)
	spb := ngBlock(ngSimplePacket, cat([]byte{byte(len(syn)), 0, 0, 0}, syn, make([]byte, (4-len(syn)%4)%4)))
	opb := ngBlock(ngObsoletePacket, good[8:len(good)-4])
	nano := ngIDB(65535, cat(ngOption(ngOptionIfTSResol, []byte{9}), ngOption(ngOptionIfTSOffset, []byte{1, 0, 0, 0, 0, 0, 0, 0})))
	seeds = append(seeds, micro, big, w.Pcapng(), gzipped(t, w.pcap(LinkTypeEthernet)),
		cat(shb, idb, good, spb, opb, shb, nano, good),
		cat(shb, ngIDB(0xffffffff, nil), good, ngEPB(0, 1<<30, syn)))
	return seeds
}

// swapPcap turns a little-endian pcap into a big-endian one.
func swapPcap(b []byte) {
	rev := func(p []byte) {
		for i, j := 0, len(p)-1; i < j; i, j = i+1, j-1 {
			p[i], p[j] = p[j], p[i]
		}
	}
	rev(b[0:4])
	rev(b[4:6])
	rev(b[6:8])
	for _, o := range []int{8, 12, 16, 20} {
		rev(b[o : o+4])
	}
	for p := pcapHeaderLen; p+pcapRecordHeadLen <= len(b); {
		n := int(b[p+8]) | int(b[p+9])<<8 | int(b[p+10])<<16 | int(b[p+11])<<24
		for o := 0; o < 16; o += 4 {
			rev(b[p+o : p+o+4])
		}
		p += pcapRecordHeadLen + n
	}
}

func TestReaderMatchesPcapgo(t *testing.T) {
	for i, data := range readerSeeds(t) {
		if n := sameReadAsOracle(t, "seed.pcap", data); n == 0 {
			t.Errorf("seed %d: no packets", i)
		}
	}
}

// Arbitrary bytes read as a capture file give the packets pcapgo gave,
// or an error where it erred.
func FuzzReader(f *testing.F) {
	for _, data := range readerSeeds(f) {
		f.Add(data)
	}
	for _, path := range corpusFiles(f) {
		if data, err := os.ReadFile(path); err == nil && len(data) <= 4096 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameReadAsOracle(t, "fuzz.pcap", data)
	})
}

// The readers against pcapgo's, over a busy server's traffic, as pcap and
// as pcapng.
func BenchmarkRead(b *testing.B) {
	var pcap bytes.Buffer
	if err := benchCapture(&pcap, 100_000, busyServer); err != nil {
		b.Fatal(err)
	}
	src, err := NewFileSource("bench", bytes.NewReader(pcap.Bytes()))
	if err != nil {
		b.Fatal(err)
	}
	var ng bytes.Buffer
	nw, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		b.Fatal(err)
	}
	for {
		data, ci, err := src.ReadPacketData()
		if err != nil {
			break
		}
		if err := nw.WritePacket(ci, data); err != nil {
			b.Fatal(err)
		}
	}
	if err := nw.Flush(); err != nil {
		b.Fatal(err)
	}
	files := map[string][]byte{"pcap": pcap.Bytes(), "pcapng": ng.Bytes()}
	for _, format := range []string{"pcap", "pcapng"} {
		file := files[format]
		read := func(b *testing.B, open func() (interface {
			ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		}, error)) {
			b.ReportAllocs()
			b.SetBytes(int64(len(file)))
			for b.Loop() {
				s, err := open()
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, _, err := s.ReadPacketData(); err != nil {
						break
					}
				}
			}
		}
		b.Run(format+"/own", func(b *testing.B) {
			read(b, func() (interface {
				ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
			}, error) {
				return NewFileSource("bench", bytes.NewReader(file))
			})
		})
		b.Run(format+"/pcapgo", func(b *testing.B) {
			read(b, func() (interface {
				ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
			}, error) {
				return newOracleFile(file)
			})
		})
	}
}
