package sysctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoData says a FIFO or device gave no end of data in time.
var ErrNoData = errors.New("no end of data")

// specialReader reads a FIFO or a device opened with O_NONBLOCK through
// the runtime's poller, so that a read waits with a deadline and stops as
// soon as ctx is done instead of blocking a thread for ever.
type specialReader struct {
	ctx      context.Context
	f        *os.File
	timeout  time.Duration
	stop     func() bool
	once     sync.Once
	sawData  bool // a writer has shown up: the next end of data is the end
	deadline bool // the poller takes deadlines for f
}

func newSpecialReader(ctx context.Context, f *os.File, timeout time.Duration) *specialReader {
	r := &specialReader{ctx: ctx, f: f, timeout: timeout}
	r.deadline = f.SetReadDeadline(time.Now().Add(timeout)) == nil
	if r.deadline {
		// Cancelling ctx moves the deadline to now, which wakes the read.
		r.stop = context.AfterFunc(ctx, func() { f.SetReadDeadline(time.Now()) })
	}
	return r
}

func (r *specialReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, r.fail(err)
	}
	if !r.deadline {
		// Not pollable (such as /dev/zero): reads do not wait, and the
		// size limit ends an endless one.
		return r.f.Read(p)
	}
	rc, err := r.f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), p)
		switch {
		case rerr == unix.EAGAIN:
			// A writer is there but has written nothing yet.
			r.sawData = true
			return false
		case rerr == unix.EINTR:
			return false
		case rerr == nil && n == 0 && !r.sawData:
			// A FIFO that no writer has opened reads as empty; wait for
			// a writer rather than take that for an empty file.
			r.sawData = true
			return false
		}
		return true
	})
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if cerr := r.ctx.Err(); cerr != nil {
				return 0, r.fail(cerr)
			}
			return 0, r.fail(fmt.Errorf("%w within %v: is anything writing to it?", ErrNoData, r.timeout))
		}
		return 0, err
	}
	if rerr != nil {
		return 0, rerr
	}
	if n > 0 {
		r.sawData = true
		return n, nil
	}
	r.release()
	return 0, io.EOF
}

func (r *specialReader) fail(err error) error {
	r.release()
	return err
}

func (r *specialReader) release() {
	r.once.Do(func() {
		if r.stop != nil {
			r.stop()
		}
	})
}
