package capture

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
)

// benchMix is what a benchmark capture holds.
type benchMix int

const (
	// busyServer: 64 connections at a time, interleaved, each a
	// handshake, eight responses of 1,448 bytes with their ACKs, and a
	// FIN exchange; one connection in 50 is never answered, one in 200 is
	// answered to a stale MAC.
	busyServer benchMix = iota
	// synFlood: SYNs from ever new ports, none answered.
	synFlood
	// repeatedSYN: one SYN, the same port pair and sequence number, sent
	// again every 121 s (past the handshake timeout), never answered:
	// every copy is a handshake of its own.
	repeatedSYN
)

// benchCapture writes a capture of n packets of the mix. Frames are built
// by hand: a million gopacket serializations would take longer than
// reading them.
func benchCapture(w io.Writer, n int, mix benchMix) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	var h [pcapHeaderLen]byte
	binary.LittleEndian.PutUint32(h[0:], pcapMagicNano)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], Snaplen)
	binary.LittleEndian.PutUint32(h[20:], uint32(LinkTypeEthernet))
	bw.Write(h[:])

	server := [4]byte{192, 0, 2, 10}
	serverMAC := [6]byte{2, 0, 0, 0, 0, 0x10}
	ts := t0.UnixNano()
	frame := make([]byte, 0, 1600)
	written := 0
	emit := func(srcMAC, dstMAC [6]byte, src, dst [4]byte, sport, dport uint16, seq, ack uint32, flags byte, payload int) {
		frame = frame[:0]
		frame = append(frame, dstMAC[:]...)
		frame = append(frame, srcMAC[:]...)
		frame = binary.BigEndian.AppendUint16(frame, etherTypeIPv4)
		tcpLen := 20
		if flags&tcpSYN != 0 {
			tcpLen = 24
		}
		ip := len(frame)
		frame = append(frame, 0x45, 0)
		frame = binary.BigEndian.AppendUint16(frame, uint16(20+tcpLen+payload))
		frame = append(frame, 0, 0, 0x40, 0, 64, protoTCP, 0, 0)
		frame = append(frame, src[:]...)
		frame = append(frame, dst[:]...)
		binary.BigEndian.PutUint16(frame[ip+10:], ipChecksum(frame[ip:ip+20]))
		frame = binary.BigEndian.AppendUint16(frame, sport)
		frame = binary.BigEndian.AppendUint16(frame, dport)
		frame = binary.BigEndian.AppendUint32(frame, seq)
		frame = binary.BigEndian.AppendUint32(frame, ack)
		frame = append(frame, byte(tcpLen/4)<<4, flags, 0xfa, 0xf0, 0, 0, 0, 0)
		if tcpLen == 24 {
			frame = append(frame, 2, 4, 0x05, 0xb4)
		}
		for range payload {
			frame = append(frame, 'x')
		}
		var rec [pcapRecordHeadLen]byte
		binary.LittleEndian.PutUint32(rec[0:], uint32(ts/1e9))
		binary.LittleEndian.PutUint32(rec[4:], uint32(ts%1e9))
		binary.LittleEndian.PutUint32(rec[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(rec[12:], uint32(len(frame)))
		bw.Write(rec[:])
		bw.Write(frame)
		ts += int64(10 * time.Microsecond)
		written++
	}

	type conn struct {
		mac, stale [6]byte
		ip         [4]byte
		port       uint16
		isn, sisn  uint32
		step       int
		kind       int // 0 normal, 1 unanswered, 2 stale entry
	}
	if mix == synFlood {
		for i := range n {
			src := [4]byte{203, 0, 113, byte(1 + i%250)}
			emit([6]byte{2, 0, 0, 0, 0, 1}, serverMAC, src, server, uint16(1024+i%60000), 6379, uint32(i)*2654435761, 0, tcpSYN, 0)
		}
		return bw.Flush()
	}
	if mix == repeatedSYN {
		for range n {
			emit([6]byte{2, 0, 0, 0, 0, 1}, serverMAC, [4]byte{203, 0, 113, 7}, server, 41000, 6379, 1000, 0, tcpSYN, 0)
			ts += int64(121 * time.Second)
		}
		return bw.Flush()
	}
	const concurrent = 64
	var live []*conn
	next := 0
	newConn := func() *conn {
		next++
		c := &conn{
			mac:  [6]byte{2, 0, 0, byte(next >> 16), byte(next >> 8), byte(next)},
			ip:   [4]byte{198, 51, 100, byte(1 + next%250)},
			port: uint16(1024 + next%60000),
			isn:  uint32(next) * 7919, sisn: uint32(next) * 104729,
		}
		if next%203 == 0 {
			c.ip[0], c.ip[1] = 203, 0 // 203.0.113.x
			c.ip[2] = 113
		}
		switch {
		case next%200 == 0:
			c.kind = 2
			c.stale = [6]byte{2, 0xde, 0xad, byte(next >> 16), byte(next >> 8), byte(next)}
		case next%50 == 0:
			c.kind = 1
		}
		return c
	}
	for written < n {
		for len(live) < concurrent {
			live = append(live, newConn())
		}
		for i := 0; i < len(live) && written < n; i++ {
			c := live[i]
			done := false
			switch {
			case c.kind == 1: // three SYNs, nothing back
				emit(c.mac, serverMAC, c.ip, server, c.port, 6379, c.isn, 0, tcpSYN, 0)
				done = c.step == 2
			case c.kind == 2: // SYN, and the SYN-ACK to the dead MAC
				if c.step%2 == 0 {
					emit(c.mac, serverMAC, c.ip, server, c.port, 6379, c.isn, 0, tcpSYN, 0)
				} else {
					emit(serverMAC, c.stale, server, c.ip, 6379, c.port, c.sisn, c.isn+1, tcpSYN|tcpACK, 0)
				}
				done = c.step == 3
			case c.step == 0:
				emit(c.mac, serverMAC, c.ip, server, c.port, 6379, c.isn, 0, tcpSYN, 0)
			case c.step == 1:
				emit(serverMAC, c.mac, server, c.ip, 6379, c.port, c.sisn, c.isn+1, tcpSYN|tcpACK, 0)
			case c.step == 2:
				emit(c.mac, serverMAC, c.ip, server, c.port, 6379, c.isn+1, c.sisn+1, tcpACK, 0)
			case c.step < 19: // responses and their ACKs
				k := uint32(c.step-3) / 2
				if c.step%2 == 1 {
					emit(serverMAC, c.mac, server, c.ip, 6379, c.port, c.sisn+1+k*1448, c.isn+1, tcpACK|0x08, 1448)
				} else {
					emit(c.mac, serverMAC, c.ip, server, c.port, 6379, c.isn+1, c.sisn+1+(k+1)*1448, tcpACK, 0)
				}
			case c.step == 19:
				emit(serverMAC, c.mac, server, c.ip, 6379, c.port, c.sisn+1+8*1448, c.isn+1, tcpFIN|tcpACK, 0)
			case c.step == 20:
				emit(c.mac, serverMAC, c.ip, server, c.port, 6379, c.isn+1, c.sisn+2+8*1448, tcpFIN|tcpACK, 0)
			default:
				emit(serverMAC, c.mac, server, c.ip, 6379, c.port, c.sisn+2+8*1448, c.isn+2, tcpACK, 0)
				done = true
			}
			c.step++
			if done {
				live[i] = newConn()
			}
		}
	}
	return bw.Flush()
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// TestWriteBenchmarkCapture writes the captures the benchmarks read, for
// comparing whole processes (docs/benchmarks-trace.md): a busy server's
// to the file named by $ARPDOCTOR_BENCH_CAPTURE, a SYN flood to the one
// named by $ARPDOCTOR_BENCH_SYNFLOOD, one SYN repeated to the one named by
// $ARPDOCTOR_BENCH_REPEATEDSYN, $ARPDOCTOR_BENCH_PACKETS packets
// each (1,000,000 by default). Without them it checks a small capture.
func TestWriteBenchmarkCapture(t *testing.T) {
	n := 1_000_000
	if s := os.Getenv("ARPDOCTOR_BENCH_PACKETS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	wrote := false
	for env, mix := range map[string]benchMix{
		"ARPDOCTOR_BENCH_CAPTURE":     busyServer,
		"ARPDOCTOR_BENCH_SYNFLOOD":    synFlood,
		"ARPDOCTOR_BENCH_REPEATEDSYN": repeatedSYN,
	} {
		path := os.Getenv(env)
		if path == "" {
			continue
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := benchCapture(f, n, mix); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		wrote = true
	}
	if !wrote {
		var b bytes.Buffer
		if err := benchCapture(&b, 5000, busyServer); err != nil {
			t.Fatal(err)
		}
		_, sum := traceOK(t, RunConfig{}, namedCapture{"bench", b.Bytes()})
		if sum.Sources[0].Packets != 5000 || sum.Sources[0].Undecodable != 0 ||
			sum.Handshakes[HandshakeOK] == 0 || sum.Handshakes[SynUnanswered] == 0 || sum.Handshakes[SynAckToWrongMAC] == 0 {
			t.Errorf("benchmark capture: %+v", sum)
		}
	}
}

var benchFile = struct {
	once sync.Once
	path string
	err  error
}{}

// millionPackets returns the path of a 1,000,000-packet capture, written
// once per test binary.
func millionPackets(b *testing.B) string {
	benchFile.once.Do(func() {
		dir, err := os.MkdirTemp("", "arpdoctor-bench")
		if err != nil {
			benchFile.err = err
			return
		}
		benchFile.path = filepath.Join(dir, "1m.pcap")
		f, err := os.Create(benchFile.path)
		if err != nil {
			benchFile.err = err
			return
		}
		benchFile.err = benchCapture(f, 1_000_000, busyServer)
		f.Close()
	})
	if benchFile.err != nil {
		b.Fatal(benchFile.err)
	}
	return benchFile.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchFile.path != "" {
		os.RemoveAll(filepath.Dir(benchFile.path))
	}
	os.Exit(code)
}

// The whole offline path over a million packets: read, filter, decode,
// track, judge.
// With every finding built (as -o json wants them), and with the
// handshakes that worked only counted (as text output wants them).
func BenchmarkRunMillionPackets(b *testing.B) {
	path := millionPackets(b)
	for _, countOK := range []bool{false, true} {
		name := "all-findings"
		if countOK {
			name = "count-ok"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				src, err := OpenFile(context.Background(), path)
				if err != nil {
					b.Fatal(err)
				}
				sum, err := Run(context.Background(), RunConfig{Sources: []Source{src}, CountOK: countOK, Emit: func(Finding) {}})
				src.Close()
				if err != nil || sum.Sources[0].Packets != 1_000_000 {
					b.Fatalf("%v %+v", err, sum)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ns/packet")
		})
	}
}

// The pieces, per packet, over the same mix of packets.
func benchPackets(b *testing.B) [][]byte {
	var buf bytes.Buffer
	if err := benchCapture(&buf, 100_000, busyServer); err != nil {
		b.Fatal(err)
	}
	src, err := NewFileSource("bench", &buf)
	if err != nil {
		b.Fatal(err)
	}
	var pkts [][]byte
	for {
		data, _, err := src.ReadPacketData()
		if err != nil {
			break
		}
		pkts = append(pkts, append([]byte(nil), data...))
	}
	return pkts
}

func BenchmarkFilterMatch(b *testing.B) {
	pkts := benchPackets(b)
	var f Filter
	b.ResetTimer()
	i := 0
	for b.Loop() {
		f.Match(LinkTypeEthernet, pkts[i%len(pkts)])
		i++
	}
}

func BenchmarkFilterMatchPortAndHost(b *testing.B) {
	pkts := benchPackets(b)
	f := Filter{Ports: []uint16{6379}, Hosts: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		f.Match(LinkTypeEthernet, pkts[i%len(pkts)])
		i++
	}
}

// Decoding and tracking the packets that pass the filter.
func BenchmarkTrackerPacket(b *testing.B) {
	var kept [][]byte
	var f Filter
	for _, p := range benchPackets(b) {
		if f.Match(LinkTypeEthernet, p) {
			kept = append(kept, p)
		}
	}
	tr, err := NewTracker(TrackerConfig{Source: "bench", LinkType: LinkTypeEthernet, Emit: func(Finding) {}})
	if err != nil {
		b.Fatal(err)
	}
	ci := t0
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		p := kept[i%len(kept)]
		ci = ci.Add(10 * time.Microsecond)
		tr.Packet(p, gopacket.CaptureInfo{Timestamp: ci, CaptureLength: len(p), Length: len(p)})
		i++
	}
}
