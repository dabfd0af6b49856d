package exporter

import (
	"net/http/httptest"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh"
)

// BenchmarkScrape20k is a whole scrape over HTTP, as Prometheus makes it,
// of a 20,000-entry table: the entries come from a fake, since a real table
// that large would push the machine-wide table past its thresholds (see
// docs/benchmarks.md for the real-kernel run, on a machine of its own).
func BenchmarkScrape20k(b *testing.B) {
	k := wideKernel(20_000 / (2 * len(allStates)))
	for len(k.entries) < 20_000 {
		k.entries = append(k.entries, k.entries[len(k.entries)%1000])
	}
	k.entries = k.entries[:20_000]
	// The kernel counts its dump as it reads it: a census made once
	// leaves the exporter's own share of the scrape to measure.
	e := newExporter(Config{}, sources{table: countedKernel{k, neigh.CensusOf(k.entries)}, settings: stockSettings,
		procStats: func(string) (neigh.ProcStats, error) { return neigh.ProcStats{"unresolved_discards": 1}, nil }})
	reg, err := NewRegistry(e)
	if err != nil {
		b.Fatal(err)
	}
	h := NewHandler(reg, e, HandlerOptions{TelemetryPath: "/metrics"})
	req := httptest.NewRequest("GET", "/metrics", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// countedKernel serves a census made in advance.
type countedKernel struct {
	*fakeKernel
	groups []neigh.Group
}

func (k countedKernel) Census() ([]neigh.Group, error) { return k.groups, nil }
