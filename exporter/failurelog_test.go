package exporter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

// lineRecorder keeps each record as "LEVEL message collector".
type lineRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *lineRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *lineRecorder) Handle(_ context.Context, rec slog.Record) error {
	line := rec.Level.String() + " " + rec.Message
	rec.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "collector", "err", "failed_scrapes":
			line += fmt.Sprintf(" %s=%v", a.Key, a.Value)
		}
		return true
	})
	r.mu.Lock()
	r.lines = append(r.lines, line)
	r.mu.Unlock()
	return nil
}
func (r *lineRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *lineRecorder) WithGroup(string) slog.Handler      { return r }

func (r *lineRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.lines
	r.lines = nil
	return out
}

// TestFailureLog: a failure is logged when it starts and when its error
// changes, then once every few minutes while it lasts; the recovery once.
func TestFailureLog(t *testing.T) {
	rec := &lineRecorder{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := newFailureLog(slog.New(rec), func() time.Time { return now })
	scrape := func(err error) {
		f.observe("table", time.Millisecond, err)
		now = now.Add(15 * time.Second)
	}
	boom := errors.New("reading /proc/net/stat/arp_cache: permission denied")
	for range 20 {
		scrape(boom)
	}
	if diff := cmp.Diff([]string{"ERROR collector failed collector=table err=" + boom.Error()}, rec.take()); diff != "" {
		t.Errorf("20 scrapes in 5 minutes (-want +got):\n%s", diff)
	}
	scrape(boom) // 5 minutes since the first line
	if diff := cmp.Diff([]string{"ERROR collector still failing collector=table err=" + boom.Error() + " failed_scrapes=20"}, rec.take()); diff != "" {
		t.Errorf("after 5 minutes (-want +got):\n%s", diff)
	}
	other := errors.New("no such file")
	scrape(other)
	scrape(other)
	if diff := cmp.Diff([]string{"ERROR collector failed collector=table err=no such file"}, rec.take()); diff != "" {
		t.Errorf("a new error (-want +got):\n%s", diff)
	}
	scrape(nil)
	scrape(nil)
	if diff := cmp.Diff([]string{"INFO collector recovered collector=table", "DEBUG collector succeeded collector=table"}, rec.take()); diff != "" {
		t.Errorf("recovery (-want +got):\n%s", diff)
	}
	scrape(boom)
	if diff := cmp.Diff([]string{"ERROR collector failed collector=table err=" + boom.Error()}, rec.take()); diff != "" {
		t.Errorf("failing again (-want +got):\n%s", diff)
	}
}

// TestPersistentFailureThroughScrapes: an exporter whose settings cannot
// be read logs it once over many scrapes.
func TestPersistentFailureThroughScrapes(t *testing.T) {
	rec := &lineRecorder{}
	e := newExporter(Config{Logger: slog.New(rec)}, sources{table: &fakeKernel{}})
	for range 20 {
		scrapeAll(e)
	}
	var errs []string
	for _, l := range rec.take() {
		if l[:5] == "ERROR" {
			errs = append(errs, l)
		}
	}
	if diff := cmp.Diff([]string{"ERROR collector failed collector=settings err=no source of settings"}, errs); diff != "" {
		t.Errorf("error lines over 20 scrapes (-want +got):\n%s", diff)
	}
}

// scrapeAll runs one scrape of e and drops its metrics.
func scrapeAll(e *Exporter) {
	ch := make(chan prometheus.Metric)
	go func() {
		e.Collect(ch)
		close(ch)
	}()
	for range ch {
	}
}

// TestFailureLogRounds: a background loop's failing rounds are logged as
// a collector's failing scrapes are.
func TestFailureLogRounds(t *testing.T) {
	rec := &lineRecorder{}
	now := t0
	f := newFailureLog(slog.New(rec), func() time.Time { return now })
	boom := errors.New("none found")
	for range 10 {
		f.observeRound("reading the network namespaces", boom)
		now = now.Add(30 * time.Second)
	}
	f.observeRound("reading the network namespaces", boom)
	f.observeRound("reading the network namespaces", nil)
	f.observeRound("reading the network namespaces", nil)
	want := []string{
		"ERROR reading the network namespaces failed err=none found",
		"ERROR reading the network namespaces still failing err=none found",
		"INFO reading the network namespaces recovered",
	}
	if diff := cmp.Diff(want, rec.take()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
