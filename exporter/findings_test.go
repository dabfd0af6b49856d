package exporter

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFindingsEndpoint: /findings answers the recent findings as the JSON
// docs/exporter.md shows.
func TestFindingsEndpoint(t *testing.T) {
	e := newExporter(Config{FindingsSize: 2}, sources{table: &fakeKernel{}})
	for _, kind := range []string{"mac_changed", "synack_to_wrong_mac", "unanswered_arp_probe"} {
		e.note(Record{Time: t0, Source: SourceTrace, Kind: kind, Severity: "problem", Family: "inet", Interface: "eth0",
			IP: netip.MustParseAddr("192.0.2.50"), MAC: "02:00:00:00:50:b2", OldMAC: "02:00:00:00:50:a1", Message: "m"})
	}
	h := NewHandler(nil, e, HandlerOptions{TelemetryPath: "/metrics"})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", FindingsPath, nil))
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	want := `{"total":3,"findings":[` +
		`{"time":"2026-11-01T12:00:00Z","source":"trace","kind":"synack_to_wrong_mac","severity":"problem","family":"inet","interface":"eth0","ip":"192.0.2.50","mac":"02:00:00:00:50:b2","old_mac":"02:00:00:00:50:a1","message":"m"},` +
		`{"time":"2026-11-01T12:00:00Z","source":"trace","kind":"unanswered_arp_probe","severity":"problem","family":"inet","interface":"eth0","ip":"192.0.2.50","mac":"02:00:00:00:50:b2","old_mac":"02:00:00:00:50:a1","message":"m"}]}`
	if diff := cmp.Diff(want, strings.TrimSpace(w.Body.String())); diff != "" {
		t.Errorf("/findings (-want +got):\n%s", diff)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", FindingsPath, nil))
	if w.Code != 405 {
		t.Errorf("POST /findings: %d, want 405", w.Code)
	}
}
