package commands

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The signals that end arpdoctor. The first stops the command cleanly: it
// prints what it has and gives back what it took (the terminal above
// all); a second ends the process at once, as go and kubectl do. SIGHUP
// (the terminal closed) and SIGQUIT (Ctrl-\) end it too, without Go's
// goroutine dump: a user who quits watch wants the terminal back.
var endSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// SignalContext returns a context that ends at the first of endSignals;
// at the second, the process runs the cleanups registered with atExit and
// exits at once with 128 plus the signal's number. stop releases the
// signals. While a command has registered onHangup, SIGHUP calls it
// instead and ends nothing.
func SignalContext() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, endSignals...)
	done := make(chan struct{})
	go watchSignals(sigs, done, cancel, func(s os.Signal) {
		runCleanups()
		os.Exit(128 + int(s.(syscall.Signal)))
	})
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

// watchSignals cancels at the first signal and calls exit at the second,
// until done; a SIGHUP while a hangup handler is registered is given to
// it and counts as neither.
func watchSignals(sigs <-chan os.Signal, done <-chan struct{}, cancel func(), exit func(os.Signal)) {
	next := func() (os.Signal, bool) {
		for {
			select {
			case s := <-sigs:
				if f := hangup.Load(); s == syscall.SIGHUP && f != nil {
					(*f)()
					continue
				}
				return s, true
			case <-done:
				return nil, false
			}
		}
	}
	if _, ok := next(); !ok {
		return
	}
	cancel()
	if s, ok := next(); ok {
		exit(s)
	}
}

// hangup is what SIGHUP does instead of stopping, while set.
var hangup atomic.Pointer[func()]

// onHangup makes SIGHUP call f rather than stop the command, for a
// long-running service whose supervisor sends SIGHUP to reload (and would
// not restart one that stopped cleanly). The returned func restores the
// stop.
func onHangup(f func()) (remove func()) {
	hangup.Store(&f)
	return func() { hangup.CompareAndSwap(&f, nil) }
}

// cleanups restore what a command changed outside the process (the
// terminal's mode and screen) when it cannot return normally.
var cleanups struct {
	sync.Mutex
	next int
	fns  map[int]func()
}

// atExit registers f to run if the process must end before the command
// returns; the returned func unregisters it.
func atExit(f func()) (remove func()) {
	cleanups.Lock()
	defer cleanups.Unlock()
	if cleanups.fns == nil {
		cleanups.fns = map[int]func(){}
	}
	id := cleanups.next
	cleanups.next++
	cleanups.fns[id] = f
	return func() {
		cleanups.Lock()
		delete(cleanups.fns, id)
		cleanups.Unlock()
	}
}

func runCleanups() {
	cleanups.Lock()
	fns := cleanups.fns
	cleanups.fns = nil
	cleanups.Unlock()
	for _, f := range fns {
		f()
	}
}

// drainGrace is how long a stopped command may take to print what it has
// and return: a write into a pipe nobody reads, or a read that blocks,
// never returns, and must not keep the process alive. It is longer than any command's own way of
// stopping (the exporter gives its last scrapes 5 s); a second signal ends
// the process at once.
var drainGrace = 10 * time.Second

// runUntilStopped runs f, and returns its exit code; if ctx ends and f has
// not returned within drainGrace, it gives up on f with ExitTrouble and
// one line on errOut.
func runUntilStopped(ctx context.Context, errOut func(string), f func() int) int {
	code := make(chan int, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				runCleanups()
				panic(r)
			}
		}()
		code <- f()
	}()
	select {
	case c := <-code:
		return c
	case <-ctx.Done():
	}
	select {
	case c := <-code:
		return c
	case <-time.After(drainGrace):
		runCleanups()
		// What blocks is not known here: a write into a pipe nobody reads
		// as much as a read of a file that never answers (a FIFO under a
		// proc root), so the line blames neither.
		errOut(fmt.Sprintf("stopped: still busy %s after the signal (a write or a read that blocks); gave up waiting", drainGrace))
		return ExitTrouble
	}
}
