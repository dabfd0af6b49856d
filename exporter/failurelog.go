package exporter

import (
	"log/slog"
	"sync"
	"time"

	"github.com/arpdoctor/arpdoctor/internal/words"
)

// failureEvery is how often a failure that lasts is logged again: a
// collector failing at every scrape (every 15 s) would otherwise write an
// error line each time, burying everything else in the log.
const failureEvery = 5 * time.Minute

// failureLog logs the collectors' failures as they change rather than as
// they repeat: a failure when it starts or its error changes, then at most
// once every failureEvery while it lasts, and the recovery once.
type failureLog struct {
	log   *slog.Logger
	now   func() time.Time
	mu    sync.Mutex
	state map[string]*failing
}

// failing is a collector's failure that lasts.
type failing struct {
	err    string
	since  time.Time
	logged time.Time
	// scrapes counts the failed scrapes since the last line.
	scrapes int
}

func newFailureLog(log *slog.Logger, now func() time.Time) *failureLog {
	return &failureLog{log: log, now: now, state: map[string]*failing{}}
}

// observe takes one scrape of a collector: how long it took and its
// error, nil when it succeeded.
func (f *failureLog) observe(name string, d time.Duration, err error) {
	now := f.now()
	f.mu.Lock()
	st := f.state[name]
	switch {
	case err == nil && st == nil:
		f.mu.Unlock()
		f.log.Debug("collector succeeded", "collector", name, "duration_seconds", d.Seconds())
	case err == nil:
		delete(f.state, name)
		f.mu.Unlock()
		f.log.Info("collector recovered", "collector", name, "failed_for", now.Sub(st.since).Round(time.Second).String())
	case st == nil || st.err != err.Error():
		f.state[name] = &failing{err: err.Error(), since: now, logged: now}
		f.mu.Unlock()
		f.log.Error("collector failed", "collector", name, "duration_seconds", d.Seconds(), "err", words.OneLine(err.Error()))
	default:
		st.scrapes++
		if now.Sub(st.logged) < failureEvery {
			f.mu.Unlock()
			return
		}
		n, since := st.scrapes, st.since
		st.logged, st.scrapes = now, 0
		f.mu.Unlock()
		f.log.Error("collector still failing", "collector", name, "duration_seconds", d.Seconds(), "err", words.OneLine(err.Error()),
			"failing_for", now.Sub(since).Round(time.Second).String(), "failed_scrapes", n)
	}
}

// observeRound takes one round of a background loop (what names it: "reading
// the network namespaces"), logged as observe logs a collector's scrapes.
func (f *failureLog) observeRound(what string, err error) (logged bool) {
	now := f.now()
	key := "round: " + what
	f.mu.Lock()
	st := f.state[key]
	switch {
	case err == nil && st == nil:
		f.mu.Unlock()
		return false
	case err == nil:
		delete(f.state, key)
		f.mu.Unlock()
		f.log.Info(what+" recovered", "failed_for", now.Sub(st.since).Round(time.Second).String())
		return false
	case st == nil || st.err != err.Error():
		f.state[key] = &failing{err: err.Error(), since: now, logged: now}
		f.mu.Unlock()
		f.log.Error(what+" failed", "err", words.OneLine(err.Error()))
		return true
	default:
		st.scrapes++
		if now.Sub(st.logged) < failureEvery {
			f.mu.Unlock()
			return false
		}
		n, since := st.scrapes, st.since
		st.logged, st.scrapes = now, 0
		f.mu.Unlock()
		f.log.Error(what+" still failing", "err", words.OneLine(err.Error()), "failing_for", now.Sub(since).Round(time.Second).String(), "failed_rounds", n)
	}
	return true
}
