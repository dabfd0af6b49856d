package capture

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/arpdoctor/arpdoctor/internal/words"
)

// judgedWhen says what brought a handshake its verdict.
type judgedWhen uint8

const (
	// judgedOnTime: it completed, was reset, or its wait ran out.
	judgedOnTime judgedWhen = iota
	// judgedAtEnd: the input ended before its wait ran out.
	judgedAtEnd
	// judgedBefore: it completed after a verdict of failure, which this
	// one corrects.
	judgedBefore
	// judgedEarly: its client still retransmits, but the stale entry is
	// already evident (see wrongAgain).
	judgedEarly
)

// handshakeFinding gives a handshake its verdict; idle is how long after
// its last packet the input ended (judgedAtEnd).
func (t *Tracker) handshakeFinding(k hsKey, h *handshake, when judgedWhen, idle time.Duration) Finding {
	clientAP, serverAP := k.clientAddrPort(), k.serverAddrPort()
	f := Finding{
		Source:    t.cfg.Source,
		Time:      stamp(h.first),
		End:       stamp(h.last),
		Client:    clientAP,
		Server:    serverAP,
		ClientISN: k.isn,
		SYNs:      int(h.syns),
		SYNACKs:   int(h.synAcks),
		Acked:     h.acked,
		ResetBy:   h.resetBy.String(),
		Duration:  Seconds(h.last - h.first),
	}
	switch {
	case h.acked && (when == judgedBefore || h.syns > 1 || h.synAcks > 1):
		f.Outcome = CompletedLate
	case h.acked:
		f.Outcome = Completed
	case h.resetBy != notReset:
		f.Outcome = ResetOutcome
	case when == judgedEarly:
		f.Outcome = Retrying
	case when == judgedAtEnd:
		f.Outcome = CaptureEnded
	default:
		f.Outcome = TimedOut
	}
	if h.hasClientMAC {
		f.ClientMAC = h.clientMAC.String()
	}
	if h.hasServerMAC {
		f.ServerMAC = h.serverMAC.String()
	}
	for _, c := range h.synAckTo {
		if c.n > 0 {
			f.SynAckTo = append(f.SynAckTo, MACCount{MAC: c.mac.String(), Count: int(c.n)})
		}
	}
	if h.acked {
		f.SetupTime = Seconds(h.ackAt - h.first)
	}

	// The stale entry shows as a SYN-ACK sent to another MAC than the SYN
	// came from, unless routing explains the difference.
	var wrong mac
	var isWrong bool
	if h.hasClientMAC {
		wrong, isWrong = h.synAckElsewhere()
	}
	client, server := clientAP.Addr(), serverAP.Addr()
	if isWrong {
		f.ViaRouter = t.routerReason(client, h.clientMAC, wrong)
		// Were the entry stale, no SYN-ACK sent to that MAC would arrive.
		// When the handshake completed and every SYN-ACK went there, the
		// MAC forwards for the client.
		if f.ViaRouter == "" && h.acked && !h.synAckWentTo(h.clientMAC) {
			f.ViaRouter = fmt.Sprintf("%s passed the SYN-ACK on to %s (the handshake completed)", wrong, client)
		}
		if t.cfg.Host != nil {
			if e, ok := t.cfg.Host.Neighbor(client); ok {
				f.Kernel = &e
			}
		}
	}
	switch {
	case isWrong && f.ViaRouter == "":
		f.Kind, f.Severity = SynAckToWrongMAC, Problem
		f.Message = fmt.Sprintf("%s answers %s at %s, but %s now sends from %s: the neighbor entry for %s is stale",
			server, client, wrong, client, h.clientMAC, client)
		if h.acked {
			f.Message += fmt.Sprintf("; the handshake completed after %s, once a SYN-ACK went to %s", fmtDuration(time.Duration(h.ackAt-h.first)), h.clientMAC)
		}
	case isWrong && h.acked:
		f.Kind, f.Severity = SynAckToWrongMAC, Info
		f.Message = fmt.Sprintf("%s answered %s at %s, not at %s that sent the SYN, but %s: routing, not a stale entry",
			server, client, wrong, h.clientMAC, f.ViaRouter)
	case h.acked:
		f.Kind, f.Severity = HandshakeOK, OK
		f.Message = fmt.Sprintf("%s connected to %s in %s", clientAP, serverAP, fmtDuration(time.Duration(h.ackAt-h.first)))
	case h.resetBy == resetByServer:
		f.Kind, f.Severity = Reset, Problem
		f.Message = fmt.Sprintf("%s refused %s's connection to port %d with RST: refused, not lost (nothing listens there, or a firewall rejects it)",
			server, client, serverAP.Port())
	case h.resetBy == resetByClient:
		f.Kind, f.Severity = Reset, Info
		f.Message = fmt.Sprintf("%s reset its own handshake with %s after the SYN-ACK (a port scan, or a client that had given up)",
			client, serverAP)
	case h.hasSynAck:
		f.Kind, f.Severity = SynAckUnacknowledged, Problem
		f.Message = fmt.Sprintf("%s answered %s's SYN, but no ACK came back", server, client)
		if isWrong {
			f.Message += fmt.Sprintf("; the SYN-ACK went to %s, not to %s that sent the SYN, but %s", wrong, h.clientMAC, f.ViaRouter)
		} else if h.synAckTo[0].n == 0 && framingOf(t.cfg.LinkType) != framingEthernet {
			f.Message += fmt.Sprintf(" (this %s capture records no destination MACs, so a stale neighbor entry for %s cannot be seen here)",
				t.cfg.LinkType, client)
		}
	default:
		f.Kind, f.Severity = SynUnanswered, Problem
		f.Message = fmt.Sprintf("%s got no answer from %s", client, serverAP)
	}
	if f.Kind != HandshakeOK {
		f.Message += " (" + handshakeCounts(k, h) + ")"
	}
	if f.Kernel != nil {
		// The stale entry, already replaced by the MAC the client sends
		// from.
		f.KernelCorrected = f.Kind == SynAckToWrongMAC && f.Severity == Problem && f.Kernel.MAC == f.ClientMAC
		f.Message += "; the kernel's entry now: " + f.Kernel.describe()
		if f.KernelCorrected {
			f.Message += ": the kernel has corrected it"
		}
	}
	if when == judgedAtEnd && f.Kind != HandshakeOK {
		f.Message += fmt.Sprintf("; the capture ended %s after its last packet", fmtDuration(idle))
	}
	if when == judgedEarly {
		f.Message += fmt.Sprintf("; judged while %s was still retransmitting its SYN: an update follows if the handshake completes", client)
	}
	if h.back > 0 {
		// A capture's clock that steps back (a clock set back while
		// capturing, files joined out of order) makes the order of the
		// packets and the order of their times disagree: the times span
		// the earliest to the latest, as Wireshark's conversations do.
		f.Message += fmt.Sprintf("; the capture's clock went back %s within this handshake: its times run from its earliest packet to its latest, not in capture order",
			fmtDuration(time.Duration(h.back)))
	}
	return f
}

// synAckElsewhere returns a MAC a SYN-ACK went to that is not the one
// the SYN came from.
func (h *handshake) synAckElsewhere() (mac, bool) {
	for _, c := range h.synAckTo {
		if c.n > 0 && c.mac != h.clientMAC {
			return c.mac, true
		}
	}
	return mac{}, false
}

func (h *handshake) synAckWentElsewhere() bool {
	_, ok := h.synAckElsewhere()
	return ok
}

func (h *handshake) synAckWentTo(m mac) bool {
	for _, c := range h.synAckTo {
		if c.n > 0 && c.mac == m {
			return true
		}
	}
	return false
}

// routerReason explains a SYN-ACK sent to another MAC than the SYN came
// from by routing, or returns "".
func (t *Tracker) routerReason(client netip.Addr, from, to mac) string {
	if n := t.addrsBehind(from); n >= routerAddrs {
		return fmt.Sprintf("%s sends for %d or more addresses, as a router does", from, n)
	}
	if n := t.addrsBehind(to); n >= routerAddrs {
		return fmt.Sprintf("%s receives for %d or more addresses, as a router does", to, n)
	}
	if t.cfg.Host != nil {
		if on, known := t.cfg.Host.OnLink(client); known && !on {
			return fmt.Sprintf("%s is not on-link: the route to it goes through a gateway", client)
		}
	}
	return ""
}

// handshakeCounts says what the handshake's packets were.
func handshakeCounts(k hsKey, h *handshake) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s → %s: %s", k.clientAddrPort(), k.serverAddrPort(), words.Count(int(h.syns), "SYN", "SYNs"))
	if h.syns > 1 {
		fmt.Fprintf(&b, " over %s", fmtDuration(time.Duration(h.lastSYN-h.first)))
	}
	if h.synAcks == 0 {
		if h.resetBy != notReset {
			fmt.Fprintf(&b, ", RST from the %s", h.resetBy)
		} else {
			b.WriteString(", nothing back")
		}
		return b.String()
	}
	fmt.Fprintf(&b, ", %s", words.Count(int(h.synAcks), "SYN-ACK", "SYN-ACKs"))
	var to []string
	for _, c := range h.synAckTo {
		if c.n > 0 {
			to = append(to, fmt.Sprintf("%d to %s", c.n, c.mac))
		}
	}
	if h.synAckToOther > 0 {
		to = append(to, fmt.Sprintf("%d to other MACs", h.synAckToOther))
	}
	if len(to) > 0 {
		b.WriteString(" (" + strings.Join(to, ", ") + ")")
	}
	switch {
	case h.acked:
		b.WriteString(", ACK")
	case h.resetBy != notReset:
		fmt.Fprintf(&b, ", RST from the %s", h.resetBy)
	default:
		b.WriteString(", no ACK")
	}
	return b.String()
}

// probeFinding says the probes of p went unanswered; answeredBy, when
// known, is the MAC the target answered from instead.
func (t *Tracker) probeFinding(k probeKey, p *probe, answeredBy mac, hasAnswer, endedEarly bool, idle time.Duration) Finding {
	f := Finding{
		Kind:     UnansweredARPProbe,
		Severity: Problem,
		Source:   t.cfg.Source,
		Time:     stamp(p.first),
		End:      stamp(p.last),
		IP:       k.target,
		Prober:   k.prober,
		Probes:   p.count,
		Protocol: p.protocol,
	}
	what := words.Count(p.count, "ARP request", "ARP requests")
	if p.protocol == "ndp" {
		what = words.Count(p.count, "neighbor solicitation", "neighbor solicitations")
	}
	if p.hasMAC {
		f.MAC = p.mac.String()
		f.Message = fmt.Sprintf("%s probed %s at its cached MAC %s with %s and got no reply: %s is gone, the entry is stale",
			k.prober, k.target, p.mac, what, p.mac)
	} else {
		f.Message = fmt.Sprintf("%s probed its cached entry for %s with %s sent unicast and got no reply: the cached MAC is gone",
			k.prober, k.target, what)
	}
	if hasAnswer {
		f.Message += fmt.Sprintf("; %s answered from %s instead", k.target, answeredBy)
	}
	if t.cfg.Host != nil {
		if e, ok := t.cfg.Host.Neighbor(k.target); ok {
			f.Kernel = &e
			f.Message += "; the kernel's entry now: " + e.describe()
			// The probed MAC is dead: an entry that holds another one was
			// resolved anew.
			if e.MAC != "" && p.hasMAC && e.MAC != p.mac.String() {
				f.KernelCorrected = true
				f.Message += ": the kernel has corrected it"
			}
		}
	}
	if endedEarly {
		f.Message += fmt.Sprintf("; the capture ended %s after the last probe", fmtDuration(idle))
	}
	return f
}

func (t *Tracker) macChangedFinding(ip netip.Addr, old, now mac, protocol string, ts int64) Finding {
	return Finding{
		Kind:     MACChanged,
		Severity: Info,
		Source:   t.cfg.Source,
		Time:     stamp(ts),
		IP:       ip,
		OldMAC:   old.String(),
		MAC:      now.String(),
		Protocol: protocol,
		Message: fmt.Sprintf("%s moved from %s to %s (%s): hosts that still cache %s send to a MAC that no longer owns it",
			ip, old, now, strings.ToUpper(protocol), old),
	}
}

func (t *Tracker) duplicateFinding(ip netip.Addr, a, b mac, flips int, protocol string, ts int64) Finding {
	return Finding{
		Kind:     DuplicateIP,
		Severity: Problem,
		Source:   t.cfg.Source,
		Time:     stamp(ts),
		IP:       ip,
		MACs:     []string{a.String(), b.String()},
		Flips:    flips,
		Protocol: protocol,
		Message: fmt.Sprintf("%s is claimed by both %s and %s, back and forth %d times (%s): two hosts use one IP",
			ip, a, b, flips, strings.ToUpper(protocol)),
	}
}

func (e KernelEntry) describe() string {
	if e.MAC == "" {
		return fmt.Sprintf("%s %s", e.IP, e.State)
	}
	return fmt.Sprintf("%s at %s, %s", e.IP, e.MAC, e.State)
}

// stamp turns a capture time into a time.Time in UTC, the zone of pcap
// files.
func stamp(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// fmtDuration rounds a duration for reading: three significant digits or
// so.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		d = d.Round(100 * time.Millisecond)
	case d >= time.Second:
		d = d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		d = d.Round(10 * time.Microsecond)
	default:
		d = d.Round(time.Microsecond)
	}
	return d.String()
}
