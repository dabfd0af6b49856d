package commands

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/internal/promtest"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
)

// TestExporterAlertFiresInPrometheus proves deploy/prometheus/alerts.yml's
// wrong-MAC alert end to end: the exporter, in this process, reads the
// incident server's namespace and traces its eth0; a real Prometheus
// scrapes it every second with the repository's rules loaded, and its own
// API reports ArpdoctorSynAckToWrongMAC firing once the new client's
// connects fail.
func TestExporterAlertFiresInPrometheus(t *testing.T) {
	in := neightest.NewIncident(t)
	ex := startExporter(t, "--netns", in.Server.Name, "exporter", "--trace-interface", "eth0")
	prom := promtest.Start(t, promtest.Config{
		Targets:   []string{strings.TrimPrefix(ex.base, "http://")},
		RuleFiles: []string{"../deploy/prometheus/alerts.yml"},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The counter is scraped at zero before the incident: the alert's
	// increase() has its sample from before the change.
	if _, err := prom.WaitQuery(ctx, `arpdoctor_handshake_findings_total{interface="eth0",kind="synack_to_wrong_mac"} == 0`); err != nil {
		t.Fatalf("%v; exporter log:\n%s", err, ex.errOut)
	}
	if alerts, err := prom.Alerts(ctx); err != nil {
		t.Fatal(err)
	} else {
		for _, a := range alerts {
			if a.Name() == "ArpdoctorSynAckToWrongMAC" {
				t.Fatalf("the alert is %s before the incident: %+v", a.State, a)
			}
		}
	}

	// The new client's connects fail: its SYN-ACKs go to the old MAC. The
	// server's kernel may correct the entry itself after a while (its
	// retransmissions make it ask again), so only the first attempt must
	// fail, and the attempts stop at the first that connects.
	for attempt := range 3 {
		c, stop := context.WithTimeout(ctx, 1500*time.Millisecond)
		err := in.Connect(c)
		stop()
		if err == nil {
			if attempt == 0 {
				t.Fatal("the new client connected: the incident did not happen")
			}
			break
		}
	}

	// Prometheus is seconds old: the rule's second branch, which needs a
	// scrape from 5 minutes ago, cannot fire, so the alert proves that
	// increase() saw the counter go from 0 to 1.
	alert, err := prom.WaitAlertFiring(ctx, "ArpdoctorSynAckToWrongMAC")
	if err != nil {
		t.Fatalf("%v; exporter log:\n%s", err, ex.errOut)
	}
	if alert.Labels["interface"] != "eth0" || alert.Labels["severity"] != "critical" || alert.Labels["job"] != "arpdoctor" {
		t.Errorf("alert labels %v: want interface eth0, severity critical, job arpdoctor", alert.Labels)
	}
	if want := strings.TrimPrefix(ex.base, "http://") + " sends SYN-ACKs to a wrong MAC on eth0"; alert.Annotations["summary"] != want {
		t.Errorf("summary %q, want %q", alert.Annotations["summary"], want)
	}
	t.Logf("%s firing, active since %s: %s", alert.Name(), alert.ActiveAt.Format(time.RFC3339), alert.Annotations["summary"])
	if code := ex.stop(t); code != ExitOK {
		t.Errorf("exit code %d after cancel, want 0; log:\n%s", code, ex.errOut)
	}
}
