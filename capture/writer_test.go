package capture

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// The header reaches the file at once; packets when a second has passed
// since the last flush, or at once when packet-buffered.
func TestPcapWriterFlushes(t *testing.T) {
	w := newWire(t)
	w.tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:80", 1, 0, "S", 0)
	p := w.packets(LinkTypeEthernet)[0]
	for _, perPacket := range []bool{false, true} {
		var file bytes.Buffer
		pw, err := newPcapWriter(&file, LinkTypeEthernet, perPacket)
		if err != nil {
			t.Fatal(err)
		}
		if file.Len() != pcapHeaderLen {
			t.Fatalf("packet-buffered %v: %d bytes in the file after the header, want %d", perPacket, file.Len(), pcapHeaderLen)
		}
		now := t0
		pw.now = func() time.Time { return now }
		pw.flushed = now
		record := pcapRecordHeadLen + len(p.data)
		if err := pw.write(p.data, p.ci); err != nil {
			t.Fatal(err)
		}
		want := pcapHeaderLen
		if perPacket {
			want += record
		}
		if file.Len() != want {
			t.Errorf("packet-buffered %v: %d bytes after a packet, want %d", perPacket, file.Len(), want)
		}
		now = now.Add(flushEvery)
		if err := pw.flushIfDue(); err != nil {
			t.Fatal(err)
		}
		if file.Len() != pcapHeaderLen+record {
			t.Errorf("packet-buffered %v: %d bytes a second later, want %d", perPacket, file.Len(), pcapHeaderLen+record)
		}
	}
}

// Written beside its name, a capture replaces the file only at Commit;
// Abort leaves the old file and no temporary one.
func TestOutputFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.pcap")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		entries, _ := os.ReadDir(dir)
		var n []string
		for _, e := range entries {
			n = append(n, e.Name())
		}
		return n
	}
	o, err := CreateOutput(path, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Write([]byte("new"))
	if got, _ := os.ReadFile(path); string(got) != "old" || len(names()) != 2 {
		t.Errorf("before Commit: %q in the file, %v in the directory", got, names())
	}
	o.Abort()
	if got, _ := os.ReadFile(path); string(got) != "old" || len(names()) != 1 {
		t.Errorf("after Abort: %q in the file, %v in the directory", got, names())
	}

	o, err = CreateOutput(path, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Write([]byte("new"))
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	o.Abort()
	fi, err := os.Stat(path)
	if got, _ := os.ReadFile(path); string(got) != "new" || len(names()) != 1 || err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("after Commit: %q in the file, %v in the directory, mode %v", got, names(), fi.Mode())
	}

	// In place, the file holds what was written at once.
	o, err = CreateOutput(path, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Write([]byte("live"))
	if got, _ := os.ReadFile(path); string(got) != "live" || len(names()) != 1 {
		t.Errorf("in place: %q in the file, %v in the directory", got, names())
	}
	o.Abort()
	if got, _ := os.ReadFile(path); string(got) != "live" {
		t.Errorf("in place, after Abort: %q in the file", got)
	}

	in, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.pcap")
	if err := os.Link(path, link); err != nil {
		t.Fatal(err)
	}
	var same *SameFileError
	if _, err := CreateOutput(link, true, []Input{{Name: path, Info: in}}); !errors.As(err, &same) || same.Input != path {
		t.Errorf("writing onto a hard link of an input: %v", err)
	}
	if _, err := CreateOutput(dir, false, nil); !errors.Is(err, ErrDirectory) {
		t.Errorf("writing onto a directory: %v", err)
	}

	// A FIFO is written where it lies: a reader waits at the other end.
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenFile(fifo, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	o, err = CreateOutput(fifo, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Write([]byte("live"))
	if err := o.Commit(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, _ := r.Read(buf); string(buf[:n]) != "live" {
		t.Errorf("read %q from the FIFO", buf[:n])
	}
}

// A pipe that never brings a capture: a cancelled context ends the wait
// for its header, and for its next packet.
func TestPipeStopsWithContext(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := OpenReader(ctx, "-", r); !errors.Is(err, context.Canceled) {
		t.Fatalf("open: %v, want context.Canceled", err)
	}

	// A FIFO nobody opens for writing: the open itself waits.
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := OpenFile(ctx, fifo); !errors.Is(err, context.Canceled) {
		t.Fatalf("open a FIFO: %v, want context.Canceled", err)
	}

	wire := newWire(t)
	wire.tcp(newMAC, serverMAC, "192.0.2.50:41000", "192.0.2.10:80", 1, 0, "S", 0)
	if _, err := w.Write(wire.pcap(LinkTypeEthernet)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	src, err := OpenReader(ctx, "-", r)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	time.AfterFunc(20*time.Millisecond, cancel)
	sum, err := Run(ctx, RunConfig{Sources: []Source{src}, Emit: func(Finding) {}})
	if err != nil || sum.Stopped != StoppedInterrupted {
		t.Errorf("Run: %v, %+v", err, sum)
	}
}

// A FIFO as -w is written, never read: with nobody reading it, that is an
// error at once, not a capture going nowhere or a hang.
func TestOutputFIFOWithoutReader(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "out.pcap")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := CreateOutput(fifo, false, nil)
	if err == nil || !strings.Contains(err.Error(), "nobody reads the FIFO") {
		t.Fatalf("err = %v, want nobody reads the FIFO", err)
	}
	// With a reader, what is written arrives.
	done := make(chan []byte, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			done <- nil
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		done <- b
	}()
	var out *OutputFile
	for range 100 {
		if out, err = CreateOutput(fifo, false, nil); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	out.Write([]byte("pcap"))
	if err := out.Commit(); err != nil {
		t.Fatal(err)
	}
	if b := <-done; string(b) != "pcap" {
		t.Errorf("the reader got %q", b)
	}
}

// The file is byte for byte what pcapgo's nanosecond Writer writes.
func TestPcapWriterMatchesPcapgo(t *testing.T) {
	w := newWire(t)
	w.synAndSynAck(0, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000)
	w.after(1*s).arp(arpReply, newMAC, serverMAC, "192.0.2.50", serverMAC, "192.0.2.10")
	var packets []testPacket
	for i, p := range w.packets(LinkTypeEthernet) {
		p.ci.Timestamp = p.ci.Timestamp.Add(time.Duration(i) * 123456789 * time.Nanosecond)
		p.ci.Length = len(p.data) + i*100
		packets = append(packets, p)
	}
	packets = append(packets,
		testPacket{ci: gopacket.CaptureInfo{Timestamp: time.Unix(-5, 999999999), CaptureLength: 0}, data: nil},
		testPacket{ci: gopacket.CaptureInfo{Timestamp: time.Unix(1<<33, 1), CaptureLength: 3, Length: 3}, data: []byte{1, 2, 3}})
	var got, want bytes.Buffer
	pw, err := newPcapWriter(&got, LinkTypeEthernet, true)
	if err != nil {
		t.Fatal(err)
	}
	gw := pcapgo.NewWriterNanos(&want)
	if err := gw.WriteFileHeader(Snaplen, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, p := range packets {
		if err := pw.write(p.data, p.ci); err != nil {
			t.Fatal(err)
		}
		if err := gw.WritePacket(p.ci, p.data); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Errorf("wrote\n% x\npcapgo writes\n% x", got.Bytes(), want.Bytes())
	}
}

// A packet without a time is written with the time of writing.
func TestPcapWriterStampsTimelessPackets(t *testing.T) {
	var file bytes.Buffer
	pw, err := newPcapWriter(&file, LinkTypeEthernet, true)
	if err != nil {
		t.Fatal(err)
	}
	pw.now = func() time.Time { return t0 }
	if err := pw.write([]byte{1, 2}, gopacket.CaptureInfo{CaptureLength: 2, Length: 2}); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&file)
	if err != nil {
		t.Fatal(err)
	}
	_, ci, err := r.ReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	if !ci.Timestamp.Equal(t0) {
		t.Errorf("stamped %v, want %v", ci.Timestamp, t0)
	}
}
