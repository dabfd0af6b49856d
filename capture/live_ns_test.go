package capture

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// A bulk transfer between two namespaces, captured live on the server:
// the handshakes come through, the data segments never leave the kernel.
func TestLiveCaptureDropsDataInTheKernel(t *testing.T) {
	lab := neightest.NewLab(t)
	server := lab.AddHost(neightest.HostConfig{Name: "server", MAC: "02:00:00:00:00:10", Addrs: []string{"192.0.2.10/24", "2001:db8::10/64"}})
	client := lab.AddHost(neightest.HostConfig{Name: "client", MAC: "02:00:00:00:00:20", Addrs: []string{"192.0.2.20/24", "2001:db8::20/64"}})
	ln := server.Listen("tcp", ":5001")
	received := make(chan int64, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n, _ := io.Copy(io.Discard, c)
			c.Close()
			received <- n
		}
	}()

	src, err := OpenLive(LiveConfig{NetNS: server.Name, Interface: "eth0"})
	if err != nil {
		t.Fatalf("OpenLive: %v", err)
	}
	defer src.Close()
	ctx, cancel := context.WithCancel(context.Background())
	var written bytes.Buffer
	var found []Finding
	type result struct {
		sum *Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := Run(ctx, RunConfig{Sources: []Source{src}, Write: &written, Emit: func(f Finding) { found = append(found, f) }})
		done <- result{sum, err}
	}()

	const size = 8 << 20
	dctx, dcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer dcancel()
	for _, addr := range []string{"192.0.2.10:5001", "[2001:db8::10]:5001"} {
		c, err := client.Dial(dctx, "tcp", addr)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		if _, err := c.Write(make([]byte, size)); err != nil {
			t.Fatalf("sending to %s: %v", addr, err)
		}
		c.Close()
		if n := <-received; n != size {
			t.Fatalf("server received %d bytes, want %d", n, size)
		}
	}
	time.Sleep(200 * time.Millisecond) // the last FIN and ACK
	cancel()
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop after the context was cancelled")
	}
	if res.err != nil {
		t.Fatalf("Run: %v", res.err)
	}
	if res.sum.Stopped != StoppedInterrupted {
		t.Errorf("stopped %q, want %q", res.sum.Stopped, StoppedInterrupted)
	}
	if got := res.sum.Handshakes[HandshakeOK]; got != 2 {
		t.Errorf("%d handshakes ok, want 2; findings %+v", got, found)
	}

	// The file holds what passed the filter, and every TCP segment in it
	// is one the filter keeps: no payload unless SYN, FIN or RST is set.
	r, err := pcapgo.NewReader(&written)
	if err != nil {
		t.Fatal(err)
	}
	tcpSegments, inFile := 0, 0
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		inFile++
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if tcp == nil {
			continue
		}
		tcpSegments++
		if len(tcp.Payload) > 0 && !tcp.SYN && !tcp.FIN && !tcp.RST {
			t.Errorf("a data segment was written: %v", p)
		}
	}
	if tcpSegments == 0 {
		t.Error("no TCP segment was written")
	}
	if ss := res.sum.Sources[0]; inFile != ss.Matched {
		t.Errorf("%d packets written, %d passed the filter", inFile, ss.Matched)
	}
	if res.sum.Sources[0].Undecodable != 0 {
		t.Errorf("%d undecodable packets", res.sum.Sources[0].Undecodable)
	}
	// That the kernel dropped the data segments before they reached user
	// space shows in what left the socket: every packet of it must pass
	// the filter. Without the kernel filter the data segments come up and
	// the Go filter drops them, and the two counts differ.
	if ss := res.sum.Sources[0]; ss.Packets != ss.Matched {
		t.Errorf("%d packets left the socket, %d passed the filter: the kernel let through what it should have dropped", ss.Packets, ss.Matched)
	}
}

// A quiet link: reads time out so that verdicts still come, and Stop
// ends the capture at once.
func TestLiveCaptureStopsOnAQuietLink(t *testing.T) {
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "quiet", MAC: "02:00:00:00:00:99", Addrs: []string{"192.0.2.99/24"}})
	src, err := OpenLive(LiveConfig{NetNS: h.Name, Interface: h.IfName})
	if err != nil {
		t.Fatalf("OpenLive: %v", err)
	}
	defer src.Close()
	// The interface may still announce itself (IPv6 duplicate address
	// detection); then it falls quiet.
	for i := 0; ; i++ {
		_, ci, err := src.ReadPacketData()
		if err == ErrTimeoutExpired {
			if ci.Timestamp.IsZero() {
				t.Error("a timeout without the time")
			}
			break
		}
		if err != nil || i > 100 {
			t.Fatalf("reading a quiet link: %v after %d packets", err, i)
		}
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		src.Stop()
	}()
	// Packets already in the ring still come, then the end.
	for err = nil; err == nil || err == ErrTimeoutExpired; {
		_, _, err = src.ReadPacketData()
	}
	if err != io.EOF {
		t.Errorf("read after Stop: %v, want io.EOF", err)
	}
}

func TestLiveCaptureErrors(t *testing.T) {
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "h", MAC: "02:00:00:00:00:99", Addrs: []string{"192.0.2.99/24"}})
	_, err := OpenLive(LiveConfig{NetNS: h.Name, Interface: "nosuch0"})
	want := `interface "nosuch0" not found in network namespace ` + h.Name
	if err == nil || err.Error() != want {
		t.Errorf("unknown interface: %v\nwant %s", err, want)
	}
	_, err = OpenLive(LiveConfig{NetNS: h.Name, Interface: "lo", Filter: Filter{Ports: make([]uint16, MaxFilterTerms+1)}})
	if err == nil || !strings.Contains(err.Error(), "too many ports") {
		t.Errorf("oversized filter: %v", err)
	}
	_, err = OpenLive(LiveConfig{NetNS: "arpdt-absent", Interface: "eth0"})
	if err == nil || !strings.Contains(err.Error(), `network namespace "arpdt-absent" not found`) {
		t.Errorf("absent namespace: %v", err)
	}
}
