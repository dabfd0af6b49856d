package commands

import (
	"os"

	"golang.org/x/sys/unix"
)

// terminal is what a full-screen view needs from the terminal it draws
// on; nil in IOStreams when stdout is not one.
type terminal interface {
	// size returns the window's width and height in cells.
	size() (width, height int, err error)
	// quiet stops the terminal echoing what is typed, so that keys do not
	// scribble on the view; restore undoes it.
	quiet() (restore func(), err error)
}

// ttyTerminal is the process's own terminal: stdout for the size, stdin
// for the echo.
type ttyTerminal struct{ out, in *os.File }

func (t ttyTerminal) size() (int, int, error) {
	ws, err := unix.IoctlGetWinsize(int(t.out.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0, 0, err
	}
	return int(ws.Col), int(ws.Row), nil
}

func (t ttyTerminal) quiet() (func(), error) {
	fd := int(t.in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}, nil // stdin is not a terminal: nothing echoes
	}
	q := *old
	q.Lflag &^= unix.ECHO | unix.ICANON
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &q); err != nil {
		return nil, err
	}
	return func() { unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}

// Escape sequences of the full-screen views.
const (
	enterFullScreen = "\x1b[?1049h\x1b[?25l" // alternate screen, cursor hidden
	leaveFullScreen = "\x1b[?25h\x1b[?1049l" // cursor shown, main screen back
	cursorHome      = "\x1b[H"
	clearToEOL      = "\x1b[K"
	clearBelow      = "\x1b[J"
)
