package namespaces

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestReadProcFileUntrusted: what lies under a proc root is not trusted. A
// FIFO (whose open and read would block), /dev/zero (whose read never
// ends) and an oversized file are refused rather than hanging the
// discovery or growing without bound.
func TestReadProcFileUntrusted(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("x", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("1 (init) S 0"), 0o600); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	for _, tc := range []struct {
		path string
		want error
	}{
		{fifo, errNotRegular},
		{zero, errNotRegular},
		{dir, errNotRegular},
		{big, errTooLarge},
	} {
		if _, err := readProcFile(tc.path, &buf, 64); !errors.Is(err, tc.want) {
			t.Errorf("readProcFile(%s): got %v, want %v", filepath.Base(tc.path), err, tc.want)
		}
	}
	b, err := readProcFile(small, &buf, 64)
	if err != nil || string(b) != "1 (init) S 0" {
		t.Errorf("readProcFile(small) = %q, %v", b, err)
	}
	// Exactly the limit is still read.
	if b, err := readProcFile(big, &buf, 100); err != nil || len(b) != 100 {
		t.Errorf("readProcFile(big) at its size: %d bytes, %v", len(b), err)
	}
}

// TestDiscoverUntrustedProcRoot: a proc root whose stat, cgroup and
// mountinfo files are FIFOs or /dev/zero finishes its discovery, leaving
// those processes out with a note.
func TestDiscoverUntrustedProcRoot(t *testing.T) {
	dir := t.TempDir()
	proc := filepath.Join(dir, "proc")
	for _, pid := range []string{"1", "100", "200"} {
		if err := os.MkdirAll(filepath.Join(proc, pid, "ns"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, pid, "ns", "net"), []byte("net:[4026531840]"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(proc, "1", "stat"), []byte("1 (init) S 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 10"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(proc, "1", "cgroup"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(proc, "1", "mountinfo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(proc, "100", "stat"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(proc, "200", "stat")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(proc, "self"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(proc, "self", "mountinfo"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := discover(context.Background(), Options{ProcRoot: proc, NamedDirs: []string{}, BindDirs: []string{}},
		system{netnsID: fixtureNetNSID, self: filepath.Join(proc, "self")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Namespaces) != 1 || len(res.Namespaces[0].Processes) != 1 || res.Namespaces[0].Processes[0].PID != 1 {
		t.Errorf("namespaces: got %+v, want PID 1's alone", res.Namespaces)
	}
	var errored int
	for _, n := range res.Notes {
		if n.Reason == ReasonError {
			errored = n.Count
		}
	}
	if errored < 2 {
		t.Errorf("notes: got %+v, want the FIFO and /dev/zero noted as errors", res.Notes)
	}
}
