package sysctl

import (
	"bufio"
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

// Parse reads a sysctl config file as sysctl.d(5) describes it: one
// "KEY = VALUE" per line, blanks around key and value ignored; empty lines
// and lines starting with # or ; ignored; a leading "-" before the key makes
// a failure to set it harmless, and "-KEY" alone excludes the key from
// globs. Keys use dots or slashes (see ParseKey) and may be globs. name is
// used in errors and in each Assignment's File.
//
// procps and systemd skip a malformed line with a warning at boot and go
// on; Parse stops at it instead, since a checker that guessed past it
// would vouch for a file the machine reads differently.
func Parse(r io.Reader, name string) ([]Assignment, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLineLen)
	var out []Assignment
	n := 0
	for sc.Scan() {
		n++
		a, ok, err := parseLine(sc.Text())
		if err != nil {
			return nil, &SyntaxError{File: name, Line: n, Msg: err.Error()}
		}
		if ok {
			a.File, a.Line = name, n
			out = append(out, a)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &SyntaxError{File: name, Line: n + 1, Msg: "line longer than 1 MiB"}
		}
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return out, nil
}

// parseLine reads one line; ok is false for blank and comment lines.
func parseLine(line string) (a Assignment, ok bool, err error) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' || line[0] == ';' {
		return a, false, nil
	}
	if strings.IndexByte(line, 0) >= 0 {
		return a, false, errors.New("NUL byte in line")
	}
	keyText, value, isAssignment := strings.Cut(line, "=")
	if !isAssignment {
		if line[0] != '-' {
			return a, false, fmt.Errorf("%q is not an assignment: want KEY = VALUE, or -KEY to keep KEY out of globs", clip(line))
		}
		a.Exclude = true
		keyText = line[1:]
	} else if strings.HasPrefix(keyText, "-") {
		a.IgnoreFailure = true
		keyText = keyText[1:]
	}
	keyText = strings.TrimSpace(keyText)
	if keyText == "" {
		return a, false, fmt.Errorf("%q has no key", clip(line))
	}
	a.Key, err = ParseKey(keyText)
	if err != nil {
		return a, false, err
	}
	a.Value = strings.TrimSpace(value)
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
