package exporter

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
)

// TestVerifyStuckEntryReportedOnce: an entry whose verification finds the
// same at every round is reported once; again when the finding changes,
// and when it fails anew after verifying fine or leaving the table.
func TestVerifyStuckEntryReportedOnce(t *testing.T) {
	dead := entry("192.0.2.7", "02:00:00:00:00:07", "eth0", neigh.Stale)
	k := &fakeKernel{entries: []neigh.Entry{dead}}
	ip := netip.MustParseAddr("192.0.2.7")
	p := &fakeProber{answers: map[netip.Addr][]string{}}
	e := newExporter(Config{VerifyInterval: time.Minute, FindingsSize: 1000}, sources{table: k, probe: p, now: func() time.Time { return t0 }})
	v := e.collectors[len(e.collectors)-1].(*verifyCollector)
	var kinds []string
	round := func(n int) {
		for range n {
			if err := v.round(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	round(5) // dead: no_answer every round
	p.answers[ip] = []string{"02:00:00:00:00:99"}
	round(3) // another MAC answers now: mismatch
	p.answers[ip] = []string{"02:00:00:00:00:07"}
	round(1) // fine
	delete(p.answers, ip)
	round(2) // dead again
	k.entries = nil
	round(1) // gone from the table
	k.entries = []neigh.Entry{dead}
	round(2) // back, still dead
	for _, r := range e.Findings().Findings {
		kinds = append(kinds, r.Kind+" "+r.MAC)
	}
	want := []string{"no_answer ", "mismatch 02:00:00:00:00:99", "no_answer ", "no_answer "}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("findings over 14 rounds (-want +got):\n%s", diff)
	}
}
