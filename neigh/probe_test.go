package neigh

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// fakeProber answers each request with the MACs the network holds for the
// IP, as many owners would.
type fakeProber struct {
	network map[netip.Addr][]string
	out     chan answer
	sent    []netip.Addr
}

func (p *fakeProber) send(ip netip.Addr) error {
	p.sent = append(p.sent, ip)
	for _, mac := range p.network[ip] {
		p.out <- answer{ip, mac}
	}
	return nil
}

func (p *fakeProber) answers(out chan<- answer, done <-chan struct{}) {
	for {
		select {
		case a := <-p.out:
			select {
			case out <- a:
			case <-done:
				return
			}
		case <-done:
			return
		}
	}
}

func (p *fakeProber) close() error { return nil }

// probeLab is a table on eth0 (index 3) whose owners answer as network
// says; opening a prober fails with openErr when it is set.
func probeLab(network map[string][]string, openErr error) (*Client, *fakeConn) {
	conn := &fakeConn{
		linkMsgs: [][]byte{linkMsg(1, "lo"), linkMsg(3, "eth0")},
		neighMsgs: [][]byte{
			neighMsg{family: unix.AF_INET, ifindex: 3, state: Reachable, ip: "192.0.2.9", mac: mac1}.bytes(),
			neighMsg{family: unix.AF_INET, ifindex: 3, state: Stale, ip: "192.0.2.50", mac: []byte{2, 0, 0, 0, 0x50, 0xa1}}.bytes(),
			neighMsg{family: unix.AF_INET, ifindex: 3, state: Stale, ip: "192.0.2.66", mac: []byte{2, 0, 0, 0, 0x66, 0x66}}.bytes(),
			neighMsg{family: unix.AF_INET, ifindex: 3, state: Failed, ip: "192.0.2.77"}.bytes(),
			neighMsg{family: unix.AF_INET, ifindex: 3, state: Reachable, ip: "192.0.2.88", mac: []byte{2, 0, 0, 0, 0x88, 0x88}}.bytes(),
			neighMsg{family: unix.AF_INET, ifindex: 3, state: Permanent, ip: "192.0.2.99", mac: []byte{2, 0, 0, 0, 0x99, 0x99}}.bytes(),
		},
	}
	c := testClient(conn)
	nw := map[netip.Addr][]string{}
	for ip, macs := range network {
		nw[netip.MustParseAddr(ip)] = macs
	}
	c.newProber = func(l link, family Family, addrs []netip.Prefix) (prober, error) {
		if openErr != nil {
			return nil, openErr
		}
		return &fakeProber{network: nw, out: make(chan answer, 16)}, nil
	}
	return c, conn
}

// The incident's network: .9 answers from its cached MAC, .50 was reused
// by a new MAC, .66 is dead, .77 has no MAC and is dead, .88 is claimed by
// two hosts, .99 is a dead PERMANENT entry.
var incidentNetwork = map[string][]string{
	"192.0.2.9":  {"02:00:00:00:00:20"},
	"192.0.2.50": {"02:00:00:00:50:b2"},
	"192.0.2.88": {"02:00:00:00:88:88", "02:00:00:00:88:01"},
}

func verdicts(rs []ProbeResult) map[string]Verdict {
	m := map[string]Verdict{}
	for _, r := range rs {
		m[r.Entry.IP.String()] = r.Verdict
	}
	return m
}

func TestProbeVerdicts(t *testing.T) {
	c, _ := probeLab(incidentNetwork, nil)
	entries, err := c.List(Filter{States: AllStates})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.Probe(context.Background(), entries, ProbeOptions{Timeout: 100 * time.Millisecond, RetryInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Verdict{"192.0.2.9": VerdictOK, "192.0.2.50": VerdictMismatch, "192.0.2.66": VerdictNoAnswer,
		"192.0.2.77": VerdictNoAnswer, "192.0.2.88": VerdictDuplicate, "192.0.2.99": VerdictNoAnswer}
	if diff := cmp.Diff(want, verdicts(rs)); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
}

func TestProbeNeedsPrivilege(t *testing.T) {
	c, _ := probeLab(incidentNetwork, unix.EPERM)
	entries, _ := c.List(Filter{})
	_, err := c.Probe(context.Background(), entries, ProbeOptions{})
	var pe *PrivilegeError
	if !errors.As(err, &pe) || pe.Cap != CapNetRaw {
		t.Fatalf("err = %v, want a PrivilegeError for CAP_NET_RAW", err)
	}
}

func TestProblemAndWrong(t *testing.T) {
	e := func(s State) Entry {
		return Entry{IP: netip.MustParseAddr("192.0.2.1"), MAC: "02:00:00:00:00:01", State: s}
	}
	after := &Entry{MAC: "02:00:00:00:00:02"}
	tests := []struct {
		name           string
		r              ProbeResult
		problem, wrong bool
	}{
		{"ok", ProbeResult{Entry: e(Reachable), Verdict: VerdictOK}, false, false},
		{"mismatch", ProbeResult{Entry: e(Stale), Verdict: VerdictMismatch, Answered: []string{"02:00:00:00:00:02"}}, true, true},
		{"mismatch corrected by the kernel", ProbeResult{Entry: e(Stale), Verdict: VerdictMismatch,
			Answered: []string{"02:00:00:00:00:02"}, After: after}, true, false},
		{"duplicate", ProbeResult{Entry: e(Reachable), Verdict: VerdictDuplicate}, true, false},
		{"dead in use", ProbeResult{Entry: e(Stale), Verdict: VerdictNoAnswer}, true, true},
		{"dead DELAY", ProbeResult{Entry: e(Delay), Verdict: VerdictNoAnswer}, true, true},
		{"dead PROBE", ProbeResult{Entry: e(Probe), Verdict: VerdictNoAnswer}, true, true},
		{"dead REACHABLE", ProbeResult{Entry: e(Reachable), Verdict: VerdictNoAnswer}, true, true},
		{"dead FAILED", ProbeResult{Entry: e(Failed), Verdict: VerdictNoAnswer}, false, true},
		{"dead INCOMPLETE", ProbeResult{Entry: e(Incomplete), Verdict: VerdictNoAnswer}, false, true},
		{"dead PERMANENT", ProbeResult{Entry: e(Permanent), Verdict: VerdictNoAnswer}, false, true},
		{"unprobed", ProbeResult{Entry: e(Stale), Verdict: VerdictUnprobed}, false, false},
	}
	for _, tt := range tests {
		if got := tt.r.Problem(); got != tt.problem {
			t.Errorf("%s: Problem() = %v, want %v", tt.name, got, tt.problem)
		}
		if got := tt.r.Wrong(); got != tt.wrong {
			t.Errorf("%s: Wrong() = %v, want %v", tt.name, got, tt.wrong)
		}
	}
}

// change is a netlink request the client sent: type, flags and the
// entry's IP and state.
type change struct {
	Type  uint16
	Flags uint16
	IP    string
	State State
	MAC   string
}

func changes(t *testing.T, raw [][]byte) []change {
	t.Helper()
	var out []change
	for _, b := range raw {
		c := change{Type: binary.NativeEndian.Uint16(b), Flags: binary.NativeEndian.Uint16(b[2:])}
		msg := b[4:]
		c.State = State(binary.NativeEndian.Uint16(msg[8:]))
		attrs(msg[sizeofNdmsg:], func(typ uint16, v []byte) {
			switch typ {
			case ndaDst:
				ip, _ := netip.AddrFromSlice(v)
				c.IP = ip.String()
			case ndaLLAddr:
				c.MAC = formatMAC(v)
			}
		})
		out = append(out, c)
	}
	return out
}

func TestFix(t *testing.T) {
	for _, includePermanent := range []bool{false, true} {
		c, conn := probeLab(incidentNetwork, nil)
		entries, _ := c.List(Filter{States: AllStates})
		rs, err := c.Probe(context.Background(), entries, ProbeOptions{Timeout: 100 * time.Millisecond, RetryInterval: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Fix(rs, includePermanent); err != nil {
			t.Fatal(err)
		}
		fixes := map[string]FixOutcome{}
		for _, r := range rs {
			fixes[r.Entry.IP.String()] = r.Fix
		}
		want := map[string]FixOutcome{"192.0.2.9": FixNothingWrong, "192.0.2.50": FixReplaced, "192.0.2.66": FixDeleted,
			"192.0.2.77": FixDeleted, "192.0.2.88": FixKeptDuplicate, "192.0.2.99": FixKeptPermanent}
		wantChanges := []change{
			{Type: unix.RTM_NEWNEIGH, Flags: unix.NLM_F_CREATE | unix.NLM_F_REPLACE, IP: "192.0.2.50", State: Reachable, MAC: "02:00:00:00:50:b2"},
			{Type: unix.RTM_DELNEIGH, IP: "192.0.2.66"},
			{Type: unix.RTM_DELNEIGH, IP: "192.0.2.77"},
		}
		if includePermanent {
			want["192.0.2.99"] = FixDeleted
			wantChanges = append(wantChanges, change{Type: unix.RTM_DELNEIGH, IP: "192.0.2.99"})
		}
		if diff := cmp.Diff(want, fixes); diff != "" {
			t.Errorf("includePermanent=%v: fixes (-want +got):\n%s", includePermanent, diff)
		}
		if diff := cmp.Diff(wantChanges, changes(t, conn.changes)); diff != "" {
			t.Errorf("includePermanent=%v: netlink requests (-want +got):\n%s", includePermanent, diff)
		}
		for _, r := range rs {
			if r.Problem() && !r.Fix.Fixed() && r.Fix != FixKeptDuplicate && r.Fix != FixKeptPermanent {
				t.Errorf("%s: still a problem after %s", r.Entry.IP, r.Fix)
			}
		}
	}
}

func TestFixNeedsPrivilege(t *testing.T) {
	c, conn := probeLab(incidentNetwork, nil)
	conn.changeErr = unix.EPERM
	entries, _ := c.List(Filter{})
	rs, _ := c.Probe(context.Background(), entries, ProbeOptions{Timeout: 100 * time.Millisecond, RetryInterval: 10 * time.Millisecond})
	err := c.Fix(rs, false)
	var pe *PrivilegeError
	if !errors.As(err, &pe) || pe.Cap != CapNetAdmin {
		t.Fatalf("err = %v, want a PrivilegeError for CAP_NET_ADMIN", err)
	}
}

func TestFlush(t *testing.T) {
	tests := []struct {
		name        string
		o           FlushOptions
		deleted     []string
		kept        map[string]KeepReason
		wantChanges []change
	}{
		{
			name:    "keeps PERMANENT",
			deleted: []string{"192.0.2.9", "192.0.2.50", "192.0.2.66", "192.0.2.77", "192.0.2.88"},
			kept:    map[string]KeepReason{"192.0.2.99": KeptPermanent},
		},
		{
			name:    "include permanent",
			o:       FlushOptions{IncludePermanent: true},
			deleted: []string{"192.0.2.9", "192.0.2.50", "192.0.2.66", "192.0.2.77", "192.0.2.88", "192.0.2.99"},
			kept:    map[string]KeepReason{},
		},
		{
			name:    "only wrong",
			o:       FlushOptions{OnlyWrong: true, Probe: ProbeOptions{Timeout: 100 * time.Millisecond, RetryInterval: 10 * time.Millisecond}},
			deleted: []string{"192.0.2.50", "192.0.2.66", "192.0.2.77"},
			kept: map[string]KeepReason{"192.0.2.9": KeptNotWrong, "192.0.2.88": KeptNotWrong,
				"192.0.2.99": KeptPermanent},
		},
		{
			name:    "dry run deletes nothing",
			o:       FlushOptions{DryRun: true, OnlyWrong: true, Probe: ProbeOptions{Timeout: 100 * time.Millisecond, RetryInterval: 10 * time.Millisecond}},
			deleted: []string{"192.0.2.50", "192.0.2.66", "192.0.2.77"},
			kept: map[string]KeepReason{"192.0.2.9": KeptNotWrong, "192.0.2.88": KeptNotWrong,
				"192.0.2.99": KeptPermanent},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, conn := probeLab(incidentNetwork, nil)
			res, err := c.Flush(context.Background(), Filter{States: AllStates}, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			var deleted []string
			for _, e := range res.Deleted {
				deleted = append(deleted, e.IP.String())
			}
			kept := map[string]KeepReason{}
			for _, k := range res.Kept {
				kept[k.IP.String()] = k.Reason
			}
			if diff := cmp.Diff(tt.deleted, deleted); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.kept, kept); diff != "" {
				t.Errorf("kept (-want +got):\n%s", diff)
			}
			var wantChanges []change
			if !tt.o.DryRun {
				for _, ip := range tt.deleted {
					wantChanges = append(wantChanges, change{Type: unix.RTM_DELNEIGH, IP: ip})
				}
			}
			if diff := cmp.Diff(wantChanges, changes(t, conn.changes)); diff != "" {
				t.Errorf("netlink requests (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRouteTo(t *testing.T) {
	gw := netip.MustParseAddr("192.0.2.1").AsSlice()
	conn := &fakeConn{routeGet: [][]byte{routeMsg(unix.AF_INET, 32, unix.RT_TABLE_MAIN, unix.RTN_UNICAST,
		attr(unix.RTA_OIF, u32b(3)), attr(unix.RTA_GATEWAY, gw))}}
	r, err := testClient(conn).RouteTo(netip.MustParseAddr("203.0.113.9"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Route{IfIndex: 3, Gateway: netip.MustParseAddr("192.0.2.1")}); r != want {
		t.Errorf("route = %+v, want %+v", r, want)
	}
	conn.routeGet = [][]byte{routeMsg(unix.AF_INET, 32, unix.RT_TABLE_LOCAL, unix.RTN_LOCAL, attr(unix.RTA_OIF, u32b(1)))}
	if r, _ := testClient(conn).RouteTo(netip.MustParseAddr("192.0.2.10")); !r.Local {
		t.Errorf("route to a local address = %+v, want Local", r)
	}
	conn.routeGet = nil
	if _, err := testClient(conn).RouteTo(netip.MustParseAddr("192.0.2.10")); err == nil {
		t.Error("no answer: no error")
	}
}

// Stopped midway, Probe says what it proved and marks the rest unprobed,
// with the context's error once.
func TestProbeInterrupted(t *testing.T) {
	c, _ := probeLab(incidentNetwork, nil)
	entries, _ := c.List(Filter{States: AllStates})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rs, err := c.Probe(ctx, entries, ProbeOptions{Timeout: time.Hour})
	if !errors.Is(err, context.Canceled) || strings.Count(err.Error(), "canceled") != 1 {
		t.Fatalf("err = %v, want context.Canceled once", err)
	}
	if len(rs) != len(entries) {
		t.Fatalf("%d results for %d entries", len(rs), len(entries))
	}
	for _, r := range rs {
		if r.Verdict != VerdictUnprobed || r.Unprobed != "interrupted before the answers were in" {
			t.Errorf("%s: %s %q", r.Entry.IP, r.Verdict, r.Unprobed)
		}
	}
}

// An IP the cache does not hold is probed all the same, as arping asks:
// who owns it, and does anyone else claim it?
func TestProbeUncached(t *testing.T) {
	c, _ := probeLab(incidentNetwork, nil)
	eth0 := Interface{Index: 3, Name: "eth0"}
	targets := []Entry{
		Uncached(netip.MustParseAddr("192.0.2.9"), eth0),
		Uncached(netip.MustParseAddr("192.0.2.88"), eth0),
		Uncached(netip.MustParseAddr("192.0.2.200"), eth0),
	}
	rs, err := c.Probe(context.Background(), targets, ProbeOptions{Timeout: 100 * time.Millisecond, RetryInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Verdict{"192.0.2.9": VerdictNotCached, "192.0.2.88": VerdictDuplicate, "192.0.2.200": VerdictNotCached}
	if diff := cmp.Diff(want, verdicts(rs)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if rs[0].Problem() || rs[0].Wrong() || !rs[1].Problem() || len(rs[0].Answered) != 1 || len(rs[2].Answered) != 0 {
		t.Errorf("results %+v", rs)
	}
	if s := targets[0].State.String(); s != "NOT_CACHED" {
		t.Errorf("state %q", s)
	}
}

// After Fix replaced an entry, it holds the answering MAC because of the
// fix, not because the kernel corrected it.
func TestReplacedIsNotCorrected(t *testing.T) {
	r := ProbeResult{Entry: Entry{MAC: "02:00:00:00:50:a1", State: Stale}, Answered: []string{"02:00:00:00:50:b2"},
		Verdict: VerdictMismatch, Fix: FixReplaced, After: &Entry{MAC: "02:00:00:00:50:b2", State: Reachable}}
	if r.Corrected() {
		t.Error("a replaced entry counts as corrected by the kernel")
	}
	r.Fix = ""
	if !r.Corrected() {
		t.Error("an entry the kernel corrected does not count")
	}
}
