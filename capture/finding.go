package capture

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
)

// Kind names what a finding says; docs/findings-trace.md explains each
// and what to do about it.
type Kind string

// Handshake verdicts: each traced handshake ends in exactly one.
const (
	// SynAckToWrongMAC: the server sent its SYN-ACK to another MAC than
	// the one the SYN came from: its neighbor entry for the client is stale.
	SynAckToWrongMAC Kind = "synack_to_wrong_mac"
	// SynAckUnacknowledged: SYN received, SYN-ACK sent (perhaps again and
	// again), and no ACK came back.
	SynAckUnacknowledged Kind = "synack_unacknowledged"
	// SynUnanswered: SYNs and nothing back; the view from the client.
	SynUnanswered Kind = "syn_unanswered"
	// Reset: the handshake was answered with RST: refused, not lost.
	Reset Kind = "reset"
	// HandshakeOK: SYN, SYN-ACK and ACK, all where they belong.
	HandshakeOK Kind = "handshake_ok"
)

// Neighbor findings, from ARP and NDP.
const (
	// UnansweredARPProbe: a host probed the MAC it has cached for an IP
	// (an ARP request or neighbor solicitation sent unicast) and nobody
	// answered: the cached MAC is dead.
	UnansweredARPProbe Kind = "unanswered_arp_probe"
	// MACChanged: ARP or NDP shows an IP at a new MAC (arpwatch's
	// "changed ethernet address").
	MACChanged Kind = "mac_changed"
	// DuplicateIP: two MACs keep claiming one IP (arpwatch's "flip flop").
	DuplicateIP Kind = "duplicate_ip"
)

// Kinds lists every kind, in the order the summary shows them.
var Kinds = []Kind{
	SynAckToWrongMAC, SynAckUnacknowledged, SynUnanswered, Reset, HandshakeOK,
	UnansweredARPProbe, MACChanged, DuplicateIP,
}

// IsHandshake says whether the kind is a handshake verdict.
func (k Kind) IsHandshake() bool {
	switch k {
	case SynAckToWrongMAC, SynAckUnacknowledged, SynUnanswered, Reset, HandshakeOK:
		return true
	}
	return false
}

// Severity says how much a finding matters. Only problems make the
// command exit 1.
type Severity string

const (
	// Problem: something is broken: a handshake was lost or refused, a
	// neighbor entry is proven wrong.
	Problem Severity = "problem"
	// Info: worth knowing, not broken by itself (a MAC that changed, a
	// MAC difference explained by a router).
	Info Severity = "info"
	// OK: a handshake that worked.
	OK Severity = "ok"
)

// Finding is one thing the packets show. Fields that do not apply to its
// kind are left out of the JSON.
type Finding struct {
	Kind     Kind     `json:"kind"`
	Severity Severity `json:"severity"`
	// ID names the finding within its run: unique, and increasing in the
	// order findings are made (with several captures they come out in
	// the order of time, so not in the order of their IDs).
	ID uint64 `json:"id"`
	// Correction says this finding replaces an earlier one, whose ID is
	// Corrects and whose kind and severity were CorrectsKind and
	// CorrectsSeverity: a handshake judged a failure that completed
	// afterwards. A stream's reader replaces the earlier finding with this
	// one; the summary counts the handshake once, by its corrected verdict.
	Correction       bool     `json:"correction,omitempty"`
	Corrects         uint64   `json:"corrects,omitempty"`
	CorrectsKind     Kind     `json:"corrects_kind,omitempty"`
	CorrectsSeverity Severity `json:"corrects_severity,omitempty"`
	// Message says it for people, with the addresses and MACs involved.
	Message string `json:"message"`
	// Source is the capture the evidence comes from: a file name, "-" for
	// standard input, or the interface of a live capture.
	Source string `json:"source"`
	// SeenIn lists every capture that saw the handshake, when several
	// captures were matched.
	SeenIn []string `json:"seen_in,omitempty"`
	// Time is the first packet of the evidence, End the last: for a
	// handshake, the earliest and the latest time stamp of its packets,
	// should the capture's clock have gone back in between.
	Time time.Time `json:"time"`
	End  time.Time `json:"end,omitzero"`

	// Client and Server are the handshake's endpoints; ClientISN the
	// client's initial sequence number, which tells handshakes on one
	// port pair apart.
	Client    netip.AddrPort `json:"client,omitzero"`
	Server    netip.AddrPort `json:"server,omitzero"`
	ClientISN uint32         `json:"client_isn,omitempty"`
	// ClientMAC is the source MAC of the SYNs, ServerMAC that of the
	// SYN-ACKs, SynAckTo the MACs the SYN-ACKs were sent to.
	ClientMAC string     `json:"client_mac,omitempty"`
	ServerMAC string     `json:"server_mac,omitempty"`
	SynAckTo  []MACCount `json:"synack_to,omitempty"`
	SYNs      int        `json:"syns,omitempty"`
	SYNACKs   int        `json:"synacks,omitempty"`
	// Acked says the final ACK came: the handshake completed.
	Acked bool `json:"acked,omitempty"`
	// ResetBy is "server" (the SYN was refused) or "client" (the client
	// reset its own handshake after the SYN-ACK).
	ResetBy string `json:"reset_by,omitempty"`
	// SetupTime is from the first SYN to the final ACK.
	SetupTime Seconds `json:"setup_s,omitempty"`
	// Outcome says how the handshake ended (see the Outcome constants).
	Outcome Outcome `json:"outcome,omitempty"`
	// Duration is from the first SYN to the handshake's last packet: the
	// final ACK when it completed. It is End minus Time, never negative:
	// with time stamps out of order, from the earliest to the latest.
	Duration Seconds `json:"duration_s,omitempty"`
	// ViaRouter says why a MAC difference was not taken for a stale
	// entry: the client's packets come through a router.
	ViaRouter string `json:"via_router,omitempty"`
	// Lost names the packet that one capture saw and another did not:
	// "SYN", "SYN-ACK" or "ACK".
	Lost string `json:"lost,omitempty"`

	// IP is the address whose MAC is in question (neighbor kinds).
	IP netip.Addr `json:"ip,omitzero"`
	// MAC is the probed MAC (unanswered_arp_probe) or the new one
	// (mac_changed); OldMAC the one before.
	MAC    string `json:"mac,omitempty"`
	OldMAC string `json:"old_mac,omitempty"`
	// MACs are the two MACs that claim IP (duplicate_ip).
	MACs []string `json:"macs,omitempty"`
	// Prober is the host that sent the unanswered probes.
	Prober netip.Addr `json:"prober,omitzero"`
	Probes int        `json:"probes,omitempty"`
	// Protocol is "arp" or "ndp" for neighbor kinds.
	Protocol string `json:"protocol,omitempty"`
	// Flips counts how often the IP went back to a MAC it had before.
	Flips int `json:"flips,omitempty"`

	// Kernel is the live host's neighbor entry for the IP in question when
	// the finding was made (live capture only).
	Kernel *KernelEntry `json:"kernel_entry,omitempty"`
	// KernelCorrected says the kernel's entry already holds the MAC the
	// peer answers from now: the kernel resolved it anew by itself, and
	// there is nothing left to flush.
	KernelCorrected bool `json:"kernel_corrected,omitempty"`
}

// Outcome says how a handshake ended.
type Outcome string

// Handshake outcomes.
const (
	// Completed: the final ACK came, and no SYN or SYN-ACK had to be sent
	// twice.
	Completed Outcome = "completed"
	// CompletedLate: the final ACK came, but only after retransmissions
	// (a SYN-ACK lost to a stale entry, say), or after trace had already
	// judged the handshake a failure (a correction).
	CompletedLate Outcome = "completed_late"
	// ResetOutcome: a RST ended it.
	ResetOutcome Outcome = "reset"
	// TimedOut: no packet came for as long as the client could still be
	// retransmitting its SYN (or the handshake timeout, if shorter).
	TimedOut Outcome = "timed_out"
	// CaptureEnded: the input ended while the handshake was still open.
	CaptureEnded Outcome = "capture_ended"
	// Retrying: the verdict came while the client was still
	// retransmitting its SYN, because the evidence already sufficed (a
	// synack_to_wrong_mac whose SYN-ACK went to the wrong MAC again after
	// the client retried). The handshake gets no other verdict; if it
	// completes, a correction follows.
	Retrying Outcome = "retrying"
)

// Peer is the address a problem is about: the client whose entry is stale
// or who got no ACK through, the server that did not answer or refused,
// the IP whose MAC is in question.
func (f *Finding) Peer() netip.Addr {
	switch f.Kind {
	case SynAckToWrongMAC, SynAckUnacknowledged:
		return f.Client.Addr()
	case SynUnanswered, Reset, HandshakeOK:
		return f.Server.Addr()
	}
	return f.IP
}

// MACCount is a MAC and how many packets went to it.
type MACCount struct {
	MAC   string `json:"mac"`
	Count int    `json:"count"`
}

// KernelEntry is a neighbor entry as the kernel reported it.
type KernelEntry struct {
	IP        netip.Addr  `json:"ip"`
	MAC       string      `json:"mac,omitempty"`
	State     neigh.State `json:"state"`
	Interface string      `json:"interface"`
}

// Seconds is a duration that reads as seconds in JSON.
type Seconds time.Duration

// MarshalJSON writes the duration in seconds, to the microsecond.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(formatSeconds(time.Duration(s))), nil
}

// UnmarshalJSON reads seconds as MarshalJSON writes them.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("seconds: %w", err)
	}
	*s = Seconds(math.Round(f * float64(time.Second)))
	return nil
}

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Round(time.Microsecond).Seconds(), 'f', -1, 64)
}

// mac is an Ethernet address held by value, so that records keep no
// reference to packet buffers.
type mac [6]byte

func macFrom(b []byte) (mac, bool) {
	var m mac
	if len(b) != 6 {
		return m, false
	}
	copy(m[:], b)
	return m, true
}

func (m mac) String() string { return net.HardwareAddr(m[:]).String() }

// isUnicast: the group bit is clear (not broadcast, not multicast).
func (m mac) isUnicast() bool { return m[0]&1 == 0 }

// AddFinding adds f to fs; a correction takes the place of the finding it
// corrects, so that a handshake that completed late counts once.
func AddFinding(fs []Finding, f Finding) []Finding {
	if f.Correction {
		for i := range fs {
			if fs[i].ID == f.Corrects {
				fs[i] = f
				return fs
			}
		}
	}
	return append(fs, f)
}
