package regfile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	big := filepath.Join(dir, "big")
	fifo := filepath.Join(dir, "fifo")
	zero := filepath.Join(dir, "zero")
	if err := os.WriteFile(small, []byte("8 (cat) S 1"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, []byte(strings.Repeat("x", 1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want error
	}{
		{fifo, ErrNotRegular},
		{zero, ErrNotRegular},
		{dir, ErrNotRegular},
		{big, ErrTooLarge},
		{filepath.Join(dir, "missing"), os.ErrNotExist},
	} {
		if _, err := Read(tc.path, nil, 64, nil); !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("Read(%s): %v, want %v naming the file", filepath.Base(tc.path), err, tc.want)
		}
	}
	buf := make([]byte, 0, 4)
	if b, err := Read(small, buf, 64, nil); err != nil || string(b) != "8 (cat) S 1" {
		t.Errorf("Read(small) = %q, %v", b, err)
	}
	veto := errors.New("vetoed")
	if _, err := Read(small, nil, 64, func(int, *unix.Stat_t) error { return veto }); !errors.Is(err, veto) {
		t.Errorf("a check's error: %v", err)
	}
	// A file that grows past its stat size is cut at the limit.
	if _, err := Read("/proc/self/status", nil, 16, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Read(/proc/self/status, 16): %v, want ErrTooLarge", err)
	}
}
