package capture

import (
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/capture/capturetest"
	"github.com/google/gopacket"
)

// t0 is when the test captures begin.
var t0 = capturetest.T0

// Hosts of the incident: a server, the dead instance that had the
// client's IP, and the new instance that has it now.
const (
	serverMAC = "02:00:00:00:00:10"
	oldMAC    = "02:00:00:00:50:a1"
	newMAC    = "02:00:00:00:50:b2"
	routerMAC = "02:00:00:00:00:01"
	bcastMAC  = "ff:ff:ff:ff:ff:ff"
)

type testPacket struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// wire is capturetest.Wire in this package's terms, its methods chainable
// with the test functions' own.
type wire struct {
	*capturetest.Wire
	t testing.TB
}

func newWire(t testing.TB) *wire { return &wire{Wire: capturetest.New(t), t: t} }

func (w *wire) after(d time.Duration) *wire { w.After(d); return w }

func (w *wire) tcp(srcMAC, dstMAC, src, dst string, seq, ack uint32, flags string, payload int) *wire {
	w.TCP(srcMAC, dstMAC, src, dst, seq, ack, flags, payload)
	return w
}

func (w *wire) arp(op uint16, srcMAC, dstMAC, senderIP, targetMAC, targetIP string) *wire {
	w.ARP(op, srcMAC, dstMAC, senderIP, targetMAC, targetIP)
	return w
}

func (w *wire) ns(srcMAC, dstMAC, src, dst, target, lladdr string) *wire {
	w.NS(srcMAC, dstMAC, src, dst, target, lladdr)
	return w
}

func (w *wire) na(srcMAC, dstMAC, src, dst, target, lladdr string) *wire {
	w.NA(srcMAC, dstMAC, src, dst, target, lladdr)
	return w
}

func (w *wire) udp(srcMAC, dstMAC, src, dst string, payload int) *wire {
	w.UDP(srcMAC, dstMAC, src, dst, payload)
	return w
}

func (w *wire) packets(lt LinkType) []testPacket {
	var out []testPacket
	for _, p := range w.Packets(uint32(lt)) {
		out = append(out, testPacket{ci: p.CI, data: p.Data})
	}
	return out
}

func (w *wire) pcap(lt LinkType) []byte { return w.Pcap(uint32(lt)) }

func (w *wire) pcapng(testing.TB) []byte { return w.Pcapng() }

func mustAddrPort(t testing.TB, s string) netip.AddrPort {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

func itoa(n int) string { return strconv.Itoa(n) }
