package diagnose

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/internal/words"
	"github.com/arpdoctor/arpdoctor/neigh"
)

// FixEntry is the one next step for an entry proven or seen wrong, stale
// or dead: verify --fix probes it again and replaces or deletes it only
// if the answers still prove it wrong, where a flush would delete it
// whatever the answers. ifname is "" when the evidence names no
// interface (a trace of another host's packets).
func FixEntry(netns string, ip netip.Addr, ifname string) Command {
	args := []string{"verify", "--fix", "--ip", ip.String()}
	if ifname != "" {
		args = append(args, "-i", ifname)
	}
	return In(netns, args...)
}

// ProbeNote explains one probe result that is a problem, or why an entry
// was not probed, with the commands to run next; "" when there is nothing
// to say. fixing says a fix was asked for, so no fix is suggested.
func ProbeNote(r *neigh.ProbeResult, netns string, fixing bool) (note string, next []Command) {
	switch r.Verdict {
	case neigh.VerdictUnprobed:
		return fmt.Sprintf("%s: not probed: %s", r.Entry.IP, r.Unprobed), nil
	case neigh.VerdictNotCached:
		if len(r.Answered) == 0 {
			return fmt.Sprintf("%s: not in the cache, and nobody on %s answers for it", r.Entry.IP, r.Entry.Interface), nil
		}
		return fmt.Sprintf("%s: not in the cache; %s answers for it on %s", r.Entry.IP, r.Answered[0], r.Entry.Interface), nil
	}
	if !r.Problem() {
		return "", nil
	}
	e := r.Entry
	sel := []string{"--ip", e.IP.String(), "-i", e.Interface}
	switch r.Verdict {
	case neigh.VerdictMismatch:
		cached := e.MAC
		if cached == "" {
			cached = "no MAC (" + e.State.String() + ")"
		}
		note = fmt.Sprintf("%s: the cache says %s but %s answers: the entry is stale", e.IP, cached, r.Answered[0])
		if r.Corrected() {
			note += "; the kernel took the new MAC from the probe's answer"
		} else if !fixing {
			next = append(next, FixEntry(netns, e.IP, e.Interface))
		}
		if e.State != neigh.Permanent {
			// Settings cannot keep a hand-set entry from going stale.
			next = append(next, In(netns, "sysctl", "check"))
		}
	case neigh.VerdictNoAnswer:
		note = fmt.Sprintf("%s: nobody answers, yet the cache holds it as %s with %s: the entry is dead", e.IP, e.State, e.MAC)
		if !fixing {
			next = append(next, FixEntry(netns, e.IP, e.Interface))
		}
	case neigh.VerdictDuplicate:
		note = fmt.Sprintf("%s: %d hosts answer (%s): two machines claim this IP; find the one that should not have it",
			e.IP, len(r.Answered), strings.Join(r.Answered, ", "))
		next = append(next, In(netns, append([]string{"watch"}, sel...)...))
	}
	return note, next
}

// TableSummary counts entries by state, in the kernel's order of states,
// and adds the gc thresholds of the tables given:
// "3 entries: 1 REACHABLE, 2 STALE; gc_thresh1/2/3 inet 128/512/1024".
func TableSummary(entries []neigh.Entry, tables []neigh.Table) string {
	counts := map[neigh.State]int{}
	var order []neigh.State
	for _, e := range entries {
		if counts[e.State] == 0 {
			order = append(order, e.State)
		}
		counts[e.State]++
	}
	var b strings.Builder
	b.WriteString(words.Count(len(entries), "entry", "entries"))
	if len(order) > 0 {
		SortStates(order)
		b.WriteString(":")
		for i, s := range order {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " %d %s", counts[s], s)
		}
	}
	for i, t := range tables {
		if i == 0 {
			b.WriteString("; gc_thresh1/2/3")
		} else {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s %d/%d/%d", t.Family, t.Thresh1, t.Thresh2, t.Thresh3)
	}
	return b.String()
}

// SortStates orders states as the kernel numbers them, NONE last.
func SortStates(ss []neigh.State) {
	key := func(s neigh.State) int {
		if s == neigh.None {
			return 1 << 16
		}
		return int(s)
	}
	slices.SortFunc(ss, func(a, b neigh.State) int { return cmp.Compare(key(a), key(b)) })
}

// TraceNext names what to run about a handshake finding that is a
// problem: fix the entry the packets show wrong, once probes prove it
// (FixEntry), or prove what the packets only suggest; when the kernel has
// already corrected the entry, find out why it lived. They run on the host
// that holds the entry, in the namespace traced.
func TraceNext(f *capture.Finding, netns string) []Command {
	if f.Severity != capture.Problem {
		return nil
	}
	if f.KernelCorrected {
		return []Command{In(netns, "sysctl", "check")}
	}
	switch f.Kind {
	case capture.SynAckToWrongMAC:
		return []Command{FixEntry(netns, f.Client.Addr(), "")}
	case capture.UnansweredARPProbe:
		return []Command{FixEntry(netns, f.IP, "")}
	case capture.SynAckUnacknowledged:
		return []Command{In(netns, "verify", "--ip", f.Client.Addr().String())}
	case capture.DuplicateIP:
		return []Command{In(netns, "verify", "--ip", f.IP.String())}
	}
	return nil
}

// EventNote explains a kernel neighbor event that points at a problem
// (mac_changed, flip_flop, failed), with the commands to run next; ""
// for the other events. The note starts with the IP and says what
// changed and on which interface before what it means, so that a narrow
// screen cuts the meaning first.
func EventNote(ev *neigh.Event, netns string) (note string, next []Command) {
	e := ev.Entry
	probe := In(netns, "verify", "--ip", e.IP.String(), "-i", e.Interface)
	switch ev.Kind {
	case neigh.EventMACChanged:
		// The kernel has the new MAC now: what is left is to prove it is
		// the owner's, and to find out why the old one lived so long.
		return fmt.Sprintf("%s: %s -> %s on %s: the IP now belongs to another host (a reused IP?)", e.IP, ev.OldMAC, e.MAC, e.Interface),
			[]Command{probe, In(netns, "sysctl", "check")}
	case neigh.EventFlipFlop:
		return fmt.Sprintf("%s: %s -> %s on %s, back to the MAC it had before the last change: two hosts claim this IP", e.IP, ev.OldMAC, e.MAC, e.Interface),
			[]Command{probe}
	case neigh.EventFailed:
		return fmt.Sprintf("%s: %s on %s: nobody answers", e.IP, e.State, e.Interface), []Command{probe}
	}
	return "", nil
}
