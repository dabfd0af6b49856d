package commands

import (
	"errors"
	"fmt"
	"time"
)

// Exit codes, the same for every command.
const (
	// ExitOK: healthy, or done.
	ExitOK = 0
	// ExitProblems: the command worked and found problems (a check failed,
	// a finding was made).
	ExitProblems = 1
	// ExitTrouble: the command could not do its job: bad usage, bad input,
	// missing privilege, missing interface.
	ExitTrouble = 2
)

// ErrProblems is what a command returns after printing a report that holds
// problems: the exit code is ExitProblems and nothing more is printed.
var ErrProblems = errors.New("problems found")

// silentError ends a command whose output already said what went wrong:
// nothing more is printed, and the exit code is code.
type silentError struct {
	err  error
	code int
}

func (e *silentError) Error() string { return e.err.Error() }
func (e *silentError) Unwrap() error { return e.err }

// FlagError is a usage mistake: a bad flag, value or argument.
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

func flagErrorf(format string, args ...any) error {
	return &FlagError{Err: fmt.Errorf(format, args...)}
}

// exitCode maps a command's error to the process's exit code.
func exitCode(err error) int {
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, ErrProblems):
		return ExitProblems
	}
	var se *silentError
	if errors.As(err, &se) {
		return se.code
	}
	return ExitTrouble
}

// inRange checks a duration flag against the range that makes sense for
// it: a typo of a few zeros must not make a command wait for a year.
func inRange(flag string, d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return flagErrorf("%s %s: want %s to %s", flag, d, lo, hi)
	}
	return nil
}

// maxRetries bounds the requests sent again to one IP.
const maxRetries = 10

// maxMaxHandshakes bounds trace's table: about 200 bytes a handshake.
const maxMaxHandshakes = 10_000_000

// probeFlags checks the pacing flags of the commands that probe.
func probeFlags(timeout time.Duration, retries int) error {
	if err := inRange("--timeout", timeout, time.Millisecond, time.Minute); err != nil {
		return err
	}
	if retries < 0 || retries > maxRetries {
		return flagErrorf("--retries %d: want 0 to %d", retries, maxRetries)
	}
	return nil
}
