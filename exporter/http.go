package exporter

import (
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
		ErrorLog:      slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	})
	turns := make(chan struct{}, maxScrapesAtOnce)
	mux := http.NewServeMux()
	mux.Handle(o.TelemetryPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case turns <- struct{}{}:
		case <-r.Context().Done():
			return
		}
		defer func() { <-turns }()
		metrics.ServeHTTP(w, r)
	}))
	mux.Handle(FindingsPath, e.FindingsHandler())
	if o.Landing != nil {
		mux.Handle("/", o.Landing)
	}
	return mux
}
