package capture

import (
	"errors"
	"net/netip"
	"time"

	"github.com/google/gopacket"
)

// Defaults for TrackerConfig.
const (
	// DefaultHandshakeTimeout covers Linux's default SYN schedule: its
	// last retransmission (the last of tcp_syn_retries' 6, and since Linux
	// 6.5 of the 4 linear ones of tcp_syn_linear_timeouts besides) comes
	// 32 s after the one before, and the client gives up 64 s after it.
	DefaultHandshakeTimeout = 65 * time.Second
	DefaultMaxHandshakes    = 100_000
)

// How long an open handshake is waited for. A client retransmits its SYN
// with exponential backoff: Linux after 1 s (the initial RTO of RFC 6298),
// then (since 6.5) 1 s apart four more times, then 2, 4, 8... s apart; the
// next retransmission is due at most twice the last gap after the last
// SYN. So a handshake is judged once it has gone without a packet for
// firstWait after a single SYN, and otherwise for at least waitPerGap
// times the largest gap between its SYNs (twice the gap, and a fifth more
// for jitter), rounded up to firstWait·2^k: each such wait is one list of
// the handshake table, whose oldest entry is the next due. The handshake
// timeout caps every wait.
const (
	firstWait = 3 * time.Second
	// waitPerGap is 2.4 as a fraction, for integer arithmetic.
	waitPerGapNum, waitPerGapDen = 12, 5
	// maxWaits bounds the lists of waits: firstWait·2^15 is more than a
	// day.
	maxWaits = 16
	// probeWait is how long a probe is waited for: Linux sends its
	// unicast probes retrans_time (1 s) apart. The handshake timeout caps
	// it too.
	probeWait = 3 * time.Second
)

const (
	// routerAddrs: a MAC seen for this many IP addresses is a router's,
	// and a SYN-ACK that goes elsewhere than the SYN came from is then
	// explained by routing, not by a stale entry.
	routerAddrs = 3
	// linger is how long a judged handshake is remembered after its
	// verdict or its last packet, so that its late retransmissions are not
	// taken for a new handshake and a late completion corrects the
	// verdict: Linux gives up on a SYN after about two minutes.
	linger = 2 * time.Minute
	// maxNeighbors bounds the IPs whose ARP and NDP claims are followed.
	maxNeighbors = 1 << 16
	// maxMACs bounds the MACs whose addresses are counted to spot
	// routers: far more than one link has.
	maxMACs = 1 << 14
)

// TrackerConfig configures a Tracker.
type TrackerConfig struct {
	// Source names the capture in findings: a file name or an interface.
	Source string
	// LinkType is the link type of every packet given to the tracker.
	LinkType LinkType
	// HandshakeTimeout is the longest a handshake may go without a packet
	// before it gets its verdict, in capture time. Within it, the wait is
	// derived from the handshake's own SYN retransmissions (see
	// firstWait), so that no verdict is given while the client is still
	// retransmitting, but for an evident stale entry (see wrongAgain);
	// probes wait 3 s, or this if shorter.
	HandshakeTimeout time.Duration
	// MaxHandshakes bounds the handshakes tracked at once; beyond it the
	// oldest are evicted and counted.
	MaxHandshakes int
	// Host answers for the live host, for a live capture; nil for files.
	Host HostView
	// Emit receives each finding when it is made.
	Emit func(Finding)
	// CountOK leaves out the findings of handshakes that worked, which
	// are most handshakes of a busy capture: they are only counted (in
	// TrackerStats.OK), never built. Corrections are always built.
	CountOK bool
	// NextID numbers the findings, so that the trackers of one run share
	// one sequence; nil numbers them 1, 2, 3... per tracker.
	NextID func() uint64
}

// TrackerStats counts what a tracker was given.
type TrackerStats struct {
	// Packets given to the tracker.
	Packets int `json:"packets"`
	// Undecodable packets: malformed TCP, ARP or NDP, skipped.
	Undecodable int `json:"undecodable"`
	// Evicted handshakes: dropped without a verdict to stay within
	// MaxHandshakes.
	Evicted int `json:"evicted"`
	// OK counts the handshakes that worked and were left out (CountOK).
	OK int `json:"ok"`
}

// Tracker follows TCP handshakes, keyed by client address and port,
// server address and port and the client's initial sequence number, and
// the ARP and NDP traffic that says which MAC owns which IP. It turns what
// it sees into findings: a verdict for every handshake (when it completes,
// is reset, or has gone without a packet for as long as its client could
// still be retransmitting, and at Close; a stale entry as soon as the
// server answers a retransmitted SYN at the wrong MAC again), and neighbor
// findings as they arise. A handshake judged a failure that completes
// afterwards, while it is still remembered, gets a second finding that
// corrects the first; it never gets two verdicts.
//
// Its memory is bounded whatever the input: at most MaxHandshakes
// handshakes and as many open probes, 65,536 neighbors and 16,384 MACs.
type Tracker struct {
	cfg       TrackerConfig
	dec       *decoder
	ev        event
	waits     []int64 // the wait of each open list, from firstWait up to the timeout
	probeWait int64
	linger    int64
	now       int64 // capture clock: the latest packet time
	started   bool
	open      int // handshakes without a verdict
	ids       uint64

	hs     *lru[hsKey, handshake]
	probes *lru[probeKey, probe]
	claims map[netip.Addr]*claim
	macs   map[mac]addrSet

	stats TrackerStats
}

// The lists of the handshake table: the judged handshakes, then one list
// of open handshakes per wait.
const (
	judged    = 0
	firstOpen = 1
)

// hsKey names a handshake. It holds no pointers (netip.Addr does), so that
// a table of a hundred thousand handshakes costs the garbage collector
// nothing to scan.
type hsKey struct {
	client, server         [16]byte
	clientPort, serverPort uint16
	isn                    uint32
	v4                     bool
}

func newKey(client netip.Addr, clientPort uint16, server netip.Addr, serverPort uint16, isn uint32) hsKey {
	return hsKey{client: client.As16(), server: server.As16(), clientPort: clientPort, serverPort: serverPort, isn: isn, v4: client.Is4()}
}

func (k hsKey) addr(b [16]byte) netip.Addr {
	a := netip.AddrFrom16(b)
	if k.v4 {
		return a.Unmap()
	}
	return a
}

func (k hsKey) clientAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(k.addr(k.client), k.clientPort)
}

func (k hsKey) serverAddrPort() netip.AddrPort {
	return netip.AddrPortFrom(k.addr(k.server), k.serverPort)
}

// resetBy says which end reset a handshake.
type resetBy uint8

const (
	notReset resetBy = iota
	resetByServer
	resetByClient
)

func (r resetBy) String() string {
	switch r {
	case resetByServer:
		return "server"
	case resetByClient:
		return "client"
	}
	return ""
}

type handshake struct {
	// first and last are the earliest and the latest time stamp of the
	// handshake's packets, whatever their order in the capture: what
	// Wireshark's conversation table spans too. back is the longest step
	// back in time from a packet to an earlier one of the handshake.
	first, last int64
	back        int64
	lastSYN     int64
	gap         int64 // the largest gap between two SYNs
	touched     int64 // tracker clock at the last packet: for timeouts
	ackAt       int64
	// id, kind and severity of the verdict, once judged: a correction
	// names them.
	id       uint64
	kind     uint8 // index in Kinds
	severity uint8 // index in severities
	wait     uint8 // index in Tracker.waits while open

	syns, synAcks uint32
	serverISN     uint32
	hasSynAck     bool
	acked         bool
	resetBy       resetBy

	clientMAC, serverMAC       mac
	hasClientMAC, hasServerMAC bool
	// retried: the client sent its SYN again after a SYN-ACK had gone to
	// synAckTo[0], so it never got that one (see wrongAgain).
	retried bool
	// synAckTo counts the SYN-ACKs by destination MAC; more than two
	// MACs are counted together in synAckToOther.
	synAckTo      [2]macCount
	synAckToOther uint32
}

type macCount struct {
	mac mac
	n   uint32
}

// addrSet holds the first few IPs a MAC was seen for, as 16-byte arrays:
// without the pointer a netip.Addr carries, a map of tens of thousands of
// them is one allocation the garbage collector need not scan.
type addrSet struct {
	addrs [routerAddrs][16]byte
	n     uint8
}

// NewTracker returns a tracker for packets of cfg.LinkType.
func NewTracker(cfg TrackerConfig) (*Tracker, error) {
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxHandshakes <= 0 {
		cfg.MaxHandshakes = DefaultMaxHandshakes
	}
	if cfg.Emit == nil {
		return nil, errors.New("tracker needs an Emit function")
	}
	dec, err := newDecoder(cfg.LinkType)
	if err != nil {
		return nil, err
	}
	waits := waitsUpTo(cfg.HandshakeTimeout)
	return &Tracker{
		cfg:       cfg,
		dec:       dec,
		waits:     waits,
		probeWait: int64(min(probeWait, cfg.HandshakeTimeout)),
		linger:    int64(max(linger, cfg.HandshakeTimeout)),
		hs:        newLRU[hsKey, handshake](firstOpen + len(waits)),
		probes:    newLRU[probeKey, probe](1),
		claims:    map[netip.Addr]*claim{},
		macs:      map[mac]addrSet{},
	}, nil
}

// waitsUpTo returns firstWait, twice it, four times... up to timeout,
// which is the last.
func waitsUpTo(timeout time.Duration) []int64 {
	var waits []int64
	for w := firstWait; len(waits) < maxWaits-1 && w < timeout; w *= 2 {
		waits = append(waits, int64(w))
	}
	return append(waits, int64(timeout))
}

// waitFor returns the index of the shortest wait that is at least
// waitPerGap times gap.
func (t *Tracker) waitFor(gap int64) uint8 {
	w := 0
	for w < len(t.waits)-1 && gap*waitPerGapNum > t.waits[w]*waitPerGapDen {
		w++
	}
	return uint8(w)
}

// Wait returns how long a handshake is waited for after its last packet,
// given the gaps between its SYNs (none for a single SYN): the rule
// TrackerConfig.HandshakeTimeout describes, for documentation and tests.
func (c TrackerConfig) Wait(gaps ...time.Duration) time.Duration {
	timeout := c.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}
	t := Tracker{waits: waitsUpTo(timeout)}
	var largest time.Duration
	for _, g := range gaps {
		largest = max(largest, g)
	}
	return time.Duration(t.waits[t.waitFor(int64(largest))])
}

// Stats returns the counts so far.
func (t *Tracker) Stats() TrackerStats { return t.stats }

// Packet tracks one packet. data is not kept: the source may reuse it.
func (t *Tracker) Packet(data []byte, ci gopacket.CaptureInfo) { t.packet(data, ci, -1) }

// packet tracks a packet whose TCP flags the filter found, or any packet
// when tcpFlags is negative.
func (t *Tracker) packet(data []byte, ci gopacket.CaptureInfo, tcpFlags int) {
	t.stats.Packets++
	ts := ci.Timestamp.UnixNano()
	t.advance(ts)
	// Only a SYN starts a handshake; any other segment matters only to a
	// handshake that is tracked (open, or judged and waiting for a late
	// completion). The pure ACKs of a busy link, when none is, need no
	// decoding.
	if tcpFlags >= 0 && (tcpFlags&tcpSYN == 0 || tcpFlags&tcpACK != 0) && t.hs.len() == 0 {
		return
	}
	switch t.dec.decode(data, ts, &t.ev) {
	case decodeFailed:
		t.stats.Undecodable++
		return
	case decodeIgnored:
		return
	}
	e := &t.ev
	switch e.what {
	case eventTCP:
		t.tcp(e)
	case eventARP:
		t.arp(e)
	case eventNS:
		t.neighborSolicitation(e)
	case eventNA:
		t.neighborAdvertisement(e)
	}
}

// Advance moves the capture clock to now without a packet, so that a live
// capture on a quiet link still gives its verdicts on time.
func (t *Tracker) Advance(now time.Time) { t.advance(now.UnixNano()) }

// Close gives the verdict on every open handshake and probe: the input
// has ended.
func (t *Tracker) Close() {
	for i := t.oldestOpen(); i != none; i = t.oldestOpen() {
		t.judge(i, true)
	}
	for i := t.probes.oldest(0); i != none; i = t.probes.oldest(0) {
		t.probeVerdict(i, true)
	}
}

func (t *Tracker) advance(ts int64) {
	if t.started && ts <= t.now {
		return
	}
	t.now, t.started = ts, true
	if t.open > 0 {
		for w, wait := range t.waits {
			l := firstOpen + w
			for i := t.hs.oldest(l); i != none && t.now-t.hs.val(i).touched > wait; i = t.hs.oldest(l) {
				t.judge(i, false)
			}
		}
	}
	for i := t.hs.oldest(judged); i != none && t.now-t.hs.val(i).touched > t.linger; i = t.hs.oldest(judged) {
		t.hs.remove(i)
	}
	for i := t.probes.oldest(0); i != none && t.now-t.probes.val(i).touched > t.probeWait; i = t.probes.oldest(0) {
		t.probeVerdict(i, false)
	}
}

// oldestOpen returns the open handshake whose last packet is oldest, or
// none.
func (t *Tracker) oldestOpen() int32 {
	best := none
	for w := range t.waits {
		i := t.hs.oldest(firstOpen + w)
		if i != none && (best == none || t.hs.val(i).touched < t.hs.val(best).touched) {
			best = i
		}
	}
	return best
}

func (t *Tracker) isOpen(i int32) bool { return t.hs.listOf(i) != judged }

func (t *Tracker) tcp(e *event) {
	syn, ack, rst := e.flags&tcpSYN != 0, e.flags&tcpACK != 0, e.flags&tcpRST != 0
	switch {
	case rst:
		t.reset(e, ack)
	case syn && !ack:
		t.syn(e)
	case syn:
		t.synAck(e)
	case ack:
		t.finalACK(e)
	}
}

func (t *Tracker) syn(e *event) {
	t.learnMAC(e.srcMAC, e.hasSrcMAC, e.src)
	t.learnMAC(e.dstMAC, e.hasDstMAC, e.dst)
	k := newKey(e.src, e.srcPort, e.dst, e.dstPort, e.seq)
	i := t.hs.get(k)
	if i == none {
		i = t.newHandshake(k)
		h := t.hs.val(i)
		h.first, h.last = e.ts, e.ts
		h.clientMAC, h.hasClientMAC = e.srcMAC, e.hasSrcMAC
	}
	h := t.seen(i, e)
	if h.syns > 0 && e.ts > h.lastSYN {
		h.gap = max(h.gap, e.ts-h.lastSYN)
	}
	if h.syns > 0 && h.synAckTo[0].n > 0 {
		h.retried = true
	}
	h.syns++
	h.lastSYN = max(h.lastSYN, e.ts)
	if t.isOpen(i) {
		// A retransmission: wait for the next as long as backoff may
		// make the client wait.
		h.wait = t.waitFor(h.gap)
		t.hs.touch(i, firstOpen+int(h.wait))
	}
}

func (t *Tracker) synAck(e *event) {
	i := t.hs.get(newKey(e.dst, e.dstPort, e.src, e.srcPort, e.ack-1))
	if i == none {
		return // the SYN came before the capture began
	}
	t.learnMAC(e.srcMAC, e.hasSrcMAC, e.src)
	t.learnMAC(e.dstMAC, e.hasDstMAC, e.dst)
	h := t.seen(i, e)
	h.synAcks++
	h.serverISN, h.hasSynAck = e.seq, true
	if e.hasSrcMAC {
		h.serverMAC, h.hasServerMAC = e.srcMAC, true
	}
	if e.hasDstMAC {
		h.countSynAckTo(e.dstMAC)
		if t.isOpen(i) && t.wrongAgain(i, h) {
			t.verdict(i, judgedEarly, 0, false)
		}
	}
}

// wrongAgain says, as a SYN-ACK is counted, that the handshake already
// shows a stale entry while its client still retransmits: a SYN-ACK went
// to a MAC other than the one the SYN came from, the client sent its SYN
// again (so it never got that SYN-ACK: a client that had would have ACKed
// it), and this SYN-ACK, which comes after that retransmission, went to the
// same MAC again (so the server's entry still holds it). Every SYN-ACK so
// far went to that one MAC, and nothing the tracker knows of (a router's
// MAC, a client that is not on-link) explains the difference. The verdict
// it would give when the client gives up, minutes later, is the same;
// given now, it is corrected if the handshake still completes, as the
// handshake timeout's verdicts are.
//
// A single SYN-ACK to another MAC is not enough: the client may not have
// retransmitted yet, and a SYN-ACK that arrives after all (a MAC that
// forwards) completes the handshake within a round trip. The order is the
// capture's, not its time stamps', so that a clock that went back changes
// nothing. A capture that holds each packet twice (a mirror port) could
// show a copy of the first SYN after its SYN-ACK; the verdict is then no
// less right, only perhaps early, and a completion corrects it.
func (t *Tracker) wrongAgain(i int32, h *handshake) bool {
	wrong := h.synAckTo[0]
	if !h.retried || !h.hasClientMAC || wrong.mac == h.clientMAC || h.synAckTo[1].n > 0 || h.synAckToOther > 0 ||
		h.acked || h.resetBy != notReset {
		return false
	}
	return t.routerReason(t.hs.key(i).clientAddrPort().Addr(), h.clientMAC, wrong.mac) == ""
}

func (h *handshake) countSynAckTo(m mac) {
	for j := range h.synAckTo {
		c := &h.synAckTo[j]
		if c.n == 0 {
			c.mac = m
		}
		if c.mac == m {
			c.n++
			return
		}
	}
	h.synAckToOther++
}

// reset takes a RST for one of the handshakes: from the server, it
// acknowledges the SYN (ack = ISN+1); from the client after the SYN-ACK,
// it carries the sequence number the SYN-ACK acknowledged (ISN+1).
func (t *Tracker) reset(e *event, ack bool) {
	if ack {
		k := newKey(e.dst, e.dstPort, e.src, e.srcPort, e.ack-1)
		if i := t.hs.get(k); i != none && t.isOpen(i) {
			h := t.seen(i, e)
			h.resetBy = resetByServer
			t.judge(i, false)
			return
		}
	}
	k := newKey(e.src, e.srcPort, e.dst, e.dstPort, e.seq-1)
	if i := t.hs.get(k); i != none && t.isOpen(i) {
		h := t.seen(i, e)
		h.resetBy = resetByClient
		t.judge(i, false)
	}
}

// finalACK takes a segment from the client that acknowledges the
// SYN-ACK: the handshake is complete. A handshake already judged a
// failure gets its verdict corrected.
func (t *Tracker) finalACK(e *event) {
	i := t.hs.get(newKey(e.src, e.srcPort, e.dst, e.dstPort, e.seq-1))
	if i == none {
		return
	}
	h := t.hs.val(i)
	if !h.hasSynAck || e.ack != h.serverISN+1 || h.acked {
		return
	}
	h = t.seen(i, e)
	h.acked, h.ackAt = true, e.ts
	if t.isOpen(i) {
		t.judge(i, false)
	} else {
		t.correct(i)
	}
}

// seen records a packet of handshake i.
func (t *Tracker) seen(i int32, e *event) *handshake {
	h := t.hs.val(i)
	h.back = max(h.back, h.last-e.ts)
	h.first, h.last = min(h.first, e.ts), max(h.last, e.ts)
	h.touched = t.now
	t.hs.touch(i, t.hs.listOf(i))
	return h
}

// newHandshake makes room if the table is full: judged handshakes go
// first, as they only guard against retransmissions; then the open
// handshake that has waited longest, counted as evicted.
func (t *Tracker) newHandshake(k hsKey) int32 {
	if t.hs.len() >= t.cfg.MaxHandshakes {
		if i := t.hs.oldest(judged); i != none {
			t.hs.remove(i)
		} else {
			t.hs.remove(t.oldestOpen())
			t.open--
			t.stats.Evicted++
		}
	}
	t.open++
	return t.hs.insert(k, firstOpen)
}

// judge gives handshake i its verdict once its wait ran out, or at the
// end of the input (atEnd). A handshake that worked is
// forgotten; the others are remembered for a while as judged, so that a
// late completion corrects the verdict.
func (t *Tracker) judge(i int32, atEnd bool) {
	h := t.hs.val(i)
	when := judgedOnTime
	var idle time.Duration
	if atEnd {
		idle = time.Duration(t.now - h.touched)
		if idle <= time.Duration(t.waits[h.wait]) {
			when = judgedAtEnd
		}
	}
	t.verdict(i, when, idle, atEnd)
}

// verdict gives open handshake i its verdict, judged when; atEnd: the
// input has ended.
func (t *Tracker) verdict(i int32, when judgedWhen, idle time.Duration, atEnd bool) {
	t.open--
	k, h := t.hs.key(i), t.hs.val(i)
	if t.cfg.CountOK && h.acked && (!h.hasClientMAC || !h.synAckWentElsewhere()) {
		t.stats.OK++
		t.hs.remove(i)
		return
	}
	f := t.handshakeFinding(k, h, when, idle)
	id := t.emit(f)
	// A verdict given long after the last packet (a capture file's clock
	// jumps from packet to packet) is not remembered: a completion that
	// late is past what a client waits for, and a SYN that comes now
	// starts a new handshake.
	if f.Kind == HandshakeOK || atEnd || t.now-h.last > t.linger {
		t.hs.remove(i)
		return
	}
	h.id, h.kind, h.severity = id, kindIndex(f.Kind), severityIndex(f.Severity)
	// Remembered from now: the judged list stays in the order of time
	// although open handshakes wait for different times.
	h.touched = t.now
	t.hs.touch(i, judged)
}

// correct gives handshake i, judged a failure, the verdict it has now
// that it completed, as a correction of the first.
func (t *Tracker) correct(i int32) {
	k, h := t.hs.key(i), t.hs.val(i)
	f := t.handshakeFinding(k, h, judgedBefore, 0)
	f.Correction, f.Corrects = true, h.id
	f.CorrectsKind, f.CorrectsSeverity = Kinds[h.kind], severities[h.severity]
	t.emit(f)
	t.hs.remove(i)
}

// emit numbers a finding and gives it out; it returns its ID.
func (t *Tracker) emit(f Finding) uint64 {
	if t.cfg.NextID != nil {
		f.ID = t.cfg.NextID()
	} else {
		t.ids++
		f.ID = t.ids
	}
	t.cfg.Emit(f)
	return f.ID
}

var severities = []Severity{Problem, Info, OK}

func kindIndex(k Kind) uint8 {
	for i, x := range Kinds {
		if x == k {
			return uint8(i)
		}
	}
	return 0
}

func severityIndex(s Severity) uint8 {
	for i, x := range severities {
		if x == s {
			return uint8(i)
		}
	}
	return 0
}

// learnMAC counts the IPs seen behind a MAC, up to routerAddrs.
func (t *Tracker) learnMAC(m mac, ok bool, ip netip.Addr) {
	if !ok || !m.isUnicast() || !ip.IsValid() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
		return
	}
	s, known := t.macs[m]
	if !known && len(t.macs) >= maxMACs || s.n == routerAddrs {
		return
	}
	a := ip.As16()
	for _, b := range s.addrs[:s.n] {
		if a == b {
			return
		}
	}
	s.addrs[s.n] = a
	s.n++
	t.macs[m] = s
}

// addrsBehind returns how many IPs (up to routerAddrs) a MAC was seen for.
func (t *Tracker) addrsBehind(m mac) int { return int(t.macs[m].n) }
