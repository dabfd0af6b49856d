package capture

import (
	"net/netip"
	"slices"
	"time"
)

// Summary is what a run saw, after its findings.
type Summary struct {
	// Kind is always "summary", so that a stream of JSON lines tells it
	// from the findings.
	Kind    string          `json:"kind"`
	Sources []SourceSummary `json:"sources"`
	// Handshakes counts the handshakes by verdict; handshakes matched
	// across captures count once.
	Handshakes map[Kind]int `json:"handshakes"`
	// Neighbors counts the ARP and NDP findings by kind.
	Neighbors map[Kind]int `json:"neighbors"`
	// Problems counts the findings of severity Problem: any makes the
	// command exit 1.
	Problems int `json:"problems"`
	// TopPeers are the addresses with the most problems, most first.
	TopPeers []PeerProblems `json:"top_peers,omitempty"`
	// Evicted counts handshakes and probes dropped without a verdict to
	// stay within the bound on memory.
	Evicted int `json:"evicted"`
	// Unmatched counts the handshake verdicts that went out before every
	// capture was read, to stay within the bound on memory: a later
	// capture's view of them is reported apart.
	Unmatched int `json:"unmatched,omitempty"`
	// Unavailable lists the findings some captures could not give, and why.
	Unavailable []Unavailable `json:"unavailable,omitempty"`
	// Stopped says why reading ended: "end of input", "count",
	// "duration", "interrupted" or "error".
	Stopped string `json:"stopped"`
}

// Why a run stopped.
const (
	StoppedEndOfInput  = "end of input"
	StoppedCount       = "count"
	StoppedDuration    = "duration"
	StoppedInterrupted = "interrupted"
	StoppedError       = "error"
)

// SourceSummary counts the packets of one source.
type SourceSummary struct {
	Name     string `json:"name"`
	LinkType string `json:"link_type"`
	// Packets read, and those that passed the filter.
	Packets int `json:"packets"`
	Matched int `json:"matched"`
	// Undecodable: passed the filter but malformed, skipped.
	Undecodable int `json:"undecodable"`
	// KernelDrops: packets the kernel dropped for lack of buffer (live).
	KernelDrops uint64    `json:"kernel_drops,omitempty"`
	First       time.Time `json:"first,omitzero"`
	Last        time.Time `json:"last,omitzero"`
}

// PeerProblems counts the problems about one address.
type PeerProblems struct {
	IP       netip.Addr   `json:"ip"`
	Problems int          `json:"problems"`
	Kinds    map[Kind]int `json:"kinds"`
}

// Unavailable says which findings a capture could not give, and why.
type Unavailable struct {
	Source string `json:"source"`
	Kinds  []Kind `json:"kinds"`
	Reason string `json:"reason"`
}

// unavailable says what the link type hides.
func unavailable(source string, lt LinkType) *Unavailable {
	switch framingOf(lt) {
	case framingSLL, framingSLL2:
		return &Unavailable{
			Source: source,
			Kinds:  []Kind{SynAckToWrongMAC, UnansweredARPProbe},
			Reason: lt.String() + " (a capture on any interface) records only the source MAC of each packet: " +
				"where a SYN-ACK went and whether an ARP request was unicast cannot be seen " +
				"(NDP probes still can); capture on the interface itself, as tcpdump -i eth0 does",
		}
	case framingRawIP:
		return &Unavailable{
			Source: source,
			Kinds:  []Kind{SynAckToWrongMAC, UnansweredARPProbe, MACChanged, DuplicateIP},
			Reason: lt.String() + " captures hold no link layer: no MACs and no ARP " +
				"(NDP still shows IPv6 neighbors); capture on an Ethernet interface",
		}
	}
	return nil
}

// maxPeers bounds the addresses whose problems are counted.
const maxPeers = 4096

// topPeers is how many peers the summary names.
const topPeers = 5

// tally counts findings into the summary as they are emitted.
type tally struct {
	sum   *Summary
	peers map[netip.Addr]*PeerProblems
}

func newTally(sum *Summary) *tally {
	sum.Kind = "summary"
	sum.Handshakes = map[Kind]int{}
	sum.Neighbors = map[Kind]int{}
	return &tally{sum: sum, peers: map[netip.Addr]*PeerProblems{}}
}

// add counts f; a correction takes the place of the finding it corrects,
// so that each handshake counts once.
func (t *tally) add(f *Finding) {
	if f.Correction {
		was := *f
		was.Kind, was.Severity = f.CorrectsKind, f.CorrectsSeverity
		t.count(&was, -1)
	}
	t.count(f, 1)
}

func (t *tally) count(f *Finding, n int) {
	counts := t.sum.Neighbors
	if f.Kind.IsHandshake() {
		counts = t.sum.Handshakes
	}
	counts[f.Kind] += n
	if counts[f.Kind] <= 0 {
		delete(counts, f.Kind)
	}
	if f.Severity != Problem {
		return
	}
	t.sum.Problems += n
	ip := f.Peer()
	p := t.peers[ip]
	if p == nil {
		if len(t.peers) >= maxPeers || n < 0 {
			return
		}
		p = &PeerProblems{IP: ip, Kinds: map[Kind]int{}}
		t.peers[ip] = p
	}
	p.Problems += n
	p.Kinds[f.Kind] += n
	if p.Kinds[f.Kind] <= 0 {
		delete(p.Kinds, f.Kind)
	}
	if p.Problems <= 0 {
		delete(t.peers, ip)
	}
}

// finish picks the top peers.
func (t *tally) finish() {
	all := make([]PeerProblems, 0, len(t.peers))
	for _, p := range t.peers {
		all = append(all, *p)
	}
	slices.SortFunc(all, func(a, b PeerProblems) int {
		if a.Problems != b.Problems {
			return b.Problems - a.Problems
		}
		return a.IP.Compare(b.IP)
	})
	t.sum.TopPeers = all[:min(len(all), topPeers)]
}
