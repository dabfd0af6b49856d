package commands

import (
	"bytes"
	"io"
	"os"

	"github.com/mattn/go-isatty"
)

// IOStreams are the streams a command reads and writes: results to Out,
// progress, warnings and errors to ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// OutTTY says Out is a terminal: headers, colors and other
	// decorations are for terminals only.
	OutTTY bool
	// Getenv reads the environment (NO_COLOR, TERM).
	Getenv func(string) string
	// Term is the terminal Out writes to, for full-screen views; nil when
	// Out is not a terminal.
	Term terminal
}

// System returns the process's standard streams.
func System() *IOStreams {
	fd := os.Stdout.Fd()
	ios := &IOStreams{
		In:     os.Stdin,
		Out:    os.Stdout,
		ErrOut: os.Stderr,
		OutTTY: isatty.IsTerminal(fd) || isatty.IsCygwinTerminal(fd),
		Getenv: os.Getenv,
	}
	if ios.OutTTY {
		ios.Term = ttyTerminal{out: os.Stdout, in: os.Stdin}
	}
	return ios
}

// TestStreams returns streams backed by buffers, Out not a terminal, and an
// empty environment.
func TestStreams() (ios *IOStreams, in, out, errOut *bytes.Buffer) {
	in, out, errOut = &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut, Getenv: func(string) string { return "" }}, in, out, errOut
}
