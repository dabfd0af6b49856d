package commands

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// exporterLogQueue is how many log lines wait for a slow reader of the
// exporter's log before lines are dropped.
const exporterLogQueue = 1024

// exporterLogFlush is how long a stopping exporter waits for its last log
// lines to be written: a reader that is stuck must not keep it alive.
const exporterLogFlush = 2 * time.Second

// newExporterLogger is the exporter's logger. It never blocks its caller:
// the lines are written by a goroutine of their own, and when the reader
// of stderr stalls (a full pipe nobody reads) they queue up to
// exporterLogQueue and are then dropped and counted, so that a scrape or a
// collector never waits on the log. Once writing works again the log says
// how many lines it dropped. flush writes what is queued, waiting at most
// exporterLogFlush.
func newExporterLogger(w io.Writer, level slog.Level, format string) (logger *slog.Logger, flush func()) {
	a := newAsyncLog(newLogger(w, level, format).Handler(), exporterLogQueue)
	return slog.New(asyncHandler{a: a, h: a.root}), func() { a.close(exporterLogFlush) }
}

// asyncLog writes records queued by any of its handlers, in order.
type asyncLog struct {
	root    slog.Handler
	queue   chan queuedRecord
	dropped atomic.Uint64
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

type queuedRecord struct {
	h slog.Handler
	r slog.Record
}

func newAsyncLog(root slog.Handler, size int) *asyncLog {
	a := &asyncLog{root: root, queue: make(chan queuedRecord, size), stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a
}

func (a *asyncLog) run() {
	defer close(a.done)
	for {
		select {
		case q := <-a.queue:
			a.write(q)
		case <-a.stop:
			for {
				select {
				case q := <-a.queue:
					a.write(q)
				default:
					a.noteDropped()
					return
				}
			}
		}
	}
}

func (a *asyncLog) write(q queuedRecord) {
	a.noteDropped()
	_ = q.h.Handle(context.Background(), q.r)
}

// noteDropped says how many lines were dropped since it last did.
func (a *asyncLog) noteDropped() {
	if n := a.dropped.Swap(0); n > 0 {
		r := slog.NewRecord(time.Now(), slog.LevelWarn, "log lines dropped: the log's reader was too slow", 0)
		r.AddAttrs(slog.Uint64("dropped", n))
		_ = a.root.Handle(context.Background(), r)
	}
}

// close writes what is queued, waiting at most wait for a reader that is
// stuck.
func (a *asyncLog) close(wait time.Duration) {
	a.once.Do(func() { close(a.stop) })
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-a.done:
	case <-t.C:
	}
}

// asyncHandler queues records for asyncLog, through its own handler (with
// its attributes and groups).
type asyncHandler struct {
	a *asyncLog
	h slog.Handler
}

func (h asyncHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.h.Enabled(ctx, l) }

func (h asyncHandler) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.a.queue <- queuedRecord{h.h, r.Clone()}:
	default:
		h.a.dropped.Add(1)
	}
	return nil
}

func (h asyncHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return asyncHandler{a: h.a, h: h.h.WithAttrs(attrs)}
}

func (h asyncHandler) WithGroup(name string) slog.Handler {
	return asyncHandler{a: h.a, h: h.h.WithGroup(name)}
}
