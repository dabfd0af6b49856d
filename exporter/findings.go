package exporter

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/neigh"
)

// DefaultFindingsSize is how many recent findings /findings keeps.
const DefaultFindingsSize = 256

// Where a finding comes from.
const (
	SourceTrace  = "trace"  // the passive handshake and ARP/NDP trace
	SourceEvents = "events" // the kernel's neighbor events
	SourceVerify = "verify" // active verification
)

// Record is one finding with the addresses behind it: what metrics, whose
// labels carry no IP or MAC, cannot say.
type Record struct {
	Time time.Time `json:"time"`
	// Source is SourceTrace, SourceEvents or SourceVerify.
	Source string `json:"source"`
	// Kind is the finding's kind (synack_to_wrong_mac, ...), the event
	// (mac_changed, flip_flop, failed) or the verdict (mismatch,
	// no_answer, duplicate).
	Kind string `json:"kind"`
	// Severity is "problem" or "info".
	Severity  string     `json:"severity"`
	Family    string     `json:"family,omitempty"`
	Interface string     `json:"interface"`
	IP        netip.Addr `json:"ip"`
	// MAC is the MAC the IP has now: the source of the client's SYN, the
	// new MAC of a change, the MAC that answered a probe.
	MAC string `json:"mac,omitempty"`
	// OldMAC is the MAC the neighbor cache still holds or held before:
	// where the SYN-ACK went, the MAC before a change, the cached MAC a
	// probe proved wrong or dead.
	OldMAC string `json:"old_mac,omitempty"`
	// MACs are every MAC that claims the IP (duplicates).
	MACs    []string `json:"macs,omitempty"`
	Message string   `json:"message"`
}

// FindingsPage is what /findings answers.
type FindingsPage struct {
	// Total counts the findings made since the exporter started; the
	// page holds the most recent of them, in the order they were reported.
	Total    uint64   `json:"total"`
	Findings []Record `json:"findings"`
}

// ring keeps the most recent records.
type ring struct {
	mu    sync.Mutex
	buf   []Record
	next  int
	total uint64
}

func newRing(size int) *ring {
	if size <= 0 {
		size = DefaultFindingsSize
	}
	return &ring{buf: make([]Record, 0, size)}
}

func (r *ring) add(rec Record) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	if len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, rec)
		return
	}
	r.buf[r.next] = rec
	r.next = (r.next + 1) % len(r.buf)
}

func (r *ring) page() FindingsPage {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Record, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	out = append(out, r.buf[:r.next]...)
	return FindingsPage{Total: r.total, Findings: out}
}

// note logs a record, one structured line, and keeps it for /findings.
func (e *Exporter) note(rec Record) {
	level := slog.LevelWarn
	if rec.Severity != string(capture.Problem) {
		level = slog.LevelInfo
	}
	attrs := []slog.Attr{
		slog.String("source", rec.Source),
		slog.String("kind", rec.Kind),
		slog.String("interface", rec.Interface),
		slog.String("ip", rec.IP.String()),
	}
	if rec.MAC != "" {
		attrs = append(attrs, slog.String("mac", rec.MAC))
	}
	if rec.OldMAC != "" {
		attrs = append(attrs, slog.String("old_mac", rec.OldMAC))
	}
	if len(rec.MACs) > 0 {
		attrs = append(attrs, slog.Any("macs", rec.MACs))
	}
	attrs = append(attrs, slog.String("message", rec.Message))
	e.log.LogAttrs(context.Background(), level, "finding", attrs...)
	e.findings.add(rec)
}

// Findings returns the recent findings, in the order they were reported.
func (e *Exporter) Findings() FindingsPage { return e.findings.page() }

// FindingsHandler serves the recent findings as JSON.
func (e *Exporter) FindingsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.Encode(e.findings.page())
	})
}

// traceRecord turns a trace finding into a record.
func traceRecord(ifname string, f *capture.Finding) Record {
	rec := Record{
		Time: f.Time, Source: SourceTrace, Kind: string(f.Kind), Severity: string(f.Severity),
		Interface: ifname, IP: f.Peer(), Message: f.Message, MACs: f.MACs,
	}
	switch {
	case f.ClientMAC != "":
		rec.MAC = f.ClientMAC
	case f.Kind == capture.MACChanged:
		rec.MAC = f.MAC
	}
	switch {
	case len(f.SynAckTo) > 0:
		rec.OldMAC = f.SynAckTo[0].MAC
	case f.OldMAC != "":
		rec.OldMAC = f.OldMAC
	case f.Kind == capture.UnansweredARPProbe:
		rec.OldMAC = f.MAC
	}
	if rec.IP.Is4() {
		rec.Family = string(neigh.Inet)
	} else if rec.IP.Is6() {
		rec.Family = string(neigh.Inet6)
	}
	return rec
}

// eventRecord turns a neighbor event into a record.
func eventRecord(ev *neigh.Event) Record {
	rec := Record{
		Time: ev.Time, Source: SourceEvents, Kind: string(ev.Kind), Severity: string(capture.Problem),
		Family: string(ev.Entry.Family), Interface: ev.Entry.Interface, IP: ev.Entry.IP,
		MAC: ev.Entry.MAC, OldMAC: ev.OldMAC,
	}
	switch ev.Kind {
	case neigh.EventMACChanged:
		rec.Message = "the neighbor entry for " + ev.Entry.IP.String() + " changed from " + ev.OldMAC + " to " + ev.Entry.MAC + ": a reused IP"
	case neigh.EventFlipFlop:
		rec.Message = ev.Entry.IP.String() + " went back from " + ev.OldMAC + " to " + ev.Entry.MAC + ": two hosts claim it"
	case neigh.EventFailed:
		rec.Message = "nobody answers for " + ev.Entry.IP.String() + ": the entry is " + ev.Entry.State.String()
	}
	return rec
}

// verifyRecord turns a probe result that found a problem into a record.
func verifyRecord(at time.Time, r *neigh.ProbeResult) Record {
	rec := Record{
		Time: at, Source: SourceVerify, Kind: string(r.Verdict), Severity: string(capture.Problem),
		Family: string(r.Entry.Family), Interface: r.Entry.Interface, IP: r.Entry.IP, OldMAC: r.Entry.MAC,
	}
	switch r.Verdict {
	case neigh.VerdictMismatch:
		rec.MAC = r.Answered[0]
		rec.Message = "the cache maps " + r.Entry.IP.String() + " to " + orNone(r.Entry.MAC) + " but " + rec.MAC + " answered: the entry is stale"
	case neigh.VerdictNoAnswer:
		rec.Message = "nobody answered for " + r.Entry.IP.String() + " cached at " + orNone(r.Entry.MAC) + ": the entry is dead"
	case neigh.VerdictDuplicate:
		rec.MACs = r.Answered
		rec.Message = "several MACs answered for " + r.Entry.IP.String() + ": two hosts claim it"
	}
	return rec
}

func orNone(mac string) string {
	if mac == "" {
		return "no MAC"
	}
	return mac
}
