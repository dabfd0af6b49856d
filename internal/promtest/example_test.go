package promtest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/internal/promtest"
)

// A test proving that an alert fires in a real Prometheus: the exporter
// under test (here a stand-in) on 127.0.0.1, the repository's rules loaded.
func ExampleStart() {
	var t *testing.T // the test's own

	exporter := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The exporter's /metrics.
	}))
	defer exporter.Close()

	prom := promtest.Start(t, promtest.Config{
		Targets:   []string{strings.TrimPrefix(exporter.URL, "http://")},
		RuleFiles: []string{"../../deploy/prometheus/alerts.yml"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// One scrape before the incident: increase() needs a sample from
	// before the counter moves.
	if _, err := prom.WaitQuery(ctx, `arpdoctor_handshake_findings_total == 0`); err != nil {
		t.Fatal(err)
	}

	// ... reproduce the incident (neightest.NewIncident) ...

	alert, err := prom.WaitAlertFiring(ctx, "ArpdoctorSynAckToWrongMAC")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s on %s: %s", alert.Name(), alert.Labels["instance"], alert.Annotations["summary"])
}
