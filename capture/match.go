package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// matcher puts together the verdicts that several captures (taken at the
// server and at the client, say) give on one handshake. Their clocks
// differ, so handshakes are matched by endpoints and the client's initial
// sequence number; what one capture saw and the other did not says where
// a packet was lost.
type matcher struct {
	names  []string
	limit  int
	groups map[hsKey]*matchGroup
	order  []hsKey
	// others are the neighbor findings, held so that all come out in
	// the order of time.
	others []Finding
	// servers lists, per capture, the servers it saw handshakes with: a
	// capture that saw a server at all would have seen a SYN to it.
	servers []map[netip.Addr]bool
}

type matchGroup struct {
	findings []Finding
	sources  []int
}

// findingsOf returns the group's findings; none for a nil group.
func (g *matchGroup) findingsOf() []Finding {
	if g == nil {
		return nil
	}
	return g.findings
}

func newMatcher(names []string, limit int) *matcher {
	m := &matcher{names: names, limit: limit, groups: map[hsKey]*matchGroup{}}
	for range names {
		m.servers = append(m.servers, map[netip.Addr]bool{})
	}
	return m
}

// hold keeps f, a handshake verdict from capture src, for matching; false
// means the matcher is full and f should go out as it is.
func (m *matcher) hold(src int, f Finding) bool {
	k := newKey(f.Client.Addr(), f.Client.Port(), f.Server.Addr(), f.Server.Port(), f.ClientISN)
	g := m.groups[k]
	if f.Correction {
		// Nothing held has gone out yet: the correction takes the place
		// of the verdict it corrects, as if it had been the first.
		for j := range g.findingsOf() {
			if g.sources[j] == src && g.findings[j].ID == f.Corrects {
				f.ID, f.Correction, f.Corrects, f.CorrectsKind, f.CorrectsSeverity = f.Corrects, false, 0, "", ""
				g.findings[j] = f
				return true
			}
		}
		return false
	}
	if g == nil {
		if len(m.groups) >= m.limit {
			return false
		}
		g = &matchGroup{}
		m.groups[k] = g
		m.order = append(m.order, k)
	}
	g.findings = append(g.findings, f)
	g.sources = append(g.sources, src)
	if len(m.servers[src]) < maxNeighbors {
		m.servers[src][f.Server.Addr()] = true
	}
	return true
}

// holdOther keeps a neighbor finding, to come out in time order with the
// handshakes; false means the matcher is full.
func (m *matcher) holdOther(f Finding) bool {
	if len(m.others) >= m.limit {
		return false
	}
	m.others = append(m.others, f)
	return true
}

// flush emits one finding per handshake and the neighbor findings, in
// the order of their times.
func (m *matcher) flush(emit func(Finding)) {
	out := m.others
	for _, k := range m.order {
		g := m.groups[k]
		if len(g.findings) == 1 {
			out = append(out, m.single(g.findings[0], g.sources[0]))
		} else {
			out = append(out, m.merge(g))
		}
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return a.Time.Compare(b.Time) })
	for _, f := range out {
		emit(f)
	}
	m.groups, m.order, m.others = nil, nil, nil
}

// single handles a handshake only one capture saw: if that is a SYN
// nobody answered, and another capture saw the server at all, the SYN
// was lost on the way.
func (m *matcher) single(f Finding, src int) Finding {
	f.SeenIn = []string{m.names[src]}
	if f.Kind != SynUnanswered {
		return f
	}
	var missing []string
	for j, servers := range m.servers {
		if j != src && servers[f.Server.Addr()] {
			missing = append(missing, m.names[j])
		}
	}
	if len(missing) > 0 {
		f.Lost = "SYN"
		f.Message += fmt.Sprintf("; the SYN left %s and never reached %s (seen in %s, not in %s)",
			f.Client.Addr(), f.Server.Addr(), m.names[src], strings.Join(missing, ", "))
	}
	return f
}

// rank orders verdicts from the most telling: the stale entry names the
// cause; a completed handshake says least about a failure.
func rank(f *Finding) int {
	switch {
	case f.Kind == SynAckToWrongMAC && f.Severity == Problem:
		return 0
	case f.Kind == Reset && f.Severity == Problem:
		return 1
	case f.Kind == SynAckUnacknowledged:
		return 2
	case f.Kind == SynUnanswered:
		return 3
	case f.Kind == Reset:
		return 4
	case f.Kind == SynAckToWrongMAC:
		return 5
	}
	return 6
}

func (m *matcher) merge(g *matchGroup) Finding {
	best := 0
	for i := range g.findings {
		if rank(&g.findings[i]) < rank(&g.findings[best]) {
			best = i
		}
	}
	f := g.findings[best]
	f.SeenIn = m.seenIn(g)
	var withSA, withoutSA, acked, notAcked []int
	for i := range g.findings {
		if g.findings[i].SYNACKs > 0 {
			withSA = append(withSA, i)
			if g.findings[i].Acked {
				acked = append(acked, i)
			} else {
				notAcked = append(notAcked, i)
			}
		} else {
			withoutSA = append(withoutSA, i)
		}
	}
	client, server := f.Client.Addr(), f.Server.Addr()
	switch {
	case len(withSA) > 0 && len(withoutSA) > 0:
		f.Lost = "SYN-ACK"
		toward := ""
		if sa := g.findings[withSA[0]]; len(sa.SynAckTo) > 0 {
			toward = " toward " + wrongOrFirst(&sa)
		}
		f.Message += fmt.Sprintf("; the SYN-ACK left %s%s and never reached %s (seen in %s, not in %s)",
			server, toward, client, m.list(g, withSA), m.list(g, withoutSA))
	case len(acked) > 0 && len(notAcked) > 0:
		f.Lost = "ACK"
		f.Message += fmt.Sprintf("; the final ACK left %s and never reached %s (seen in %s, not in %s)",
			client, server, m.list(g, acked), m.list(g, notAcked))
	}
	return f
}

// wrongOrFirst returns the MAC a SYN-ACK went to that is not the
// client's, or the first one.
func wrongOrFirst(f *Finding) string {
	for _, c := range f.SynAckTo {
		if c.MAC != f.ClientMAC {
			return c.MAC
		}
	}
	return f.SynAckTo[0].MAC
}

func (m *matcher) seenIn(g *matchGroup) []string {
	var out []string
	for _, s := range g.sources {
		out = append(out, m.names[s])
	}
	return out
}

func (m *matcher) list(g *matchGroup, idx []int) string {
	var out []string
	for _, i := range idx {
		out = append(out, m.names[g.sources[i]])
	}
	return strings.Join(out, ", ")
}
