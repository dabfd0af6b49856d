package promtest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/internal/promtest"
)

// fakeExporter serves what `arpdoctor exporter` serves when its tracer
// sees SYN-ACKs go to a wrong MAC on eth0: the count is whatever the test
// stores in wrongMAC.
func fakeExporter(t *testing.T, wrongMAC *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, `# HELP arpdoctor_build_info Always 1.
# TYPE arpdoctor_build_info gauge
arpdoctor_build_info{goversion="go1.26",revision="test",version="v0.0.0-test"} 1
# HELP arpdoctor_handshake_findings_total Passive trace findings by kind.
# TYPE arpdoctor_handshake_findings_total counter
arpdoctor_handshake_findings_total{interface="eth0",kind="syn_unanswered"} 3
arpdoctor_handshake_findings_total{interface="eth0",kind="synack_to_wrong_mac"} %d
`, wrongMAC.Load())
	}))
	t.Cleanup(srv.Close)
	return srv
}

// The wrong-MAC alert of deploy/prometheus/alerts.yml fires in a real
// Prometheus once the exporter's counter goes up, and not before.
func TestWrongMACAlertFires(t *testing.T) {
	var wrongMAC atomic.Int64
	exp := fakeExporter(t, &wrongMAC)
	target := strings.TrimPrefix(exp.URL, "http://")
	prom := promtest.Start(t, promtest.Config{
		Targets:   []string{target},
		RuleFiles: []string{"../../deploy/prometheus/alerts.yml"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	targets, err := prom.WaitTargetsUp(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 1 || targets[0].Labels["instance"] != target || targets[0].Labels["job"] != "arpdoctor" {
		t.Fatalf("targets = %+v, want one, job arpdoctor, instance %s", targets, target)
	}

	// A stored 0 first: increase() needs a sample from before the finding.
	if _, err := prom.WaitQuery(ctx, `arpdoctor_handshake_findings_total{kind="synack_to_wrong_mac"} == 0`); err != nil {
		t.Fatal(err)
	}
	alerts, err := prom.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts {
		if a.Name() == "ArpdoctorSynAckToWrongMAC" {
			t.Fatalf("alert %s is %s before any finding: %+v", a.Name(), a.State, a)
		}
	}

	wrongMAC.Store(1)
	alert, err := prom.WaitAlertFiring(ctx, "ArpdoctorSynAckToWrongMAC")
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"instance":  target,
		"interface": "eth0",
		"kind":      "synack_to_wrong_mac",
		"severity":  "critical",
	} {
		if got := alert.Labels[k]; got != want {
			t.Errorf("alert label %s = %q, want %q", k, got, want)
		}
	}
	if want := target + " sends SYN-ACKs to a wrong MAC on eth0"; alert.Annotations["summary"] != want {
		t.Errorf("summary = %q, want %q", alert.Annotations["summary"], want)
	}
	if !strings.Contains(alert.Annotations["description"], "arpdoctor verify --ip IP") {
		t.Errorf("description names no command to run: %q", alert.Annotations["description"])
	}
}

// A bad expression is Prometheus's bad_data error, and ends a wait at once
// instead of running into the bound.
func TestQueryBadExpression(t *testing.T) {
	prom := promtest.Start(t, promtest.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	_, err := prom.Query(ctx, `sum(`)
	var apiErr *promtest.APIError
	if !errors.As(err, &apiErr) || apiErr.Type != "bad_data" {
		t.Fatalf("Query(`sum(`) error = %v, want a bad_data APIError", err)
	}
	if _, err := prom.WaitQuery(ctx, `sum(`); !errors.As(err, &apiErr) {
		t.Fatalf("WaitQuery(`sum(`) error = %v, want the APIError", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("WaitQuery waited for the bound on a bad expression")
	}

	got, err := prom.Query(ctx, `vector(2) * 21`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Value != 42 {
		t.Fatalf("Query(`vector(2) * 21`) = %+v, want one sample of 42", got)
	}
}

// ScrapeOptions reach the scrape job: an exporter behind basic auth is up
// only with the credentials.
func TestScrapeOptions(t *testing.T) {
	exp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if user, pass, ok := r.BasicAuth(); !ok || user != "prometheus" || pass != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="arpdoctor"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		fmt.Fprintln(w, `arpdoctor_build_info{goversion="go1.26",revision="test",version="v0.0.0-test"} 1`)
	}))
	t.Cleanup(exp.Close)
	prom := promtest.Start(t, promtest.Config{
		Targets: []string{strings.TrimPrefix(exp.URL, "http://")},
		Job:     "nodes",
		ScrapeOptions: map[string]any{
			"basic_auth": map[string]any{"username": "prometheus", "password": "s3cret"},
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := prom.WaitTargetsUp(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := prom.WaitQuery(ctx, `arpdoctor_build_info{job="nodes"}`)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Value != 1 {
		t.Fatalf("arpdoctor_build_info = %v, want 1", got[0].Value)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, as the real one does, without failing the test.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// A server that exits at start (here for a broken rule file) fails the
// test at once with prometheus's reason, rather than waiting for the
// readiness bound.
func TestStartFailsWhenPrometheusExits(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yml")
	if err := os.WriteFile(bad, []byte("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		promtest.Start(rec, promtest.Config{RuleFiles: []string{bad}})
	}()
	<-done
	if !strings.Contains(rec.msg, "exited before it was ready") || !strings.Contains(rec.msg, "bad.yml") {
		t.Fatalf("Start with a broken rule file: %q, want the exit and the file named", rec.msg)
	}
}
