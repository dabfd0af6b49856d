package capture

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// corpusDir holds tcpdump's own test captures, many malformed on purpose;
// it sits beside the repository, in shared/.
var corpusDir = filepath.Join("..", "..", "shared", "corpus", "tcpdump")

// corpusSize is how many captures tcpdump's test suite holds.
const corpusSize = 830

// corpusFiles lists the corpus, or nil when it is not there.
func corpusFiles(t testing.TB) []string {
	entries, err := os.ReadDir(corpusDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".pcap") || strings.HasSuffix(n, ".pcapng") {
			files = append(files, filepath.Join(corpusDir, n))
		}
	}
	return files
}

// traceBytes runs a whole capture, writing what passes the filter, as
// `trace -r FILE -w OUT` does; it checks that whatever happens ends in a
// clear result.
func traceBytes(t testing.TB, name string, data []byte) (*Summary, error) {
	src, err := NewFileSource(name, bytes.NewReader(data))
	if err != nil {
		checkErrorText(t, name, err)
		if !expectedError(err) {
			t.Errorf("%s: unexpected kind of error %T: %v", name, err, err)
		}
		return nil, err
	}
	var out bytes.Buffer
	sum, err := Run(context.Background(), RunConfig{
		Sources: []Source{src},
		Write:   &out,
		Emit: func(f Finding) {
			if f.Kind == "" || f.Message == "" || strings.Contains(f.Message, "\n") {
				t.Errorf("%s: finding without kind or one-line message: %+v", name, f)
			}
		},
	})
	if err != nil {
		checkErrorText(t, name, err)
		var ce *CorruptError
		if !errors.As(err, &ce) || ce.Packet < 1 || ce.Offset < 0 {
			t.Errorf("%s: error %q does not say which packet", name, err)
		}
		if sum == nil || sum.Stopped != StoppedError {
			t.Errorf("%s: no summary of what came before the error", name)
		}
	}
	// What was written reads back.
	r, rerr := pcapgo.NewReader(&out)
	if rerr != nil {
		t.Errorf("%s: -w output unreadable: %v", name, rerr)
		return sum, err
	}
	n := 0
	for {
		if _, _, rerr := r.ReadPacketData(); rerr == io.EOF {
			break
		} else if rerr != nil {
			t.Errorf("%s: -w output packet %d: %v", name, n+1, rerr)
			break
		}
		n++
	}
	if sum != nil && n != sum.Sources[0].Matched {
		t.Errorf("%s: wrote %d packets, %d passed the filter", name, n, sum.Sources[0].Matched)
	}
	return sum, err
}

// checkErrorText wants one line that names the file and says where it
// went wrong.
func checkErrorText(t testing.TB, name string, err error) {
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, name) {
		t.Errorf("error %q: want one line that names %s", msg, name)
	}
	var ce *CorruptError
	if errors.As(err, &ce) && (ce.Offset < 0 || !strings.Contains(msg, " offset ")) {
		t.Errorf("error %q does not say where", msg)
	}
}

// expectedError says whether err is one of the kinds a capture file may
// end in: a link type trace does not read, data that is no capture, or a
// capture that stops making sense at a place it names.
func expectedError(err error) bool {
	var ce *CorruptError
	return errors.Is(err, ErrUnsupportedLinkType) || errors.Is(err, ErrNotCapture) || errors.As(err, &ce)
}

// Every capture of tcpdump's test suite ends with findings or an error of
// an expected kind, never a panic.
func TestTcpdumpCorpus(t *testing.T) {
	files := corpusFiles(t)
	if len(files) == 0 {
		neightest.Skip(t, "no capture corpus at %s", corpusDir)
	}
	if len(files) != corpusSize {
		t.Errorf("%d captures in %s, want %d", len(files), corpusDir, corpusSize)
	}
	var traced, unsupported, corrupt int
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, err = traceBytes(t, filepath.Base(path), data)
		var ce *CorruptError
		switch {
		case err == nil:
			traced++
		case errors.Is(err, ErrUnsupportedLinkType):
			unsupported++
		case errors.As(err, &ce):
			corrupt++
		default:
			t.Errorf("%s: unexpected kind of error %T: %v", path, err, err)
		}
	}
	if traced+unsupported+corrupt != len(files) {
		t.Errorf("of %d captures, %d traced, %d of unsupported link types, %d corrupt", len(files), traced, unsupported, corrupt)
	}
	t.Logf("%d captures: %d traced, %d of unsupported link types, %d corrupt", len(files), traced, unsupported, corrupt)
}

func fuzzSeeds(f *testing.F) {
	w := newWire(f)
	w.synAndSynAck(0, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000)
	w.after(1*s).ns(serverMAC, oldMAC, "2001:db8::10", "2001:db8::50", "2001:db8::50", serverMAC)
	w.after(2*s).arp(arpReply, newMAC, serverMAC, "192.0.2.50", serverMAC, "192.0.2.10")
	for _, lt := range []LinkType{LinkTypeEthernet, LinkTypeLinuxSLL, LinkTypeLinuxSLL2, LinkTypeRaw} {
		f.Add(w.pcap(lt))
	}
	f.Add(w.Pcapng())
	// The limits of the readers: interface descriptions beyond the bound,
	// headers cut short, plain and compressed.
	shb, idb := ngSHB(), ngIDB(65535, nil)
	f.Add(cat(shb, bytes.Repeat(idb, ngMaxInterfaces+1), w.Pcapng()[len(shb):]))
	f.Add(w.pcap(LinkTypeEthernet)[:pcapHeaderLen-4])
	f.Add(gzipped(f, w.pcap(LinkTypeEthernet)))
	f.Add(gzipped(f, w.pcap(LinkTypeEthernet))[:12])
	// The interesting captures of tcpdump's suite are seeds in
	// testdata/fuzz; the whole suite, when it lies beside the repository.
	for _, path := range corpusFiles(f) {
		if data, err := os.ReadFile(path); err == nil {
			f.Add(data)
		}
	}
}

// Arbitrary bytes as a capture file: no panic, and an error says where.
func FuzzCaptureFile(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		traceBytes(t, "fuzz.pcap", data)
	})
}

// Arbitrary bytes as a packet of each link type: the tracker never
// panics, and the kernel's program and Match agree on it.
func FuzzPacket(f *testing.F) {
	w := newWire(f)
	w.synAndSynAck(0, newMAC, oldMAC, "192.0.2.50:41000", "192.0.2.10:6379", 1000, 5000)
	w.after(1*s).tcp(newMAC, serverMAC, "[2001:db8::50]:41000", "[2001:db8::10]:6379", 1, 5, "A", 0)
	w.after(2*s).ns(serverMAC, oldMAC, "2001:db8::10", "2001:db8::50", "2001:db8::50", serverMAC)
	w.after(3*s).na(newMAC, serverMAC, "2001:db8::50", "2001:db8::10", "2001:db8::50", newMAC)
	w.after(4*s).arp(arpRequest, serverMAC, oldMAC, "192.0.2.10", oldMAC, "192.0.2.50")
	for i, lt := range []LinkType{LinkTypeEthernet, LinkTypeLinuxSLL, LinkTypeLinuxSLL2, LinkTypeRaw} {
		for _, p := range w.packets(lt) {
			f.Add(uint8(i), p.data)
		}
	}
	lts := []LinkType{LinkTypeEthernet, LinkTypeLinuxSLL, LinkTypeLinuxSLL2, LinkTypeRaw}
	filter := Filter{Hosts: nil, Ports: []uint16{6379}}
	var vms []*bpf.VM
	for _, lt := range lts {
		prog, err := filter.Program(lt)
		if err != nil {
			f.Fatal(err)
		}
		vm, err := bpf.NewVM(prog)
		if err != nil {
			f.Fatal(err)
		}
		vms = append(vms, vm)
	}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		i := int(which) % len(lts)
		tr, err := NewTracker(TrackerConfig{Source: "fuzz", LinkType: lts[i], Emit: func(Finding) {}})
		if err != nil {
			t.Fatal(err)
		}
		p := w.packets(lts[i])[0]
		p.ci.CaptureLength, p.ci.Length = len(data), len(data)
		tr.Packet(data, p.ci)
		tr.Close()
		n, err := vms[i].Run(data)
		if err != nil {
			t.Fatal(err)
		}
		if got := filter.Match(lts[i], data); got != (n > 0) {
			t.Errorf("%v: on % x the program keeps %v, Match %v", lts[i], data, n > 0, got)
		}
	})
}
