package exporter

import (
	"context"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// FindingsPath is where the recent findings are served.
const FindingsPath = "/findings"

// maxScrapesAtOnce bounds the scrapes that run at once; more wait their
// turn rather than each dumping the table beside the others: memory stays
// bounded however many scrapers come.
const maxScrapesAtOnce = 4

// NewRegistry returns a registry of its own (not the process-wide default)
// holding the exporter and the Go runtime's and the process's collectors,
// as exporters customarily expose them.
func NewRegistry(e *Exporter) (*prometheus.Registry, error) {
	reg := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		e,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return reg, nil
}

// HandlerOptions say what the exporter's HTTP handler serves.
type HandlerOptions struct {
	// TelemetryPath is where the metrics are served: "/metrics".
	TelemetryPath string
	// Landing serves "/" (and anything not served elsewhere); nil answers
	// 404 there.
	Landing http.Handler
	Logger  *slog.Logger
}

// NewHandler serves the registry's metrics at o.TelemetryPath, the recent
// findings at FindingsPath and o.Landing at "/".
func NewHandler(reg *prometheus.Registry, e *Exporter, o HandlerOptions) http.Handler {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      promhttpLog{logger},
		ErrorHandling: promhttp.ContinueOnError,
	})
	turns := make(chan struct{}, maxScrapesAtOnce)
	mux := http.NewServeMux()
	mux.Handle(o.TelemetryPath, getOnly(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case turns <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		defer func() { <-turns }()
		metrics.ServeHTTP(w, r)
	})))
	mux.Handle(FindingsPath, e.FindingsHandler())
	if o.Landing != nil {
		mux.Handle("/", getOnly(o.Landing))
	}
	return mux
}

// ServeOptions say where and how Serve serves.
type ServeOptions struct {
	// Addresses are the TCP addresses to listen on (HOST:PORT).
	Addresses []string
	// TelemetryPath is where the metrics are served.
	TelemetryPath string
	// WebConfigFile is the exporter-toolkit's web configuration (TLS,
	// basic auth); "" serves plain HTTP.
	WebConfigFile string
	// Version is shown on the landing page.
	Version string
	Logger  *slog.Logger
	// Listening, when set, is told the addresses listened on (those of
	// port 0 resolved) once they are bound.
	Listening func([]net.Addr)
}

// ListenError says an address could not be listened on.
type ListenError struct {
	Address string
	Err     error
}

func (e *ListenError) Error() string { return "listening on " + e.Address + ": " + e.Err.Error() }
func (e *ListenError) Unwrap() error { return e.Err }

// Serve runs the exporter's background collectors and serves its metrics,
// its findings and a landing page until ctx ends, then shuts the server
// down and waits for the collectors to stop. Every address is bound
// before anything runs: one that cannot be is a *ListenError.
func Serve(ctx context.Context, e *Exporter, o ServeOptions) error {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	reg, err := NewRegistry(e)
	if err != nil {
		return err
	}
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "arpdoctor exporter",
		Description: "The neighbor cache (ARP and NDP), measured for Prometheus",
		Version:     html.EscapeString(o.Version),
		// The toolkit links /debug/pprof/ by default; the exporter serves
		// no profiles, so the links would answer 404.
		Profiling: "false",
		Links: []web.LandingLinks{
			// The toolkit's page is a text/template: what it shows is
			// escaped here.
			{Address: html.EscapeString(o.TelemetryPath), Text: "Metrics"},
			{Address: FindingsPath, Text: "Recent findings", Description: "JSON, with the IPs and MACs"},
		},
	})
	if err != nil {
		return fmt.Errorf("making the landing page: %w", err)
	}
	server := newServer(NewHandler(reg, e, HandlerOptions{TelemetryPath: o.TelemetryPath, Landing: landing, Logger: logger}))
	// The server's own complaints (a TLS handshake that failed, a client
	// that spoke HTTP to HTTPS) go through the same handler as every other
	// line, so that a json or logfmt log stays parseable; the standard
	// logger would print them bare. They are the clients' mistakes, not the
	// exporter's: warnings.
	server.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)

	// The listeners are opened here rather than by web.ListenAndServe, so
	// that an address that cannot be bound is an error before anything
	// runs, and so that the address of port 0 is known; the toolkit then
	// serves them with TLS and authentication as configured.
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	var addrs []net.Addr
	limit := newConnLimiter(maxConnections)
	server.ConnState = limit.connState
	for _, a := range o.Addresses {
		l, err := net.Listen("tcp", a)
		if err != nil {
			return &ListenError{Address: a, Err: err}
		}
		listeners = append(listeners, limit.listener(l))
		addrs = append(addrs, l.Addr())
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan struct{})
	go func() {
		e.Run(ctx)
		close(ran)
	}()
	served := make(chan error, 1)
	noSystemd := false
	addresses, configFile := o.Addresses, o.WebConfigFile
	flags := &web.FlagConfig{WebListenAddresses: &addresses, WebSystemdSocket: &noSystemd, WebConfigFile: &configFile}
	go func() { served <- web.ServeMultiple(listeners, server, flags, logger) }()
	if o.Listening != nil {
		o.Listening(addrs)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	cancel()
	shutdown, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	server.Shutdown(shutdown)
	<-ran
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", serveErr)
	}
	logger.Info("stopped")
	return nil
}
