package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/diagnose"
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
	MACs []string `json:"macs,omitempty"`
	// Message says what the finding means, in the words verify, trace and
	// watch use for it.
	Message string `json:"message"`
	// ID names a trace finding among those of its interface. A trace
	// judges a handshake while its client still retries once the packets
	// prove the entry stale; if the handshake completes afterwards, a
	// Correction follows that replaces the record whose ID is Corrects,
	// with the handshake's Outcome (completed_late): one handshake, two
	// records, counted once.
	ID         uint64 `json:"id,omitempty"`
	Correction bool   `json:"correction,omitempty"`
	Corrects   uint64 `json:"corrects,omitempty"`
	Outcome    string `json:"outcome,omitempty"`
	// Next are the arpdoctor commands to run about it, in the namespace
	// the exporter reads; empty when there is nothing to run.
	Next []diagnose.Command `json:"next"`
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
	rec.Next = nextOrEmpty(rec.Next)
	level := slog.LevelWarn
	if rec.Severity != string(capture.Problem) {
		level = slog.LevelInfo
	}
	// The line carries the record's own facts: its time (the packet's,
	// the event's, the round's) as seen, beside the time the line was
	// written, in the form /findings gives it.
	attrs := []slog.Attr{
		slog.String("source", rec.Source),
		slog.String("kind", rec.Kind),
		slog.String("severity", rec.Severity),
	}
	if !rec.Time.IsZero() {
		attrs = append(attrs, slog.String("seen", rec.Time.Format(time.RFC3339Nano)))
	}
	if rec.Family != "" {
		attrs = append(attrs, slog.String("family", rec.Family))
	}
	attrs = append(attrs, slog.String("interface", rec.Interface), slog.String("ip", rec.IP.String()))
	if rec.MAC != "" {
		attrs = append(attrs, slog.String("mac", rec.MAC))
	}
	if rec.OldMAC != "" {
		attrs = append(attrs, slog.String("old_mac", rec.OldMAC))
	}
	if len(rec.MACs) > 0 {
		attrs = append(attrs, slog.Any("macs", rec.MACs))
	}
	if rec.ID != 0 {
		attrs = append(attrs, slog.Uint64("id", rec.ID))
	}
	if rec.Correction {
		attrs = append(attrs, slog.Bool("correction", true), slog.Uint64("corrects", rec.Corrects))
	}
	if rec.Outcome != "" {
		attrs = append(attrs, slog.String("outcome", rec.Outcome))
	}
	attrs = append(attrs, slog.String("message", rec.Message))
	if len(rec.Next) > 0 {
		// One string, the commands joined by "; ": logfmt would write a
		// list as [a b], where no one can tell where a command ends;
		// /findings has them as an array.
		next := make([]string, len(rec.Next))
		for i, c := range rec.Next {
			next[i] = c.String()
		}
		attrs = append(attrs, slog.String("next", strings.Join(next, "; ")))
	}
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

// traceRecord turns a trace finding on ifname, in namespace netns, into
// a record.
func traceRecord(netns, ifname string, f *capture.Finding) Record {
	rec := Record{
		Time: f.Time, Source: SourceTrace, Kind: string(f.Kind), Severity: string(f.Severity),
		Interface: ifname, IP: f.Peer(), Message: f.Message, MACs: f.MACs,
		ID: f.ID, Correction: f.Correction, Corrects: f.Corrects, Outcome: string(f.Outcome),
		Next: nextOrEmpty(diagnose.TraceNext(f, netns)),
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

// eventRecord turns a neighbor event of namespace netns into a record,
// worded as watch words it.
func eventRecord(netns string, ev *neigh.Event) Record {
	note, next := diagnose.EventNote(ev, netns)
	return Record{
		Time: ev.Time, Source: SourceEvents, Kind: string(ev.Kind), Severity: string(capture.Problem),
		Family: string(ev.Entry.Family), Interface: ev.Entry.Interface, IP: ev.Entry.IP,
		MAC: ev.Entry.MAC, OldMAC: ev.OldMAC, Message: note, Next: nextOrEmpty(next),
	}
}

// correctedRecord turns the MAC change that a verification round of the
// exporter made into a record: information, the round's own record being
// the problem (the entry it found wrong).
func correctedRecord(ev *neigh.Event) Record {
	e := ev.Entry
	return Record{
		Time: ev.Time, Source: SourceEvents, Kind: string(neigh.EventMACChanged), Severity: string(capture.Info),
		Family: string(e.Family), Interface: e.Interface, IP: e.IP, MAC: e.MAC, OldMAC: ev.OldMAC,
		Message: fmt.Sprintf("%s: %s -> %s on %s: corrected by the exporter's own probe: the kernel took the MAC that answered it, not another host claiming the IP",
			e.IP, ev.OldMAC, e.MAC, e.Interface),
		Next: nextOrEmpty(nil),
	}
}

// verifyRecord turns a probe result of namespace netns that found a
// problem into a record, worded as verify words it.
func verifyRecord(netns string, at time.Time, r *neigh.ProbeResult) Record {
	note, next := diagnose.ProbeNote(r, netns, false)
	rec := Record{
		Time: at, Source: SourceVerify, Kind: string(r.Verdict), Severity: string(capture.Problem),
		Family: string(r.Entry.Family), Interface: r.Entry.Interface, IP: r.Entry.IP, OldMAC: r.Entry.MAC,
		Message: note, Next: nextOrEmpty(next),
	}
	switch r.Verdict {
	case neigh.VerdictMismatch:
		rec.MAC = r.Answered[0]
	case neigh.VerdictDuplicate:
		rec.MACs = r.Answered
	}
	return rec
}

// nextOrEmpty makes "next" an array in JSON, never null.
func nextOrEmpty(cs []diagnose.Command) []diagnose.Command {
	if cs == nil {
		return []diagnose.Command{}
	}
	return cs
}
