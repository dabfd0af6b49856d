package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/mattn/go-runewidth"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal pair of 100×24 cells.
func openPTY(t testing.TB) (master, slave *os.File) {
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

// ptyWatch is arpdoctor watch running on a pseudo-terminal.
type ptyWatch struct {
	cmd           *exec.Cmd
	master, slave *os.File
	screen        syncBuffer
}

// startWatch runs the binary with args (its stdin, stdout and stderr the
// terminal, which is its controlling terminal) and waits for its screen
// to show want.
func startWatch(t *testing.T, bin, want string, args ...string) *ptyWatch {
	t.Helper()
	p := &ptyWatch{}
	p.master, p.slave = openPTY(t)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = p.slave, p.slave, p.slave
	p.cmd.Env = append(os.Environ(), "TERM=xterm")
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := p.master.Read(buf)
			p.screen.mu.Lock()
			p.screen.b.Write(buf[:n])
			p.screen.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	p.waitFor(t, "the entry", func(rows []string) bool { return slices.ContainsFunc(rows, has(want)) })
	return p
}

func has(sub string) func(string) bool {
	return func(s string) bool { return strings.Contains(s, sub) }
}

// waitFor waits until the screen, as a terminal shows it, satisfies ok.
func (p *ptyWatch) waitFor(t *testing.T, what string, ok func(rows []string) bool) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		rows := p.rows(t)
		if ok(rows) {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("no screen with %s; the terminal shows:\n%s", what, strings.Join(rows, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// rows plays what arpdoctor wrote on a screen of the terminal's size.
func (p *ptyWatch) rows(t *testing.T) []string {
	t.Helper()
	ws, err := unix.IoctlGetWinsize(int(p.slave.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		t.Fatal(err)
	}
	return play(p.screen.String(), int(ws.Col), int(ws.Row))
}

// termios is the terminal's mode now.
func (p *ptyWatch) termios(t *testing.T) *unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio
}

// wait waits for the process to end and checks that it exited 0 and gave
// the terminal back: main screen, cursor, echo and line mode.
func (p *ptyWatch) wait(t *testing.T, how string) {
	t.Helper()
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after %s: %v, want exit 0", how, err)
		}
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-exited
		t.Fatalf("still running 20 s after %s", how)
	}
	time.Sleep(100 * time.Millisecond) // let the reader catch the last bytes
	out := p.screen.String()
	if !strings.HasPrefix(out, "\x1b[?1049h") || !strings.HasSuffix(out, "\x1b[?25h\x1b[?1049l") {
		t.Errorf("after %s: alternate screen not entered and left: starts %q, ends %q", how, head(out), tail(out))
	}
	if tio := p.termios(t); tio.Lflag&unix.ECHO == 0 || tio.Lflag&unix.ICANON == 0 {
		t.Errorf("after %s: echo or line mode not restored", how)
	}
}

// play is a small terminal: it applies text, CR, LF and the escape
// sequences watch writes (cursor position, erase line, erase below or
// all; modes and colors are ignored) to a width×height screen of cells,
// and returns its rows without trailing blanks.
func play(out string, width, height int) []string {
	screen := make([][]rune, height)
	clear := func(r, from int) {
		for c := from; c < width; c++ {
			screen[r][c] = ' '
		}
	}
	for r := range screen {
		screen[r] = make([]rune, width)
		clear(r, 0)
	}
	row, col := 0, 0
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch ch := rs[i]; {
		case ch == '\x1b' && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && (rs[j] < 0x40 || rs[j] > 0x7e) {
				j++
			}
			if j == len(rs) {
				i = j
				break
			}
			params := string(rs[i+2 : j])
			n := func(k, def int) int {
				f := strings.Split(params, ";")
				if k < len(f) {
					if v, err := strconv.Atoi(f[k]); err == nil {
						return v
					}
				}
				return def
			}
			switch rs[j] {
			case 'H':
				row, col = min(max(n(0, 1)-1, 0), height-1), min(max(n(1, 1)-1, 0), width-1)
			case 'K':
				switch n(0, 0) {
				case 0:
					clear(row, col)
				case 2:
					clear(row, 0)
				}
			case 'J':
				from := row
				if n(0, 0) == 2 {
					from = 0
				} else {
					clear(row, col)
					from = row + 1
				}
				for r := from; r < height; r++ {
					clear(r, 0)
				}
			}
			i = j
		case ch == '\r':
			col = 0
		case ch == '\n':
			row = min(row+1, height-1)
		case ch < ' ':
		default:
			if col < width {
				screen[row][col] = ch
				// A wide character takes two cells; the terminal moves
				// past both.
				if runewidth.RuneWidth(ch) == 2 && col+1 < width {
					col++
					screen[row][col] = 0
				}
				col++
			}
		}
	}
	lines := make([]string, height)
	for r := range screen {
		lines[r] = strings.TrimRight(strings.ReplaceAll(string(screen[r]), "\x00", ""), " ")
	}
	return lines
}

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
			p := startWatch(t, bin, "02:00:00:00:00:41", "--netns", h.Name, "watch")
			if tio := p.termios(t); tio.Lflag&(unix.ECHO|unix.ICANON) != 0 {
				t.Error("echo or line mode left on while the view is up")
			}
			p.cmd.Process.Signal(sig)
			p.wait(t, sig.String())
		})
	}
}

// Each quit key, typed on the terminal, ends watch with exit 0 and gives
// the terminal back. Ctrl-C typed is the terminal's SIGINT.
func TestWatchQuitKeys(t *testing.T) {
	bin := binary(t)
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "tty", Addrs: []string{"192.0.2.40/24"}})
	h.SetNeigh(netip.MustParseAddr("192.0.2.41"), "02:00:00:00:00:41", neigh.Stale)

	for _, k := range []struct{ name, typed string }{{"q", "q"}, {"Q", "Q"}, {"Esc", "\x1b"}, {"Ctrl-C", "\x03"}} {
		t.Run(k.name, func(t *testing.T) {
			p := startWatch(t, bin, "02:00:00:00:00:41", "--netns", h.Name, "watch")
			if tio := p.termios(t); tio.Lflag&(unix.ECHO|unix.ICANON) != 0 || tio.Lflag&unix.ISIG == 0 {
				t.Errorf("terminal mode while the view is up: lflag %#x, want ECHO and ICANON off, ISIG on", tio.Lflag)
			}
			// Arrow keys start with ESC, and are not Esc: the view goes
			// on, and draws the next second's clock.
			if _, err := p.master.Write([]byte("\x1b[A\x1bOB")); err != nil {
				t.Fatal(err)
			}
			clock := p.rows(t)[0]
			p.waitFor(t, "the next second", func(rows []string) bool { return rows[0] != clock })
			if _, err := p.master.Write([]byte(k.typed)); err != nil {
				t.Fatal(err)
			}
			p.wait(t, k.name)
		})
	}
}

// Ctrl-Z (SIGTSTP) gives the terminal back before watch stops, and fg
// (SIGCONT) takes it again with the whole screen drawn.
func TestWatchSuspend(t *testing.T) {
	bin := binary(t)
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "tty", Addrs: []string{"192.0.2.40/24"}})
	h.SetNeigh(netip.MustParseAddr("192.0.2.41"), "02:00:00:00:00:41", neigh.Stale)
	p := startWatch(t, bin, "02:00:00:00:00:41", "--netns", h.Name, "watch")

	p.cmd.Process.Signal(syscall.SIGTSTP)
	waitState(t, p.cmd.Process.Pid, 'T')
	time.Sleep(100 * time.Millisecond) // let the reader catch the last bytes
	if out := p.screen.String(); !strings.HasSuffix(out, "\x1b[?25h\x1b[?1049l") {
		t.Errorf("stopped without leaving the alternate screen: ends %q", tail(out))
	}
	if tio := p.termios(t); tio.Lflag&unix.ECHO == 0 || tio.Lflag&unix.ICANON == 0 {
		t.Error("stopped without restoring echo and line mode")
	}

	stoppedAt := len(p.screen.String())
	p.cmd.Process.Signal(syscall.SIGCONT)
	p.waitFor(t, "the view again", func([]string) bool {
		again := p.screen.String()[stoppedAt:]
		return strings.HasPrefix(again, "\x1b[?1049h") && strings.Contains(again, "02:00:00:00:00:41")
	})
	if tio := p.termios(t); tio.Lflag&(unix.ECHO|unix.ICANON) != 0 {
		t.Error("continued without taking the keys again")
	}
	p.master.Write([]byte("q"))
	p.wait(t, "q")
}

// waitState waits for a process to be in a state of /proc/PID/stat.
func waitState(t *testing.T, pid int, state byte) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if f[0][0] == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process in state %s, want %c", f[0], state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// On a terminal 40 columns wide, the table leaves out the ages and the
// interface; no title or cell is cut except with a mark.
func TestWatchNarrowTerminal(t *testing.T) {
	bin := binary(t)
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "tty", Addrs: []string{"192.0.2.40/24"}})
	h.SetNeigh(netip.MustParseAddr("192.0.2.41"), "02:00:00:00:00:41", neigh.Stale)
	p := startWatch(t, bin, "02:00:00:00:00:41", "--netns", h.Name, "watch")

	// The kernel sends SIGWINCH to the terminal's foreground process group
	// when the size changes; the signal is sent again in case it merges.
	if err := unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 40}); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGWINCH)
	rows := p.waitFor(t, "the narrow table", func(rows []string) bool {
		return slices.Contains(rows, "  IP          MAC                STATE")
	})
	titles := map[string]bool{"IP": true, "MAC": true, "INTERFACE": true, "STATE": true, "CONFIRMED": true, "USED": true, "UPDATED": true}
	for _, r := range rows {
		if strings.HasPrefix(r, "  IP ") {
			for _, f := range strings.Fields(r) {
				if !titles[f] && !strings.HasSuffix(f, "…") {
					t.Errorf("title %q cut without a mark in %q", f, r)
				}
			}
		}
		if strings.Contains(r, "192.0.2.41") && r != "  192.0.2.41  02:00:00:00:00:41  STALE" {
			t.Errorf("row %q, want IP, MAC and state whole", r)
		}
		if w := runewidth.StringWidth(r); w > 40 {
			t.Errorf("row of %d cells on a 40-column terminal: %q", w, r)
		}
	}
	p.master.Write([]byte("q"))
	p.wait(t, "q")
}

// The kernel moves a STALE entry to DELAY when traffic uses it, and says
// nothing on netlink: the screen shows DELAY all the same, from its
// re-read of the table, and no event line claims it.
func TestWatchShowsDelay(t *testing.T) {
	bin := binary(t)
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "tty", Addrs: []string{"192.0.2.40/24"}})
	// DELAY lasts a minute instead of 5 s, so that the first probe (an
	// event) does not end it before the screen has shown it.
	if err := h.Sysctl("net/ipv4/neigh/eth0/delay_first_probe_time", "60"); err != nil {
		t.Fatal(err)
	}
	h.SetNeigh(netip.MustParseAddr("192.0.2.41"), "02:00:00:00:00:41", neigh.Stale)
	p := startWatch(t, bin, "STALE", "--netns", h.Name, "watch")

	conn, err := h.Dial(context.Background(), "udp", "192.0.2.41:9")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	rows := p.waitFor(t, "DELAY", func(rows []string) bool {
		return slices.ContainsFunc(rows, func(r string) bool { return strings.Contains(r, "192.0.2.41") && strings.Contains(r, "DELAY") })
	})
	if i := slices.Index(rows, "EVENTS"); i >= 0 && slices.ContainsFunc(rows[i:], has("DELAY")) {
		t.Errorf("an event line claims the DELAY the kernel did not announce:\n%s", strings.Join(rows, "\n"))
	}
	p.master.Write([]byte("q"))
	p.wait(t, "q")
}

func head(s string) string { return s[:min(len(s), 40)] }
func tail(s string) string { return s[max(0, len(s)-40):] }

// BenchmarkWatchIdle measures what arpdoctor watch costs on a terminal
// while nothing changes: the CPU time (utime and stime from
// /proc/PID/stat) of the process over ARPDOCTOR_IDLE_SECONDS (default 60),
// in a lab with a few entries that stay as they are, after 2 s to settle.
// Run it once: -benchtime 1x. ARPDOCTOR_IDLE_BIN names another build to
// measure instead of this tree's.
func BenchmarkWatchIdle(b *testing.B) {
	secs := 60
	if v, err := strconv.Atoi(os.Getenv("ARPDOCTOR_IDLE_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	bin := os.Getenv("ARPDOCTOR_IDLE_BIN")
	if bin == "" {
		bin = filepath.Join(b.TempDir(), "arpdoctor")
		build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	lab := neightest.NewLab(b)
	h := lab.AddHost(neightest.HostConfig{Name: "idle", Addrs: []string{"192.0.2.40/24", "2001:db8::40/64"}})
	for i, st := range []neigh.State{neigh.Permanent, neigh.Permanent, neigh.Permanent, neigh.Stale, neigh.Stale} {
		h.SetNeigh(netip.MustParseAddr(fmt.Sprintf("192.0.2.%d", 41+i)), fmt.Sprintf("02:00:00:00:00:%02x", 0x41+i), st)
	}
	h.SetNeigh(netip.MustParseAddr("2001:db8::41"), "02:00:00:00:00:41", neigh.Stale)

	for b.Loop() {
		master, slave := openPTY(b)
		cmd := exec.Command(bin, "--netns", h.Name, "watch")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.Env = append(os.Environ(), "TERM=xterm")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		go io.Copy(io.Discard, master) // a terminal that keeps up
		time.Sleep(2 * time.Second)
		start := cpuTicks(b, cmd.Process.Pid)
		time.Sleep(time.Duration(secs) * time.Second)
		used := cpuTicks(b, cmd.Process.Pid) - start
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		ms := float64(used) * 1000 / float64(userHZ)
		b.ReportMetric(ms, "ms-cpu")
		b.ReportMetric(ms/10/float64(secs), "%-core")
	}
}

// userHZ is the unit of /proc/PID/stat's times; 100 on Linux.
const userHZ = 100

// cpuTicks is a process's utime plus stime, in clock ticks.
func cpuTicks(b *testing.B, pid int) int64 {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return utime + stime
}
