package sysctl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Assignment is one setting line of a sysctl config file.
type Assignment struct {
	Key   Key    `json:"key"`
	Value string `json:"value"`
	// Exclude marks a "-KEY" line without "=": systemd-sysctl keeps the
	// key out of the glob assignments that match it.
	Exclude bool `json:"exclude,omitempty"`
	// IgnoreFailure marks a "-KEY = VALUE" line: failing to set it at
	// boot (the key does not exist, say) is not an error.
	IgnoreFailure bool   `json:"ignore_failure,omitempty"`
	File          string `json:"file"`
	Line          int    `json:"line"`
}

// Where names the assignment's file and line, as in "/etc/sysctl.conf:12".
func (a Assignment) Where() string { return fmt.Sprintf("%s:%d", a.File, a.Line) }

// String writes the assignment as a config line that parses back to it.
func (a Assignment) String() string {
	key := string(a.Key)
	if strings.IndexAny(key, "-#;") == 0 {
		// Written so, the line would start a comment or change meaning;
		// the slash form says the same key.
		key = "/" + a.Key.Path()
	}
	switch {
	case a.Exclude:
		return "-" + key
	case a.IgnoreFailure:
		return "-" + key + " = " + a.Value
	}
	return key + " = " + a.Value
}

// SyntaxError is a line that procps and systemd-sysctl would not take as a
// setting.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// maxLineLen is systemd's LONG_LINE_MAX: no config line is longer.
const maxLineLen = 1 << 20

// Bounds on one config or policy file. Real ones are a few kilobytes; a
// file past these is a mistake or an attack, and reading it whole would
// cost memory for nothing.
const (
	MaxFileLines = 50_000
	MaxFileBytes = 4 << 20
)

// LimitError says a file is larger than a config or policy file can be.
type LimitError struct {
	File  string
	Limit int
	Unit  string // "lines" or "bytes"
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("file %s: more than %d %s", e.File, e.Limit, e.Unit)
}

// Parse reads a sysctl config file as sysctl.d(5) describes it: one
// "KEY = VALUE" per line, blanks around key and value ignored; empty lines
// and lines starting with # or ; ignored; a leading "-" before the key makes
// a failure to set it harmless, and "-KEY" alone excludes the key from
// globs. Keys use dots or slashes (see ParseKey) and may be globs. name is
// used in errors and in each Assignment's File.
//
// procps and systemd skip a malformed line with a warning at boot and go
// on; Parse stops at it instead, since a checker that guessed past it
// would vouch for a file the machine reads differently. A file of more
// than MaxFileLines lines or MaxFileBytes bytes is a *LimitError.
func Parse(r io.Reader, name string) ([]Assignment, error) {
	var out []Assignment
	err := parseEach(r, name, func(a Assignment) { out = append(out, a) })
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parseEach parses r and hands each assignment to f as it is read, so
// that a caller that merges them keeps no copy of the whole file.
func parseEach(r io.Reader, name string, f func(Assignment)) error {
	return scanLines(r, name, func(n int, line []byte) error {
		a, ok, err := parseLine(line)
		if err != nil {
			return &SyntaxError{File: name, Line: n, Msg: err.Error()}
		}
		if ok {
			a.File, a.Line = name, n
			f(a)
		}
		return nil
	})
}

// scanLines hands each line of r to f, with its number, within the bounds
// of a config file. The line is only valid during the call.
func scanLines(r io.Reader, name string, f func(n int, line []byte) error) error {
	sc := bufio.NewScanner(&limitedReader{r: r, left: MaxFileBytes + 1})
	sc.Buffer(make([]byte, 0, 4096), maxLineLen)
	n, size := 0, 0
	for sc.Scan() {
		n++
		size += len(sc.Bytes()) + 1
		if n > MaxFileLines {
			return &LimitError{File: name, Limit: MaxFileLines, Unit: "lines"}
		}
		if size > MaxFileBytes+1 {
			return &LimitError{File: name, Limit: MaxFileBytes, Unit: "bytes"}
		}
		if err := f(n, sc.Bytes()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		switch {
		case errors.Is(err, errTooBig):
			return &LimitError{File: name, Limit: MaxFileBytes, Unit: "bytes"}
		case errors.Is(err, bufio.ErrTooLong):
			return &SyntaxError{File: name, Line: n + 1, Msg: "line longer than 1 MiB"}
		}
		return fmt.Errorf("reading %s: %w", name, err)
	}
	return nil
}

var errTooBig = errors.New("file too big")

// limitedReader fails once more than left bytes were read, where
// io.LimitReader would end quietly and let a truncated file pass.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, errTooBig
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// parseLine reads one line; ok is false for blank and comment lines. The
// key and value are copied out of line, and nothing else is kept.
func parseLine(line []byte) (a Assignment, ok bool, err error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] == '#' || line[0] == ';' {
		return a, false, nil
	}
	if bytes.IndexByte(line, 0) >= 0 {
		return a, false, errors.New("NUL byte in line")
	}
	keyText, value, isAssignment := bytes.Cut(line, []byte("="))
	if !isAssignment {
		if line[0] != '-' {
			return a, false, fmt.Errorf("%q is not an assignment: want KEY = VALUE, or -KEY to keep KEY out of globs", clip(string(line)))
		}
		a.Exclude = true
		keyText = line[1:]
	} else if bytes.HasPrefix(keyText, []byte("-")) {
		a.IgnoreFailure = true
		keyText = keyText[1:]
	}
	keyText = bytes.TrimSpace(keyText)
	if len(keyText) == 0 {
		return a, false, fmt.Errorf("%q has no key", clip(string(line)))
	}
	a.Key, err = ParseKey(string(keyText))
	if err != nil {
		return a, false, err
	}
	a.Value = string(bytes.TrimSpace(value))
	return a, true, nil
}

// clip shortens a line quoted in an error message.
func clip(s string) string {
	const max = 60
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
