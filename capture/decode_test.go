package capture

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

var decodeLinkTypes = []LinkType{LinkTypeEthernet, LinkTypeLinuxSLL, LinkTypeLinuxSLL2, LinkTypeRaw}

// sameAsOracle decodes data with the decoder and with the gopacket-based
// one, and says how they differ: the same result, and the same event
// unless the packet is undecodable (the tracker then reads no field).
// The oracle gets the packet in a larger buffer, as the readers and the
// live ring hand packets out: gopacket sliced ARP and Linux cooked
// addresses with lengths from the packet, which could reach past its end
// into the buffer (64 KiB at most), and failed only when they wrapped.
func sameAsOracle(t testing.TB, d *decoder, o *oracleDecoder, data []byte) {
	t.Helper()
	var got, want event
	gr := d.decode(data, 7, &got)
	inBuffer := make([]byte, len(data), len(data)+1<<17)
	copy(inBuffer, data)
	wr := o.decode(inBuffer, 7, &want)
	if gr != wr {
		t.Fatalf("on % x: result %d, gopacket's %d", data, gr, wr)
	}
	if gr != decodeFailed && got != want {
		t.Fatalf("on % x:\nevent     %+v\ngopacket  %+v", data, got, want)
	}
}

func decoders(t testing.TB, lt LinkType) (*decoder, *oracleDecoder) {
	d, err := newDecoder(lt)
	if err != nil {
		t.Fatal(err)
	}
	o, err := newOracleDecoder(lt)
	if err != nil {
		t.Fatal(err)
	}
	return d, o
}

// decodeSeeds are packets of every kind the tracker follows, for each
// link type, and their variants: VLAN tags, IPv4 options, a hop-by-hop
// header, fragments, cut short at every length.
func decodeSeeds(t testing.TB) map[LinkType][][]byte {
	w := newWire(t)
	w.synAndSynAck(0, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000)
	w.after(1*s).tcp(newMAC, serverMAC, "[2001:db8::50]:41000", "[2001:db8::10]:6379", 1, 5, "A", 0)
	w.after(2*s).ns(serverMAC, oldMAC, "2001:db8::10", "2001:db8::50", "2001:db8::50", serverMAC)
	w.after(3*s).na(newMAC, serverMAC, "2001:db8::50", "2001:db8::10", "2001:db8::50", newMAC)
	w.after(4*s).arp(arpRequest, serverMAC, oldMAC, "192.0.2.10", oldMAC, "192.0.2.50")
	seeds := map[LinkType][][]byte{}
	for _, lt := range decodeLinkTypes {
		for _, p := range w.packets(lt) {
			seeds[lt] = append(seeds[lt], p.data)
		}
	}
	// Ethernet variants built from the first SYN (IPv4) and the IPv6
	// segment.
	eth := seeds[LinkTypeEthernet]
	syn4, seg6 := eth[0], eth[2]
	tagged := cat(syn4[:12], []byte{0x81, 0x00, 0x00, 0x05}, syn4[12:])
	qinq := cat(syn4[:12], []byte{0x88, 0xa8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x06}, syn4[12:])
	teb := cat(syn4[:12], []byte{0x65, 0x58}, syn4)
	// IPv4 with options: IHL 7, a no-op, a 3-byte option, end.
	opts := append([]byte(nil), syn4...)
	opts[14] = 0x47
	opts = cat(opts[:34], []byte{1, 0x44, 3, 0, 0, 0, 0, 0}, opts[34:])
	frag := append([]byte(nil), syn4...)
	frag[20] |= 0x20
	// IPv6 with a hop-by-hop header (a PadN option) before TCP.
	hbh := append([]byte(nil), seg6...)
	hbh[14+6] = 0
	hbh = cat(hbh[:54], []byte{6, 0, 1, 4, 0, 0, 0, 0}, hbh[54:])
	hbh[14+5] += 8
	seeds[LinkTypeEthernet] = append(seeds[LinkTypeEthernet], tagged, qinq, teb, opts, frag, hbh)
	// ARP whose address sizes reach past the packet or wrap; Linux
	// cooked headers whose address length does.
	arp := eth[len(eth)-1]
	for _, sizes := range [][2]byte{{200, 0}, {6, 200}, {124, 1}, {250, 4}, {6, 4}} {
		a := bytes.Clone(arp)
		a[14+4], a[14+5] = sizes[0], sizes[1]
		seeds[LinkTypeEthernet] = append(seeds[LinkTypeEthernet], a)
	}
	for _, n := range []uint16{0, 8, 20, 1000, 65529, 65530} {
		p := bytes.Clone(seeds[LinkTypeLinuxSLL][0])
		p[4], p[5] = byte(n>>8), byte(n)
		seeds[LinkTypeLinuxSLL] = append(seeds[LinkTypeLinuxSLL], p)
	}
	for _, lt := range decodeLinkTypes {
		for _, p := range seeds[lt] {
			for n := range len(p) {
				seeds[lt] = append(seeds[lt], p[:n])
			}
		}
	}
	return seeds
}

func TestDecoderMatchesGopacket(t *testing.T) {
	for lt, packets := range decodeSeeds(t) {
		d, o := decoders(t, lt)
		for _, p := range packets {
			sameAsOracle(t, d, o, p)
		}
	}
}

// Every packet of tcpdump's test captures decodes as it did with gopacket.
func TestDecoderMatchesGopacketOnCorpus(t *testing.T) {
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
		src, err := NewFileSource(filepath.Base(path), bytes.NewReader(data))
		if err != nil {
			continue
		}
		d, o := decoders(t, src.LinkType())
		for {
			p, _, err := src.ReadPacketData()
			if err != nil {
				var ce *CorruptError
				if err != io.EOF && !errors.As(err, &ce) {
					t.Fatalf("%s: %v", path, err)
				}
				break
			}
			sameAsOracle(t, d, o, p)
			packets++
		}
	}
	t.Logf("%d packets of %d captures", packets, len(files))
}

func TestDecodeAllocatesNothing(t *testing.T) {
	for lt, packets := range decodeSeeds(t) {
		d, _ := decoders(t, lt)
		var e event
		if n := testing.AllocsPerRun(10, func() {
			for _, p := range packets {
				d.decode(p, 0, &e)
			}
		}); n != 0 {
			t.Errorf("%v: %v allocations per run", lt, n)
		}
	}
}

// Arbitrary bytes as a packet of each link type decode as they did with
// gopacket.
func FuzzDecoder(f *testing.F) {
	seeds := decodeSeeds(f)
	for i, lt := range decodeLinkTypes {
		for _, p := range seeds[lt] {
			f.Add(uint8(i), p)
		}
	}
	var ds []*decoder
	var os []*oracleDecoder
	for _, lt := range decodeLinkTypes {
		d, o := decoders(f, lt)
		ds, os = append(ds, d), append(os, o)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		i := int(which) % len(decodeLinkTypes)
		sameAsOracle(t, ds[i], os[i], data)
	})
}

// The decoder against the gopacket-based one, over the packets the
// filter keeps of a busy server's traffic.
func BenchmarkDecode(b *testing.B) {
	var kept [][]byte
	var f Filter
	for _, p := range benchPackets(b) {
		if f.Match(LinkTypeEthernet, p) {
			kept = append(kept, p)
		}
	}
	d, o := decoders(b, LinkTypeEthernet)
	var e event
	b.Run("own", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d.decode(kept[i%len(kept)], 0, &e)
			i++
		}
	})
	b.Run("gopacket", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			o.decode(kept[i%len(kept)], 0, &e)
			i++
		}
	})
}
