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
			next = append(next, In(netns, append([]string{"verify", "--fix"}, sel...)...))
		}
		if e.State != neigh.Permanent {
			// Settings cannot keep a hand-set entry from going stale.
			next = append(next, In(netns, "sysctl", "check"))
		}
	case neigh.VerdictNoAnswer:
		note = fmt.Sprintf("%s: nobody answers, yet the cache holds it as %s with %s: the entry is dead", e.IP, e.State, e.MAC)
		if !fixing {
			next = append(next, In(netns, append([]string{"flush"}, sel...)...))
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
// problem: prove the entry wrong, then flush it; when the kernel has
// already corrected the entry, find out why it lived. They run on the host
// that holds the entry, in the namespace traced.
func TraceNext(f *capture.Finding, netns string) []Command {
	if f.Severity != capture.Problem {
		return nil
	}
	if f.KernelCorrected {
		return []Command{In(netns, "sysctl", "check")}
	}
	var ip netip.Addr
	var flush bool
	switch f.Kind {
	case capture.SynAckToWrongMAC:
		ip, flush = f.Client.Addr(), true
	case capture.UnansweredARPProbe:
		ip, flush = f.IP, true
	case capture.SynAckUnacknowledged:
		ip = f.Client.Addr()
	case capture.DuplicateIP:
		ip = f.IP
	default:
		return nil
	}
	cmds := []Command{In(netns, "verify", "--ip", ip.String())}
	if flush {
		cmds = append(cmds, In(netns, "flush", "--ip", ip.String()))
	}
	return cmds
}
