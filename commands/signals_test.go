package commands

import (
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A command stopped while its output blocks (a pipe nobody reads, as in
// `arpdoctor watch -o json | sleep 25`) is given up after the grace
// period, with one line, instead of outliving the signal.
func TestStoppedWhileOutputBlocks(t *testing.T) {
	defer func(d time.Duration) { drainGrace = d }(drainGrace)
	drainGrace = 100 * time.Millisecond
	ios, _, _, errOut := TestStreams()
	pr, pw := io.Pipe() // never read
	defer pr.Close()
	ios.Out = pw
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeNeigh{entries: fixedEntries()}
	done := make(chan int, 1)
	go func() {
		done <- runUntilStopped(ctx, func(msg string) { errOut.WriteString("arpdoctor: " + msg + "\n") }, func() int {
			return mainWith(ctx, ios, fakeSeams(f, nil), []string{"neigh", "-o", "json"})
		})
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case code := <-done:
		if code != ExitTrouble || !strings.HasPrefix(errOut.String(), "arpdoctor: stopped: still busy 100ms after the signal") {
			t.Errorf("exit %d, stderr %q", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still blocked 10s after the signal")
	}
}

func TestCleanupsRunOnce(t *testing.T) {
	n := 0
	remove := atExit(func() { n++ })
	gone := atExit(func() { n += 100 })
	gone()
	runCleanups()
	runCleanups()
	remove()
	if n != 1 {
		t.Errorf("cleanups ran to %d, want 1", n)
	}
}

// TestHangupWhileRegistered: with a hangup handler, SIGHUP calls it and
// stops nothing; the next signal stops as before, and SIGHUP stops again
// once the handler is removed.
func TestHangupWhileRegistered(t *testing.T) {
	sigs := make(chan os.Signal, 4)
	done := make(chan struct{})
	cancelled := make(chan struct{})
	exited := make(chan os.Signal, 1)
	hups := make(chan struct{}, 4)
	remove := onHangup(func() { hups <- struct{}{} })
	finished := make(chan struct{})
	go func() {
		watchSignals(sigs, done, func() { close(cancelled) }, func(s os.Signal) { exited <- s })
		close(finished)
	}()
	sigs <- syscall.SIGHUP
	sigs <- syscall.SIGHUP
	<-hups
	<-hups
	select {
	case <-cancelled:
		t.Fatal("SIGHUP stopped the command")
	default:
	}
	sigs <- syscall.SIGTERM
	<-cancelled
	remove()
	sigs <- syscall.SIGHUP
	<-finished
	if s := <-exited; s != syscall.SIGHUP {
		t.Errorf("exit on %v, want SIGHUP", s)
	}
	if hangup.Load() != nil {
		t.Error("handler still registered")
	}
}
