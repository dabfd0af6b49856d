package exporter

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// At the bound, a scrape takes the place of a kept-alive connection idle
// between requests, or of one that has sent nothing: neither can lock
// Prometheus out. Connections busy with a request are never closed, and
// the bound holds.
func TestConnLimitLetsScrapesIn(t *testing.T) {
	const limit = 3
	cl := newConnLimiter(limit)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	srv.Listener = cl.listener(srv.Listener)
	srv.Config.ConnState = cl.connState
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	get := func(c net.Conn) error {
		if _, err := fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	// The bound's worth of kept-alive connections, left idle.
	for range limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := get(c); err != nil {
			t.Fatal(err)
		}
	}
	scrape := func(what string) {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if err := get(c); err != nil {
			t.Errorf("%s: the scrape did not get in: %v", what, err)
		}
	}
	scrape("idle connections at the bound")
	cl.mu.Lock()
	open := cl.open
	cl.mu.Unlock()
	if open > limit {
		t.Errorf("%d connections open, want at most %d", open, limit)
	}
	// The bound's worth of connections that send nothing, past newGrace.
	for range limit {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	time.Sleep(newGrace + 100*time.Millisecond)
	scrape("silent connections at the bound")
}
