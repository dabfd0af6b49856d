package exporter

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// The server's limits: what any client can reach, authenticated or not,
// is bounded, so that a flood of connections or a slow client cannot take
// the exporter's descriptors or memory.
const (
	// readTimeout bounds reading a request, TLS handshake included: a
	// scrape's request is a few hundred bytes.
	readTimeout = 30 * time.Second
	// writeTimeout bounds a response from the end of its request's
	// header. It is longer than the longest scrape Prometheus allows
	// (its scrape_timeout never exceeds the interval, a minute or two at
	// most) including the wait for one of the maxScrapesAtOnce turns.
	writeTimeout = 3 * time.Minute
	// idleTimeout closes a kept-alive connection that sends nothing more:
	// longer than the usual scrape intervals (15 s to a minute), so that
	// Prometheus keeps its connection between scrapes.
	idleTimeout = 2 * time.Minute
	// maxConnections bounds the connections open at once, on every
	// address together. A node's Prometheus servers (a pair, and a person
	// with curl) need a handful; at the bound a new connection replaces
	// the one idle the longest (see connLimiter). node_exporter's
	// --web.max-requests bounds parallel scrapes instead, as
	// maxScrapesAtOnce does here.
	maxConnections = 256
)

// newServer is the HTTP server over h with the limits above.
func newServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
	}
}

// getOnly answers 405 to anything but GET and HEAD, as /findings does:
// the metrics and the landing page change nothing.
func getOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// promhttpLog is promhttp's error log. What a client causes (an
// Accept-Encoding that refuses every encoding the handler has) is debug:
// any client could otherwise write error lines at will. The rest (a
// metric that fails to encode) stays an error.
type promhttpLog struct{ log *slog.Logger }

func (p promhttpLog) Println(v ...any) {
	msg := strings.TrimSuffix(fmt.Sprintln(v...), "\n")
	level := slog.LevelError
	if len(v) > 0 {
		if s, ok := v[0].(string); ok && clientCaused(s) {
			level = slog.LevelDebug
		}
	}
	p.log.Log(context.Background(), level, msg)
}

// clientCaused says whether a promhttp error message is about the
// client's request rather than the exporter.
func clientCaused(msg string) bool {
	return strings.HasPrefix(msg, "error getting writer")
}
