package commands

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/capture/capturetest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/sys/unix"
)

// dirNames lists what dir holds, to see that no temporary file is left.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// countPackets reads a pcap file back.
func countPackets(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	n := 0
	for {
		if _, _, err := r.ReadPacketData(); err == io.EOF {
			return n
		} else if err != nil {
			t.Fatalf("%s: packet %d: %v", path, n+1, err)
		}
		n++
	}
}

// -w never destroys what it should not: a file that is read (by any of
// its names), or an existing file when the run cannot start or fails.
// Each refusal is one line, exit 2, and leaves every file as it was.
func TestTraceWriteLeavesFilesAlone(t *testing.T) {
	dir := t.TempDir()
	w := incidentCapture(t)
	full := w.Pcap(capturetest.LinkEthernet)
	path := func(name string) string { return filepath.Join(dir, name) }
	files := map[string][]byte{
		"in.pcap":     full,
		"cooked.pcap": w.Pcap(capturetest.LinkLinuxSLL2),
		"cut.pcap":    full[:len(full)-30],
		"old.pcap":    []byte("what was there before"),
	}
	for name, data := range files {
		if err := os.WriteFile(path(name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("in.pcap", path("link.pcap")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(path("in.pcap"), path("hard.pcap")); err != nil {
		t.Fatal(err)
	}
	help := " (see 'arpdoctor trace --help')"
	tests := []struct {
		args   []string
		stderr string
	}{
		{[]string{"trace", "-r", path("in.pcap"), "-w", path("in.pcap")},
			"arpdoctor: -w " + path("in.pcap") + ": " + path("in.pcap") + " is both read and written: give another file to write" + help},
		{[]string{"trace", "-r", path("in.pcap"), "-w", path("link.pcap")},
			"arpdoctor: -w " + path("link.pcap") + ": " + path("link.pcap") + " is the same file as " + path("in.pcap") + ", which is read: give another file to write" + help},
		{[]string{"trace", "-r", path("cooked.pcap"), "-r", path("link.pcap"), "-w", path("hard.pcap")},
			"arpdoctor: -w: one pcap file holds one link type, and " + path("cooked.pcap") + " is LINUX_SLL2 while " + path("link.pcap") + " is EN10MB"},
		{[]string{"trace", "-r", path("link.pcap"), "-w", path("hard.pcap")},
			"arpdoctor: -w " + path("hard.pcap") + ": " + path("hard.pcap") + " is the same file as " + path("link.pcap") + ", which is read: give another file to write" + help},
		{[]string{"trace", "-r", path("in.pcap"), "-r", path("cooked.pcap"), "-w", path("old.pcap")},
			"arpdoctor: -w: one pcap file holds one link type, and " + path("in.pcap") + " is EN10MB while " + path("cooked.pcap") + " is LINUX_SLL2"},
		{[]string{"trace", "-r", path("in.pcap"), "-w", dir},
			"arpdoctor: -w " + dir + ": a directory: give a file name" + help},
		{[]string{"trace", "-r", path("in.pcap"), "-U"},
			"arpdoctor: -U (--packet-buffered) is for the file -w writes: give -w FILE too" + help},
		{[]string{"trace", "-r", path("cut.pcap"), "-w", path("old.pcap")},
			"arpdoctor: reading " + path("cut.pcap") + ": packet 18 at offset 1316: the file ends inside the packet (a capture cut short); the findings before it are above"},
	}
	before := dirNames(t, dir)
	for _, tt := range tests {
		t.Run(filepath.Base(tt.args[len(tt.args)-1]), func(t *testing.T) {
			code, _, errOut := run(t, false, tt.args...)
			if code != ExitTrouble {
				t.Errorf("exit code %d, want %d", code, ExitTrouble)
			}
			if diff := cmp.Diff(tt.stderr+"\n", errOut); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			for name, data := range files {
				if got, err := os.ReadFile(path(name)); err != nil || !bytes.Equal(got, data) {
					t.Errorf("%s changed (%d bytes, was %d): %v", name, len(got), len(data), err)
				}
			}
			if diff := cmp.Diff(before, dirNames(t, dir)); diff != "" {
				t.Errorf("files in %s (-before +after):\n%s", dir, diff)
			}
		})
	}

	// A run that works replaces the file a symbolic link names, and
	// leaves the link.
	if err := os.Symlink("old.pcap", path("out-link.pcap")); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, false, "trace", "-r", path("in.pcap"), "-w", path("out-link.pcap"))
	if code != ExitProblems {
		t.Fatalf("exit code %d: %s", code, errOut)
	}
	if fi, err := os.Lstat(path("out-link.pcap")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("out-link.pcap is no longer a symbolic link: %v", err)
	}
	if n := countPackets(t, path("old.pcap")); n != 17 {
		t.Errorf("old.pcap holds %d packets, want 17", n)
	}
	if diff := cmp.Diff(append(before, "out-link.pcap"), dirNames(t, dir)); diff != "" {
		t.Errorf("files in %s (-before +after):\n%s", dir, diff)
	}
}

// Standard input that is a pipe nobody writes to, or a FIFO nobody
// opens: a cancelled context (Ctrl-C) ends trace at once, before any
// capture began, with nothing to report.
func TestTraceStdinPipeCancelled(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"trace", "-r", "-"}, {"trace", "-r", fifo}} {
		for _, early := range []bool{true, false} {
			ios, _, out, errOut := TestStreams()
			ios.In = r
			ctx, cancel := context.WithCancel(context.Background())
			if early {
				cancel()
			} else {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			code := Main(ctx, ios, args)
			cancel()
			if code != ExitOK || out.Len() != 0 || errOut.Len() != 0 {
				t.Errorf("%v cancelled early=%v: exit code %d, stdout %q, stderr %q", args, early, code, out, errOut)
			}
		}
	}
}

// A capture read from a pipe and stopped by Ctrl-C while the pipe is
// open: the summary says so, and the packets read are in the file
// written, renamed into place.
func TestTraceStdinInterruptedWrites(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	defer r.Close()
	dir := t.TempDir()
	written := filepath.Join(dir, "out.pcap")
	data := incidentCapture(t).Pcap(capturetest.LinkEthernet)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	ios, _, out, errOut := TestStreams()
	ios.In = r
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int)
	go func() { done <- Main(ctx, ios, []string{"trace", "-r", "-", "-w", written, "-U"}) }()
	// -U writes each packet at once: the 17 packets that pass the filter
	// show in the temporary file when trace has read them all and waits.
	for {
		names := dirNames(t, dir)
		if len(names) == 1 {
			if fi, err := os.Stat(filepath.Join(dir, names[0])); err == nil && fi.Size() >= 24+17*16 && countPackets(t, filepath.Join(dir, names[0])) == 17 {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	code := <-done
	if code != ExitProblems {
		t.Errorf("exit code %d, stderr %q", code, errOut)
	}
	if !bytes.Contains(out.Bytes(), []byte("\nstopped: interrupted\n")) {
		t.Errorf("stdout does not say the run was interrupted:\n%s", out)
	}
	if diff := cmp.Diff([]string{"out.pcap"}, dirNames(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if n := countPackets(t, written); n != 17 {
		t.Errorf("%s holds %d packets, want 17", written, n)
	}
}

// A capture that stops making sense is one line that says where, exit 2.
func TestTraceCorruptCaptures(t *testing.T) {
	w := incidentCapture(t)
	full := w.Pcap(capturetest.LinkEthernet)
	ng := w.Pcapng()
	shbLen := int(binary.LittleEndian.Uint32(ng[4:8]))
	idbLen := int(binary.LittleEndian.Uint32(ng[shbLen+4 : shbLen+8]))
	idb := ng[shbLen : shbLen+idbLen]
	manyIDBs := append(append(append([]byte{}, ng[:shbLen]...), bytes.Repeat(idb, 4097)...), ng[shbLen+idbLen:]...)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(full[:10])
	zw.Close()
	short := writeFile(t, "short.pcap", full[:10])
	shortGz := writeFile(t, "short.pcap.gz", gz.Bytes())
	badGz := writeFile(t, "bad.pcap.gz", gz.Bytes()[:12])
	text := writeFile(t, "notes.txt", []byte("hello, world"))
	ifaces := writeFile(t, "ifaces.pcapng", manyIDBs)
	for _, tc := range []struct{ path, stderr string }{
		{short, short + ": file header at offset 0: the file ends inside the pcap header (10 of 24 bytes)"},
		{shortGz, shortGz + ": file header at uncompressed offset 0: the file ends inside the pcap header (10 of 24 bytes)"},
		{badGz, badGz + ": file header at uncompressed offset 0: gzip: unexpected EOF"},
		{text, text + ": not a pcap or pcapng file (it starts with 68656c6c)"},
		{ifaces, "reading " + ifaces + ": packet 1 at offset " + strconv.Itoa(shbLen+4096*idbLen) +
			": more than 4096 interface descriptions in one section; the findings before it are above"},
	} {
		t.Run(filepath.Base(tc.path), func(t *testing.T) {
			code, _, errOut := run(t, false, "trace", "-r", tc.path)
			if code != ExitTrouble {
				t.Errorf("exit code %d, want %d", code, ExitTrouble)
			}
			if diff := cmp.Diff("arpdoctor: "+tc.stderr+"\n", errOut); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}
