package exporter

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// levelCounter is a slog handler that counts records by level.
type levelCounter struct {
	mu   sync.Mutex
	msgs map[slog.Level][]string
}

func (c *levelCounter) Enabled(context.Context, slog.Level) bool { return true }
func (c *levelCounter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.msgs == nil {
		c.msgs = map[slog.Level][]string{}
	}
	c.msgs[r.Level] = append(c.msgs[r.Level], r.Message)
	return nil
}
func (c *levelCounter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *levelCounter) WithGroup(string) slog.Handler      { return c }

func (c *levelCounter) at(l slog.Level) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.msgs[l]
}

func testHandler(t *testing.T, logger *slog.Logger) http.Handler {
	t.Helper()
	e := newExporter(Config{Logger: logger}, sources{table: &fakeKernel{}})
	reg, err := NewRegistry(e)
	if err != nil {
		t.Fatal(err)
	}
	landing := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "landing") })
	return NewHandler(reg, e, HandlerOptions{TelemetryPath: "/metrics", Landing: landing, Logger: logger})
}

// TestMethodsNotAllowed: the metrics and the landing page answer 405 to
// anything but GET and HEAD, as /findings does.
func TestMethodsNotAllowed(t *testing.T) {
	h := testHandler(t, nil)
	for _, path := range []string{"/metrics", "/", "/elsewhere"} {
		for _, m := range []string{"POST", "DELETE", "TRACE", "PUT", "BREW"} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(m, path, nil))
			if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, Allow %q; want 405, Allow GET, HEAD", m, path, w.Code, w.Header().Get("Allow"))
			}
		}
		for _, m := range []string{"GET", "HEAD"} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(m, path, nil))
			if w.Code != http.StatusOK {
				t.Errorf("%s %s: %d, want 200", m, path, w.Code)
			}
		}
	}
}

// TestClientCausedErrorsAreDebug: a client that refuses every encoding
// gets no error line written.
func TestClientCausedErrorsAreDebug(t *testing.T) {
	lc := &levelCounter{}
	h := testHandler(t, slog.New(lc))
	req := httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip;q=0, identity;q=0")
	h.ServeHTTP(httptest.NewRecorder(), req)
	writerErrs := func(l slog.Level) (n int) {
		for _, m := range lc.at(l) {
			if strings.HasPrefix(m, "error getting writer") {
				n++
			}
		}
		return n
	}
	if n := writerErrs(slog.LevelError); n != 0 {
		t.Errorf("%d error lines for the refused encoding, want none", n)
	}
	if n := writerErrs(slog.LevelDebug); n != 1 {
		t.Errorf("%d debug lines for the refused encoding, want 1", n)
	}
	promhttpLog{slog.New(lc)}.Println("error encoding and sending metric family:", fmt.Errorf("boom"))
	if !slices.Contains(lc.at(slog.LevelError), "error encoding and sending metric family: boom") {
		t.Errorf("error lines: %q, want the encoding failure", lc.at(slog.LevelError))
	}
}

// However many clients connect at once, the bound holds: a connection
// past it is refused when every open one is busy.
func TestConnectionLimit(t *testing.T) {
	const limit, clients = 3, 12
	var mu sync.Mutex
	open, most := 0, 0
	cl := newConnLimiter(limit)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond) // busy, so that clients overlap
		fmt.Fprint(w, "ok")
	}))
	srv.Listener = cl.listener(srv.Listener)
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		cl.connState(c, s)
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open++
			most = max(most, open)
		case http.StateClosed, http.StateHijacked:
			open--
		}
	}
	srv.Start()
	defer srv.Close()
	var wg sync.WaitGroup
	served := make(chan bool, clients)
	for range clients {
		wg.Go(func() {
			c, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				served <- false
				return
			}
			defer c.Close()
			fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				served <- false
				return
			}
			resp.Body.Close()
			served <- true
		})
	}
	wg.Wait()
	close(served)
	n := 0
	for ok := range served {
		if ok {
			n++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if most > limit || n == 0 {
		t.Errorf("%d connections open at once (want at most %d), %d of %d served", most, limit, n, clients)
	}
}

func TestServerTimeouts(t *testing.T) {
	s := newServer(http.NotFoundHandler())
	if s.ReadTimeout <= 0 || s.IdleTimeout <= 0 || s.ReadHeaderTimeout <= 0 || s.WriteTimeout < 2*60e9 {
		t.Errorf("timeouts: read %s, header %s, write %s, idle %s", s.ReadTimeout, s.ReadHeaderTimeout, s.WriteTimeout, s.IdleTimeout)
	}
}
