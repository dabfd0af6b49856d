package capture

import (
	"net/netip"
	"time"
)

// claim is what ARP and NDP said about one IP: the MAC that claims it now,
// and the one before.
type claim struct {
	cur, prev   mac
	hasPrev     bool
	flips       int
	dupReported bool
}

// flipsForDuplicate is how often an IP must go back to a MAC it had just
// before to count as claimed by two hosts: once is a failover and its
// failback, twice is a fight.
const flipsForDuplicate = 2

type probeKey struct{ prober, target netip.Addr }

// probe is a host checking the MAC it has cached for an IP: requests sent
// unicast to that MAC, which a live owner answers.
type probe struct {
	mac         mac
	hasMAC      bool
	first, last int64
	touched     int64
	count       int
	protocol    string
}

const (
	arpRequest = 1
	arpReply   = 2
)

func (t *Tracker) arp(e *event) {
	if e.senderIP.IsValid() && !e.senderIP.IsUnspecified() {
		t.claim(e.senderIP, e.senderMAC, "arp", e.ts)
	}
	switch e.arpOp {
	case arpRequest:
		// A request sent to a unicast MAC checks a cached entry (the
		// kernel's PROBE state); a broadcast one resolves anew. A sender
		// without an address is a duplicate-address check, not a probe.
		if e.hasDstMAC && e.dstMAC.isUnicast() && e.senderIP.IsValid() && !e.senderIP.IsUnspecified() {
			t.probe(probeKey{prober: e.senderIP, target: e.targetIP}, e.dstMAC, true, "arp", e.ts)
		}
	case arpReply:
		t.answered(probeKey{prober: e.targetIP, target: e.senderIP}, e.senderMAC, true)
	}
}

func (t *Tracker) neighborSolicitation(e *event) {
	if e.src.IsUnspecified() {
		return // duplicate address detection
	}
	if e.hasNDLinkAddr {
		t.claim(e.src, e.ndLinkAddr, "ndp", e.ts)
	}
	// Resolution goes to the target's solicited-node multicast address;
	// a solicitation sent to the target itself checks a cached entry.
	if !e.dst.IsMulticast() && e.dst == e.ndTarget {
		t.probe(probeKey{prober: e.src, target: e.ndTarget}, e.dstMAC, e.hasDstMAC && e.dstMAC.isUnicast(), "ndp", e.ts)
	}
}

func (t *Tracker) neighborAdvertisement(e *event) {
	owner, ok := e.ndLinkAddr, e.hasNDLinkAddr
	if !ok {
		// Answers to unicast solicitations may leave the option out: the
		// frame's source is the owner's MAC.
		owner, ok = e.srcMAC, e.hasSrcMAC
	}
	if ok && e.ndTarget.IsValid() {
		t.claim(e.ndTarget, owner, "ndp", e.ts)
	}
	if !e.dst.IsMulticast() {
		t.answered(probeKey{prober: e.dst, target: e.ndTarget}, owner, ok)
	}
}

// claim takes "ip is at m" from ARP or NDP.
func (t *Tracker) claim(ip netip.Addr, m mac, protocol string, ts int64) {
	c := t.claims[ip]
	if c == nil {
		if len(t.claims) < maxNeighbors {
			t.claims[ip] = &claim{cur: m}
		}
		return
	}
	if m == c.cur || c.dupReported && m == c.prev {
		return
	}
	if c.hasPrev && m == c.prev {
		c.flips++
		if c.flips >= flipsForDuplicate {
			c.dupReported = true
			t.emit(t.duplicateFinding(ip, c.cur, m, c.flips, protocol, ts))
			c.prev, c.cur = c.cur, m
			return
		}
	}
	t.emit(t.macChangedFinding(ip, c.cur, m, protocol, ts))
	c.prev, c.cur, c.hasPrev = c.cur, m, true
}

func (t *Tracker) probe(k probeKey, m mac, hasMAC bool, protocol string, ts int64) {
	i := t.probes.get(k)
	if i == none {
		if t.probes.len() >= t.cfg.MaxHandshakes {
			t.probes.remove(t.probes.oldest(0))
			t.stats.Evicted++
		}
		i = t.probes.insert(k, 0)
		p := t.probes.val(i)
		p.first, p.mac, p.hasMAC, p.protocol = ts, m, hasMAC, protocol
	}
	p := t.probes.val(i)
	p.count++
	p.first, p.last = min(p.first, ts), max(p.last, ts)
	p.touched = t.now
	t.probes.touch(i, 0)
}

// answered takes a reply from the probe's target. A reply from another MAC
// than the probed one (to a later broadcast request) leaves the probes
// unanswered: the cached MAC is dead, and the reply says which is alive.
func (t *Tracker) answered(k probeKey, from mac, hasFrom bool) {
	i := t.probes.get(k)
	if i == none {
		return
	}
	if p := t.probes.val(i); p.hasMAC && hasFrom && from != p.mac {
		t.emit(t.probeFinding(k, p, from, true, false, 0))
	}
	t.probes.remove(i)
}

func (t *Tracker) probeVerdict(i int32, atEnd bool) {
	k, p := t.probes.key(i), t.probes.val(i)
	idle := time.Duration(t.now - p.touched)
	t.emit(t.probeFinding(k, p, mac{}, false, atEnd && idle <= time.Duration(t.probeWait), idle))
	t.probes.remove(i)
}
