package capture

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"unsafe"
)

// matcher puts together the verdicts that several captures (taken at the
// server and at the client, say) give on one handshake. Their clocks
// differ, so handshakes are matched by endpoints and the client's initial
// sequence number; what one capture saw and the other did not says where
// a packet was lost.
//
// The same endpoints and sequence number can come again (a client that
// resends one SYN after the verdict on it): each time is a handshake of
// its own, with its own verdict, and the n-th time in one capture is
// matched with the n-th time in another.
//
// What it holds is bounded in bytes: when the bound is reached, the
// oldest held verdicts go out as they stand, matched with what the
// captures read so far showed, so that memory does not grow with the
// files.
type matcher struct {
	names  []string
	budget int // bytes the held verdicts may take
	held   int // bytes they take now
	emit   func(Finding)
	keys   map[hsKey]*matchChain
	// queue holds every group and neighbor finding in the order they
	// came; queue[head:] are still held.
	queue []*matchGroup
	head  int
	// early counts the handshakes that went out, to stay within the
	// budget, before every capture had given its verdict.
	early int
	// servers lists, per capture, the servers it saw handshakes with: a
	// capture that saw a server at all would have seen a SYN to it.
	servers []map[netip.Addr]bool
	// gone remembers, by the ID a tracker gave it, each verdict that went
	// out early, and as what, so that a correction that comes after it
	// (a handshake judged while its client retried, that completed) names
	// what went out; goneRing bounds them, goneNext the oldest once full.
	gone     map[uint64]goneVerdict
	goneRing []uint64
	goneNext int
}

// goneVerdict is what went out for a verdict: the finding of its
// handshake, which is that verdict's own (same ID) or another capture's
// more telling one.
type goneVerdict struct {
	id             uint64
	kind, severity uint8 // indexes in Kinds and severities
	rank           uint8
	seenIn         []string
}

// maxGoneDiv bounds the verdicts that went out early and are remembered
// for a correction: MaxHandshakes / maxGoneDiv of them, some 70 bytes
// each. A correction that comes later still is dropped: the verdict that
// went out stands, counted once.
const maxGoneDiv = 4

// matchChain is every held occurrence of one handshake key, oldest first.
type matchChain struct {
	first, last *matchGroup
	// joined is, per capture, the last group it gave a verdict to: its
	// next verdict on the key belongs to the group after it.
	joined []*matchGroup
}

// matchGroup is one handshake as several captures saw it (at most one
// verdict each), or one neighbor finding (other).
type matchGroup struct {
	key      hsKey
	other    bool
	gone     bool // emitted, no longer held
	size     int
	findings []Finding
	sources  []int
	next     *matchGroup // the next occurrence of the key
}

// matchOverhead is what a held group costs besides its findings: the
// group, its place in the queue and in the map of keys.
const matchOverhead = int(unsafe.Sizeof(matchGroup{})+unsafe.Sizeof(matchChain{})) + 64

// findingSize estimates the bytes a held finding takes.
func findingSize(f *Finding) int {
	n := int(unsafe.Sizeof(*f)) + len(f.Message) + len(f.ClientMAC) + len(f.ServerMAC) +
		len(f.MAC) + len(f.OldMAC)
	for _, c := range f.SynAckTo {
		n += int(unsafe.Sizeof(c)) + len(c.MAC)
	}
	for _, m := range f.MACs {
		n += int(unsafe.Sizeof(m)) + len(m)
	}
	return n
}

// matchBytesPerHandshake is the matcher's budget per allowed handshake
// (MaxHandshakes): 6.4 MB by default, some 7,500 verdicts, so that several
// captures are traced within the memory one takes (docs/benchmarks-trace.md).
const matchBytesPerHandshake = 64

func newMatcher(names []string, maxHandshakes int, emit func(Finding)) *matcher {
	m := &matcher{
		names:  names,
		budget: maxHandshakes * matchBytesPerHandshake,
		emit:   emit,
		keys:   map[hsKey]*matchChain{},
		gone:   map[uint64]goneVerdict{},
	}
	m.goneRing = make([]uint64, 0, max(1, maxHandshakes/maxGoneDiv))
	for range names {
		m.servers = append(m.servers, map[netip.Addr]bool{})
	}
	return m
}

// hold keeps f, a handshake verdict from capture src, for matching.
func (m *matcher) hold(src int, f Finding) {
	k := newKey(f.Client.Addr(), f.Client.Port(), f.Server.Addr(), f.Server.Port(), f.ClientISN)
	if f.Correction {
		if !m.correct(k, src, f) {
			m.correctGone(f)
		}
		return
	}
	if len(m.servers[src]) < maxNeighbors {
		m.servers[src][f.Server.Addr()] = true
	}
	c := m.keys[k]
	if c == nil {
		c = &matchChain{joined: make([]*matchGroup, len(m.names))}
		m.keys[k] = c
	}
	g := c.first
	if j := c.joined[src]; j != nil && !j.gone {
		g = j.next
	}
	if g == nil {
		g = &matchGroup{key: k, size: matchOverhead}
		if c.last == nil {
			c.first = g
		} else {
			c.last.next = g
		}
		c.last = g
		m.queue = append(m.queue, g)
	}
	c.joined[src] = g
	n := findingSize(&f)
	g.findings = append(g.findings, f)
	g.sources = append(g.sources, src)
	g.size += n
	m.held += n
	if len(g.findings) == 1 {
		m.held += matchOverhead
	}
	m.bound()
}

// correct puts a correction in the place of the verdict it corrects from
// the same capture, while that verdict is held: nothing held has gone out
// yet, so it goes out as if it had been the first. False when the verdict
// is no longer held.
func (m *matcher) correct(k hsKey, src int, f Finding) bool {
	c := m.keys[k]
	if c == nil {
		return false
	}
	for g := c.first; g != nil; g = g.next {
		for j := range g.findings {
			if g.sources[j] != src || g.findings[j].ID != f.Corrects {
				continue
			}
			f.ID, f.Correction, f.Corrects, f.CorrectsKind, f.CorrectsSeverity = f.Corrects, false, 0, "", ""
			n := findingSize(&f) - findingSize(&g.findings[j])
			g.findings[j] = f
			g.size += n
			m.held += n
			return true
		}
	}
	return false
}

// correctGone takes a correction whose verdict went out already: it
// follows that verdict, and readers replace the one by the other. When
// what went out was another capture's more telling verdict, that one
// stands: this capture's change of mind does not undo the other's
// evidence (a client's capture that saw the handshake complete, say, does
// not clear the server's stale entry).
func (m *matcher) correctGone(f Finding) {
	g, ok := m.gone[f.Corrects]
	if !ok {
		return
	}
	delete(m.gone, f.Corrects)
	if g.id != f.Corrects && rank(&f) > int(g.rank) {
		return
	}
	f.Corrects, f.CorrectsKind, f.CorrectsSeverity = g.id, Kinds[g.kind], severities[g.severity]
	f.SeenIn = g.seenIn
	m.emit(f)
}

// remember keeps what went out early for the verdicts of g, within the
// bound on them: the oldest are forgotten first.
func (m *matcher) remember(g *matchGroup, out *Finding) {
	gv := goneVerdict{id: out.ID, kind: kindIndex(out.Kind), severity: severityIndex(out.Severity), rank: uint8(rank(out)), seenIn: out.SeenIn}
	for i := range g.findings {
		id := g.findings[i].ID
		if len(m.goneRing) < cap(m.goneRing) {
			m.goneRing = append(m.goneRing, id)
		} else {
			delete(m.gone, m.goneRing[m.goneNext])
			m.goneRing[m.goneNext] = id
			m.goneNext = (m.goneNext + 1) % len(m.goneRing)
		}
		m.gone[id] = gv
	}
}

// holdOther keeps a neighbor finding, to come out in time order with the
// handshakes.
func (m *matcher) holdOther(f Finding) {
	g := &matchGroup{other: true, findings: []Finding{f}, size: matchOverhead + findingSize(&f)}
	m.queue = append(m.queue, g)
	m.held += g.size
	m.bound()
}

// bound lets the oldest held go out until the rest fit in the budget.
func (m *matcher) bound() {
	for m.held > m.budget && m.head < len(m.queue) {
		g := m.pop()
		if !g.other && len(g.sources) < len(m.names) {
			m.early++
		}
		out := m.result(g)
		if !g.other {
			m.remember(g, &out)
		}
		m.emit(out)
	}
	// Reuse the queue's array once its dead front is half of it.
	if m.head > 1024 && m.head*2 > len(m.queue) {
		n := copy(m.queue, m.queue[m.head:])
		clear(m.queue[n:])
		m.queue, m.head = m.queue[:n], 0
	}
}

// pop takes the oldest held group out of the queue and its chain. Groups
// are queued in the order they are made, so it is the first of its chain.
func (m *matcher) pop() *matchGroup {
	g := m.queue[m.head]
	m.queue[m.head] = nil
	m.head++
	m.held -= g.size
	g.gone = true
	if !g.other {
		c := m.keys[g.key]
		c.first = g.next
		if c.first == nil {
			delete(m.keys, g.key)
		}
		g.next = nil
	}
	return g
}

func (m *matcher) result(g *matchGroup) Finding {
	switch {
	case g.other:
		return g.findings[0]
	case len(g.findings) == 1:
		return m.single(g.findings[0], g.sources[0])
	}
	return m.merge(g)
}

// flush emits one finding per handshake and the neighbor findings still
// held, in the order of their times.
func (m *matcher) flush() {
	out := make([]Finding, 0, len(m.queue)-m.head)
	for m.head < len(m.queue) {
		out = append(out, m.result(m.pop()))
	}
	slices.SortStableFunc(out, func(a, b Finding) int { return a.Time.Compare(b.Time) })
	for _, f := range out {
		m.emit(f)
	}
	m.queue, m.head, m.keys = nil, 0, nil
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
