package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair of 100×24 cells.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		neightest.Skip(t, "no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 100}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// syncBuffer collects what the terminal shows.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// watch on a real terminal: full screen while it runs, and on SIGINT,
// SIGTERM, SIGQUIT (Ctrl-\) or SIGHUP the screen, the cursor and the echo
// come back and it exits 0.
func TestWatchRestoresTerminal(t *testing.T) {
	bin := binary(t)
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "tty", Addrs: []string{"192.0.2.40/24"}})
	h.SetNeigh(netip.MustParseAddr("192.0.2.41"), "02:00:00:00:00:41", neigh.Stale)

	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) {
			master, slave := openPTY(t)
			cmd := exec.Command(bin, "--netns", h.Name, "watch")
			cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
			cmd.Env = append(os.Environ(), "TERM=xterm")
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var screen syncBuffer
			go func() {
				buf := make([]byte, 4096)
				for {
					n, err := master.Read(buf)
					screen.mu.Lock()
					screen.b.Write(buf[:n])
					screen.mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
			deadline := time.Now().Add(15 * time.Second)
			for !strings.Contains(screen.String(), "02:00:00:00:00:41") {
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					t.Fatalf("no screen with the entry; terminal shows %q", screen.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			tio, err := unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if tio.Lflag&unix.ECHO != 0 {
				t.Error("echo left on while the view is up")
			}
			cmd.Process.Signal(sig)
			err = cmd.Wait()
			if err != nil {
				t.Errorf("after %v: %v, want exit 0", sig, err)
			}
			time.Sleep(100 * time.Millisecond) // let the reader catch the last bytes
			out := screen.String()
			if !strings.HasPrefix(out, "\x1b[?1049h") || !strings.HasSuffix(out, "\x1b[?25h\x1b[?1049l") {
				t.Errorf("alternate screen not entered and left: starts %q, ends %q", head(out), tail(out))
			}
			tio, err = unix.IoctlGetTermios(int(slave.Fd()), unix.TCGETS)
			if err != nil {
				t.Fatal(err)
			}
			if tio.Lflag&unix.ECHO == 0 || tio.Lflag&unix.ICANON == 0 {
				t.Error("echo or line mode not restored")
			}
		})
	}
}

func head(s string) string { return s[:min(len(s), 40)] }
func tail(s string) string { return s[max(0, len(s)-40):] }
