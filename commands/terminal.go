package commands

import (
	"errors"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// terminal is what a full-screen view needs from the terminal it draws
// on; nil in IOStreams when stdout is not one.
type terminal interface {
	// size returns the window's width and height in cells.
	size() (width, height int, err error)
	// keys puts the terminal in a mode where each key arrives as it is
	// typed, without echo, and sends what is typed on the channel, one
	// read at a time. A read that ends with a lone ESC is an Esc key: the
	// rest of an escape sequence (an arrow key) would have followed within
	// escWait. stop ends the reading and gives the terminal its mode back;
	// it may be called more than once.
	keys() (typed <-chan []byte, stop func(), err error)
}

// escWait is how long the rest of an escape sequence may take to follow
// its ESC; a terminal sends a sequence in one write, so a lone ESC with
// nothing after it for this long is the Esc key.
const escWait = 50 * time.Millisecond

// ttyTerminal is the process's own terminal: stdout for the size, stdin
// for the keys.
type ttyTerminal struct{ out, in *os.File }

func (t ttyTerminal) size() (int, int, error) {
	ws, err := unix.IoctlGetWinsize(int(t.out.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0, err
	}
	return int(ws.Col), int(ws.Row), nil
}

func (t ttyTerminal) keys() (<-chan []byte, func(), error) {
	fd := int(t.in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		// stdin is not a terminal: nothing echoes, and no key can quit
		// (signals still do).
		return nil, func() {}, nil
	}
	cbreak := *old
	// ISIG stays on: Ctrl-C is SIGINT, which ends the view like any other
	// way out, and Ctrl-Z and Ctrl-\ keep their meaning.
	cbreak.Lflag &^= unix.ECHO | unix.ICANON
	cbreak.Cc[unix.VMIN], cbreak.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &cbreak); err != nil {
		return nil, nil, err
	}
	restore := func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }
	typed, stopReading, err := readKeys(fd)
	if err != nil {
		restore()
		return nil, nil, err
	}
	var once sync.Once
	return typed, func() {
		once.Do(func() {
			stopReading()
			restore()
		})
	}, nil
}

// readKeys reads fd in the background and sends each read on the
// channel, joining an ESC at the end of a read with what follows it
// within escWait. stop returns once the reader has stopped, so that no
// key meant for the shell is taken after the view is gone. The reader
// waits in poll(2) beside a pipe that stop writes to: the descriptor's
// flags are shared with the shell and are left alone.
func readKeys(fd int) (typed <-chan []byte, stop func(), err error) {
	var wake [2]int
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, nil, err
	}
	ch := make(chan []byte, 16)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		// wait reports whether fd has input within timeout (ms, -1 for
		// ever), and false once stop was called or fd is gone.
		wait := func(timeout int) (ready, ok bool) {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(wake[0]), Events: unix.POLLIN}}
			for {
				n, err := unix.Poll(fds, timeout)
				if errors.Is(err, unix.EINTR) {
					continue
				}
				if err != nil || fds[1].Revents != 0 {
					return false, false
				}
				if n == 0 {
					return false, true
				}
				if fds[0].Revents&unix.POLLIN == 0 {
					return false, false // hung up or invalid
				}
				return true, true
			}
		}
		buf := make([]byte, 256)
		for {
			if _, ok := wait(-1); !ok {
				return
			}
			n, err := unix.Read(fd, buf)
			if errors.Is(err, unix.EINTR) || errors.Is(err, unix.EAGAIN) {
				continue
			}
			if err != nil || n == 0 {
				return
			}
			got := append([]byte(nil), buf[:n]...)
			for got[len(got)-1] == 0x1b {
				ready, ok := wait(int(escWait / time.Millisecond))
				if !ok {
					return
				}
				if !ready {
					break
				}
				m, err := unix.Read(fd, buf)
				if err != nil || m == 0 {
					break
				}
				got = append(got, buf[:m]...)
			}
			select {
			case ch <- got:
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			close(done)
			unix.Write(wake[1], []byte{0})
			<-stopped
			unix.Close(wake[0])
			unix.Close(wake[1])
		})
	}, nil
}

// keyAction is what a key typed in a full-screen view asks for.
type keyAction int

const (
	keyNone keyAction = iota
	keyQuit
)

// keyActions reads what one read of the terminal typed: q, Q, Esc and
// Ctrl-C (should the terminal deliver it as a key) quit; escape sequences
// (arrow keys, function keys) and every other key are ignored.
func keyActions(b []byte) keyAction {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case 'q', 'Q', 0x03:
			return keyQuit
		case 0x1b:
			if i == len(b)-1 {
				return keyQuit // a lone ESC: the Esc key
			}
			i += escapeLen(b[i:]) - 1
		}
	}
	return keyNone
}

// escapeLen is the length of the escape sequence at the start of b (which
// starts with ESC): CSI (ESC [ ... final byte), SS3 (ESC O x), or ESC
// and one key (Alt+key).
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return len(b)
	}
	switch b[1] {
	case '[':
		for j := 2; j < len(b); j++ {
			if b[j] >= 0x40 && b[j] <= 0x7e {
				return j + 1
			}
		}
		return len(b)
	case 'O':
		return min(3, len(b))
	}
	return 2
}

// Escape sequences of the full-screen views.
const (
	enterFullScreen = "\x1b[?1049h\x1b[?25l" // alternate screen, cursor hidden
	leaveFullScreen = "\x1b[?25h\x1b[?1049l" // cursor shown, main screen back
	cursorHome      = "\x1b[H"
	eraseLine       = "\x1b[2K"
	clearBelow      = "\x1b[J"
	clearScreen     = "\x1b[2J"
)
