package exporter

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
)

// TestFindingsEndpoint: /findings answers the recent findings as the JSON
// docs/exporter.md shows.
func TestFindingsEndpoint(t *testing.T) {
	e := newExporter(Config{NetNS: "blue", FindingsSize: 2}, sources{table: &fakeKernel{}})
	for _, kind := range []string{"mac_changed", "synack_to_wrong_mac", "unanswered_arp_probe"} {
		rec := Record{Time: t0, Source: SourceTrace, Kind: kind, Severity: "problem", Family: "inet", Interface: "eth0",
			IP: netip.MustParseAddr("192.0.2.50"), MAC: "02:00:00:00:50:b2", OldMAC: "02:00:00:00:50:a1", Message: "m"}
		if kind == "synack_to_wrong_mac" {
			rec.Next = []diagnose.Command{diagnose.In("blue", "verify", "--fix", "--ip", "192.0.2.50")}
		}
		e.note(rec)
	}
	h := NewHandler(nil, e, HandlerOptions{TelemetryPath: "/metrics"})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", FindingsPath, nil))
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	want := `{"total":3,"findings":[` +
		`{"time":"2026-11-01T12:00:00Z","source":"trace","kind":"synack_to_wrong_mac","severity":"problem","family":"inet","interface":"eth0","ip":"192.0.2.50","mac":"02:00:00:00:50:b2","old_mac":"02:00:00:00:50:a1","message":"m","next":["arpdoctor --netns blue verify --fix --ip 192.0.2.50"]},` +
		`{"time":"2026-11-01T12:00:00Z","source":"trace","kind":"unanswered_arp_probe","severity":"problem","family":"inet","interface":"eth0","ip":"192.0.2.50","mac":"02:00:00:00:50:b2","old_mac":"02:00:00:00:50:a1","message":"m","next":[]}]}`
	if diff := cmp.Diff(want, strings.TrimSpace(w.Body.String())); diff != "" {
		t.Errorf("/findings (-want +got):\n%s", diff)
	}
	// A Go client reads the page back, commands included.
	var back FindingsPage
	if err := json.Unmarshal(w.Body.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e.Findings(), back, cmpAddrs); diff != "" {
		t.Errorf("/findings read back (-want +got):\n%s", diff)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", FindingsPath, nil))
	if w.Code != 405 {
		t.Errorf("POST /findings: %d, want 405", w.Code)
	}
}

// worded is a record's message and next commands, as a person reads them.
func worded(r Record) []string {
	out := []string{r.Message}
	for _, n := range r.Next {
		out = append(out, "next: "+n.String())
	}
	return out
}

// Each kind of record says what it means and what to run next, in the
// words of verify, trace and watch, in the exporter's namespace.
func TestRecordWording(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.50")
	stale := neigh.Entry{IP: ip, MAC: "02:00:00:00:50:a1", State: neigh.Stale, Interface: "eth0", Family: neigh.Inet}
	after := stale
	after.MAC = "02:00:00:00:50:b2"
	client := netip.MustParseAddrPort("192.0.2.50:41000")
	tests := []struct {
		name string
		rec  Record
		want []string
	}{
		{"trace: synack_to_wrong_mac", traceRecord("/proc/42/ns/net", "eth0", &capture.Finding{Kind: capture.SynAckToWrongMAC, Severity: capture.Problem,
			Client: client, ClientMAC: "02:00:00:00:50:b2", SynAckTo: []capture.MACCount{{MAC: "02:00:00:00:50:a1", Count: 3}}, Message: "the SYN-ACKs went to 02:00:00:00:50:a1"}),
			[]string{"the SYN-ACKs went to 02:00:00:00:50:a1", "next: arpdoctor --netns /proc/42/ns/net verify --fix --ip 192.0.2.50"}},
		{"trace: corrected by the kernel", traceRecord("", "eth0", &capture.Finding{Kind: capture.SynAckToWrongMAC, Severity: capture.Problem,
			Client: client, KernelCorrected: true, Message: "m"}),
			[]string{"m", "next: arpdoctor sysctl check"}},
		{"trace: duplicate_ip", traceRecord("blue", "eth0", &capture.Finding{Kind: capture.DuplicateIP, Severity: capture.Problem,
			IP: ip, MACs: []string{"02:00:00:00:50:a1", "02:00:00:00:50:b2"}, Message: "two hosts claim 192.0.2.50"}),
			[]string{"two hosts claim 192.0.2.50", "next: arpdoctor --netns blue verify --ip 192.0.2.50"}},
		{"trace: info", traceRecord("blue", "eth0", &capture.Finding{Kind: capture.MACChanged, Severity: capture.Info, IP: ip, MAC: "02:00:00:00:50:b2", Message: "m"}),
			[]string{"m"}},
		{"events: mac_changed", eventRecord("blue", &neigh.Event{Kind: neigh.EventMACChanged, Entry: after, OldMAC: stale.MAC}),
			[]string{"192.0.2.50: 02:00:00:00:50:a1 -> 02:00:00:00:50:b2 on eth0: the IP now belongs to another host (a reused IP?)",
				"next: arpdoctor --netns blue verify --ip 192.0.2.50 -i eth0", "next: arpdoctor --netns blue sysctl check"}},
		{"events: flip_flop", eventRecord("", &neigh.Event{Kind: neigh.EventFlipFlop, Entry: stale, OldMAC: after.MAC}),
			[]string{"192.0.2.50: 02:00:00:00:50:b2 -> 02:00:00:00:50:a1 on eth0, back to the MAC it had before the last change: two hosts claim this IP",
				"next: arpdoctor verify --ip 192.0.2.50 -i eth0"}},
		{"events: failed", eventRecord("blue", &neigh.Event{Kind: neigh.EventFailed, Entry: neigh.Entry{IP: ip, State: neigh.Failed, Interface: "eth0"}}),
			[]string{"192.0.2.50: FAILED on eth0: nobody answers", "next: arpdoctor --netns blue verify --ip 192.0.2.50 -i eth0"}},
		{"verify: mismatch", verifyRecord("blue", t0, &neigh.ProbeResult{Entry: stale, Answered: []string{after.MAC}, Verdict: neigh.VerdictMismatch, After: &stale}),
			[]string{"192.0.2.50: the cache says 02:00:00:00:50:a1 but 02:00:00:00:50:b2 answers: the entry is stale",
				"next: arpdoctor --netns blue verify --fix --ip 192.0.2.50 -i eth0", "next: arpdoctor --netns blue sysctl check"}},
		{"verify: mismatch the kernel corrected", verifyRecord("blue", t0, &neigh.ProbeResult{Entry: stale, Answered: []string{after.MAC}, Verdict: neigh.VerdictMismatch, After: &after}),
			[]string{"192.0.2.50: the cache says 02:00:00:00:50:a1 but 02:00:00:00:50:b2 answers: the entry is stale; the kernel took the new MAC from the probe's answer",
				"next: arpdoctor --netns blue sysctl check"}},
		{"verify: no_answer", verifyRecord("blue", t0, &neigh.ProbeResult{Entry: stale, Verdict: neigh.VerdictNoAnswer}),
			[]string{"192.0.2.50: nobody answers, yet the cache holds it as STALE with 02:00:00:00:50:a1: the entry is dead",
				"next: arpdoctor --netns blue verify --fix --ip 192.0.2.50 -i eth0"}},
		{"verify: duplicate", verifyRecord("blue", t0, &neigh.ProbeResult{Entry: stale, Answered: []string{stale.MAC, after.MAC}, Verdict: neigh.VerdictDuplicate}),
			[]string{"192.0.2.50: 2 hosts answer (02:00:00:00:50:a1, 02:00:00:00:50:b2): two machines claim this IP; find the one that should not have it",
				"next: arpdoctor --netns blue watch --ip 192.0.2.50 -i eth0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, worded(tt.rec)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if tt.rec.Next == nil {
				t.Error("next is nil: JSON would say null")
			}
		})
	}
}

// The log line carries the next commands, joined into one string that
// logfmt writes readably too.
func TestFindingLogLine(t *testing.T) {
	var buf bytes.Buffer
	e := newExporter(Config{NetNS: "blue", Logger: slog.New(slog.NewJSONHandler(&buf, nil))}, sources{table: &fakeKernel{}})
	ip := netip.MustParseAddr("192.0.2.50")
	e.note(eventRecord("blue", &neigh.Event{Time: t0, Kind: neigh.EventMACChanged, OldMAC: "02:00:00:00:50:a1",
		Entry: neigh.Entry{IP: ip, MAC: "02:00:00:00:50:b2", State: neigh.Reachable, Interface: "eth0", Family: neigh.Inet}}))
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	if got, want := line["next"], "arpdoctor --netns blue verify --ip 192.0.2.50 -i eth0; arpdoctor --netns blue sysctl check"; got != want {
		t.Errorf("next %q, want %q", got, want)
	}
	if got := line["message"]; got != "192.0.2.50: 02:00:00:00:50:a1 -> 02:00:00:00:50:b2 on eth0: the IP now belongs to another host (a reused IP?)" {
		t.Errorf("message %q", got)
	}
	// The line and the record carry the same facts: the record's time as
	// seen (the line's own time is when it was written), its family and
	// severity, written as /findings writes them.
	rec := e.Findings().Findings[0]
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var record map[string]any
	if err := json.Unmarshal(b, &record); err != nil {
		t.Fatal(err)
	}
	for logKey, recKey := range map[string]string{"seen": "time", "family": "family", "severity": "severity", "source": "source",
		"kind": "kind", "interface": "interface", "ip": "ip", "mac": "mac", "old_mac": "old_mac", "message": "message"} {
		if line[logKey] == nil || line[logKey] != record[recKey] {
			t.Errorf("log %s=%v, /findings %s=%v: want the same", logKey, line[logKey], recKey, record[recKey])
		}
	}
}

// A time with nanoseconds is the same instant in the log line and in
// /findings, digit for digit.
func TestFindingLogLineSeen(t *testing.T) {
	var buf bytes.Buffer
	e := newExporter(Config{Logger: slog.New(slog.NewTextHandler(&buf, nil))}, sources{table: &fakeKernel{}})
	at := t0.Add(123456789)
	e.note(Record{Time: at, Source: SourceTrace, Kind: "synack_to_wrong_mac", Severity: "problem", Family: "inet",
		Interface: "eth0", IP: netip.MustParseAddr("192.0.2.50"), Message: "m"})
	if want := "seen=2026-11-01T12:00:00.123456789Z family=inet interface=eth0"; !strings.Contains(buf.String(), want) {
		t.Errorf("log line %q: want %q", buf.String(), want)
	}
	if want := "kind=synack_to_wrong_mac severity=problem"; !strings.Contains(buf.String(), want) {
		t.Errorf("log line %q: want %q", buf.String(), want)
	}
}
