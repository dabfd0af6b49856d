package commands

import (
	"bufio"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestExporterLogNeverBlocks: with stderr a pipe nobody reads, logging
// returns at once, dropping what does not fit; once the pipe is read
// again, the log says how many lines it dropped, and every line is either
// written or counted.
func TestExporterLogNeverBlocks(t *testing.T) {
	pr, pw := io.Pipe()
	a := newAsyncLog(slog.NewTextHandler(pw, nil), 16)
	logger := slog.New(asyncHandler{a: a, h: a.root}).With("collector", "table")
	const lines = 2000
	for i := range lines {
		logger.Error("collector failed", "n", i) // would block for ever if it waited on the pipe
	}
	got := make(chan []string)
	go func() {
		var out []string
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out = append(out, sc.Text())
		}
		got <- out
	}()
	a.close(time.Hour)
	pw.Close()
	written, dropped := 0, 0
	droppedRe := regexp.MustCompile(`msg="log lines dropped: the log's reader was too slow" dropped=(\d+)$`)
	for _, l := range <-got {
		if m := droppedRe.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			dropped += n
			continue
		}
		if !strings.Contains(l, `msg="collector failed" collector=table n=`) {
			t.Errorf("unexpected line %q", l)
		}
		written++
	}
	if dropped == 0 || written+dropped != lines {
		t.Errorf("%d lines written, %d dropped; want some dropped, %d in all", written, dropped, lines)
	}
}

// TestExporterLogCloseGivesUp: closing a log whose reader is stuck
// returns rather than waiting for it.
func TestExporterLogCloseGivesUp(t *testing.T) {
	pr, pw := io.Pipe()
	defer pr.Close()
	defer pw.Close()
	a := newAsyncLog(slog.NewTextHandler(pw, nil), 4)
	slog.New(asyncHandler{a: a, h: a.root}).Info("stuck")
	a.close(10 * time.Millisecond)
}
