package commands

import (
	"bufio"
	"context"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh/neightest"
)

// A live capture killed outright (SIGKILL, the OOM killer) keeps what it
// saw in the file named by -w: the header is there from the start and the
// packets reach the file within a second, or at once with -U.
func TestTraceKilledKeepsCapture(t *testing.T) {
	in := neightest.NewIncident(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "arpdoctor")
	build := exec.Command("go", "build", "-o", bin, "../cmd/arpdoctor")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name  string
		flags []string
	}{
		{"buffered", nil},
		{"packet-buffered", []string{"-U"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			written := filepath.Join(dir, tc.name+".pcap")
			args := append([]string{"--netns", in.Server.Name, "trace", "-i", "eth0", "-w", written}, tc.flags...)
			cmd := exec.Command(bin, args...)
			stderr, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			defer cmd.Process.Kill()
			line, err := bufio.NewReader(stderr).ReadString('\n')
			if !strings.HasPrefix(line, "capturing on eth0") {
				t.Fatalf("trace says %q (%v), want capturing on eth0", line, err)
			}
			// The header comes first, before any packet.
			waitFor(t, func() bool { fi, err := os.Stat(written); return err == nil && fi.Size() >= 24 })
			// A handshake, whether it works or not: packets that pass
			// trace's filter.
			ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
			in.Connect(ctx)
			cancel()
			waitFor(t, func() bool { return countPacketsMaybe(written) >= 2 })
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			if n := countPackets(t, written); n < 2 {
				t.Errorf("%s holds %d packets after SIGKILL, want the SYNs and SYN-ACKs", written, n)
			}
			// Written in place: no temporary file to look for.
			for _, name := range dirNames(t, dir) {
				if strings.HasSuffix(name, ".partial") {
					t.Errorf("%s left beside the capture", name)
				}
			}
		})
	}
}

// waitFor polls until ok, for what a process does in its own time. The
// limit only keeps a broken build from hanging the test run: a second is
// what the writer promises.
func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("not there after 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countPacketsMaybe counts the whole packets of a pcap file being
// written, 0 when it cannot be read yet.
func countPacketsMaybe(path string) int {
	data, err := os.ReadFile(path)
	if err != nil || len(data) < 24 {
		return 0
	}
	n := 0
	for off := 24; off+16 <= len(data); n++ {
		caplen := int(binary.LittleEndian.Uint32(data[off+8:]))
		if off+16+caplen > len(data) {
			break
		}
		off += 16 + caplen
	}
	return n
}
