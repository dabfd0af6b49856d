package neigh

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func attr(typ uint16, v []byte) []byte { return appendAttr(nil, typ, v) }

func u32b(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// neighMsg builds an RTM_NEWNEIGH payload.
type neighMsg struct {
	family  byte
	ifindex int32
	state   State
	flags   uint8
	ip      string
	mac     []byte
	ticks   [3]uint32 // confirmed, used, updated
	probes  uint32
	ext     uint32
}

func (m neighMsg) bytes() []byte {
	b := make([]byte, sizeofNdmsg)
	b[0] = m.family
	binary.NativeEndian.PutUint32(b[4:], uint32(m.ifindex))
	binary.NativeEndian.PutUint16(b[8:], uint16(m.state))
	b[10] = m.flags
	if m.ip != "" {
		b = append(b, attr(ndaDst, netip.MustParseAddr(m.ip).AsSlice())...)
	}
	if m.mac != nil {
		b = append(b, attr(ndaLLAddr, m.mac)...)
	}
	ci := append(append(append(u32b(m.ticks[0]), u32b(m.ticks[1])...), u32b(m.ticks[2])...), u32b(1)...)
	b = append(b, attr(ndaCacheinfo, ci)...)
	b = append(b, attr(ndaProbes, u32b(m.probes))...)
	if m.ext != 0 {
		b = append(b, attr(ndaFlagsExt, u32b(m.ext))...)
	}
	return b
}

func linkMsg(index int32, name string) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint32(b[4:], uint32(index))
	return append(b, attr(iflaIfname, append([]byte(name), 0))...)
}

// fakeConn serves canned dumps; interrupted makes that many neighbor dumps
// report NLM_F_DUMP_INTR after delivering part of the table.
type fakeConn struct {
	linkMsgs, neighMsgs, tableMsgs, addrMsgs, routeMsgs [][]byte
	interrupted                                         int
	families                                            []int // the family of each neighbor dump
	changes                                             [][]byte
	changeErr                                           error
	routeGet                                            [][]byte
}

func each(msgs [][]byte, fn func([]byte)) {
	for _, m := range msgs {
		fn(m)
	}
}

func (f *fakeConn) links(fn func([]byte)) error  { each(f.linkMsgs, fn); return nil }
func (f *fakeConn) tables(fn func([]byte)) error { each(f.tableMsgs, fn); return nil }
func (f *fakeConn) addrs(fn func([]byte)) error  { each(f.addrMsgs, fn); return nil }
func (f *fakeConn) routes(body []byte, fn func([]byte)) error {
	for _, m := range f.routeMsgs {
		if m[0] == body[0] {
			fn(m)
		}
	}
	return nil
}
func (f *fakeConn) getRoute(body []byte, fn func([]byte)) error {
	each(f.routeGet, fn)
	return nil
}
func (f *fakeConn) close() error { return nil }
func (f *fakeConn) change(typ, flags uint16, msg []byte) error {
	f.changes = append(f.changes, append(binary.NativeEndian.AppendUint16(binary.NativeEndian.AppendUint16(nil, typ), flags), msg...))
	return f.changeErr
}
func (f *fakeConn) neighbors(family int, fn func([]byte)) error {
	f.families = append(f.families, family)
	if f.interrupted > 0 {
		f.interrupted--
		each(f.neighMsgs[:1], fn)
		return errDumpInterrupted
	}
	each(f.neighMsgs, fn)
	return nil
}

func testClient(c *fakeConn) *Client {
	return &Client{ns: &NetNS{Spec: "lab", handle: -1}, conn: c, hz: 100}
}

var mac1 = []byte{0x02, 0, 0, 0, 0, 0x20}

func TestParseNeigh(t *testing.T) {
	tests := []struct {
		name string
		msg  []byte
		hz   int64
		want Entry
		ok   bool
	}{{
		name: "ipv4 with MAC, ages and probes",
		msg: neighMsg{family: unix.AF_INET, ifindex: 2, state: Stale, ip: "192.0.2.20", mac: mac1,
			ticks: [3]uint32{1234, 100, 6000}, probes: 3}.bytes(),
		hz: 100,
		want: Entry{IP: netip.MustParseAddr("192.0.2.20"), Family: Inet, MAC: "02:00:00:00:00:20", IfIndex: 2,
			State: Stale, Probes: 3, ConfirmedAgo: Age(12340 * time.Millisecond), UsedAgo: Age(time.Second),
			UpdatedAgo: Age(time.Minute)},
		ok: true,
	}, {
		name: "ticks follow USER_HZ",
		msg:  neighMsg{family: unix.AF_INET, ifindex: 2, state: Reachable, ip: "192.0.2.20", mac: mac1, ticks: [3]uint32{250, 500, 1000}}.bytes(),
		hz:   250,
		want: Entry{IP: netip.MustParseAddr("192.0.2.20"), Family: Inet, MAC: "02:00:00:00:00:20", IfIndex: 2,
			State: Reachable, ConfirmedAgo: Age(time.Second), UsedAgo: Age(2 * time.Second), UpdatedAgo: Age(4 * time.Second)},
		ok: true,
	}, {
		name: "ipv6 router without MAC, extended flags",
		msg:  neighMsg{family: unix.AF_INET6, ifindex: 3, state: Failed, flags: uint8(FlagRouter), ip: "2001:db8::1", ext: 1}.bytes(),
		hz:   100,
		want: Entry{IP: netip.MustParseAddr("2001:db8::1"), Family: Inet6, IfIndex: 3, State: Failed,
			Flags: FlagRouter | FlagExtManaged},
		ok: true,
	}, {
		name: "bridge fdb entry is not a neighbor",
		msg:  neighMsg{family: unix.AF_BRIDGE, ifindex: 3, state: Reachable, mac: mac1}.bytes(),
		hz:   100,
	}, {
		name: "no destination",
		msg:  neighMsg{family: unix.AF_INET, ifindex: 3, state: Reachable, mac: mac1}.bytes(),
		hz:   100,
	}, {
		name: "family and address disagree",
		msg:  neighMsg{family: unix.AF_INET, ifindex: 3, state: Reachable, ip: "2001:db8::1"}.bytes(),
		hz:   100,
	}, {
		name: "short header",
		msg:  []byte{unix.AF_INET, 0, 0},
		hz:   100,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseNeigh(tt.msg, tt.hz)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("parseNeigh (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseNeighTruncatedAttributes(t *testing.T) {
	full := neighMsg{family: unix.AF_INET, ifindex: 2, state: Stale, ip: "192.0.2.20", mac: mac1}.bytes()
	for n := range len(full) {
		parseNeigh(full[:n], 100) // must not panic
	}
}

func labConn() *fakeConn {
	return &fakeConn{
		linkMsgs: [][]byte{linkMsg(1, "lo"), linkMsg(2, "eth1"), linkMsg(3, "eth0")},
		neighMsgs: [][]byte{
			neighMsg{family: unix.AF_INET, ifindex: 3, state: Stale, ip: "192.0.2.100", mac: mac1}.bytes(),
			neighMsg{family: unix.AF_INET, ifindex: 3, state: Reachable, ip: "192.0.2.9", mac: mac1}.bytes(),
			neighMsg{family: unix.AF_INET6, ifindex: 3, state: Reachable, ip: "2001:db8::9", mac: mac1}.bytes(),
			neighMsg{family: unix.AF_INET, ifindex: 2, state: Failed, ip: "198.51.100.7"}.bytes(),
			neighMsg{family: unix.AF_INET6, ifindex: 3, state: NoARP, ip: "ff02::1", mac: []byte{0x33, 0x33, 0, 0, 0, 1}}.bytes(),
			neighMsg{family: unix.AF_INET, ifindex: 3, state: None, ip: "192.0.2.77"}.bytes(),
			neighMsg{family: unix.AF_INET, ifindex: 9, state: Permanent, ip: "203.0.113.1", mac: mac1}.bytes(),
		},
	}
}

func ips(es []Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Interface+"/"+e.IP.String())
	}
	return strings.Join(s, " ")
}

func TestListFiltersAndOrder(t *testing.T) {
	all, _ := ParseStates("all")
	staleFailed, _ := ParseStates("stale,FAILED")
	tests := []struct {
		name string
		f    Filter
		want string
	}{
		{"default hides NOARP and NONE; sorted by interface then IP", Filter{},
			"eth0/192.0.2.9 eth0/192.0.2.100 eth0/2001:db8::9 eth1/198.51.100.7 if9/203.0.113.1"},
		{"all states", Filter{States: all},
			"eth0/192.0.2.9 eth0/192.0.2.77 eth0/192.0.2.100 eth0/2001:db8::9 eth0/ff02::1 eth1/198.51.100.7 if9/203.0.113.1"},
		{"interface", Filter{Interface: "eth1"}, "eth1/198.51.100.7"},
		{"family", Filter{Family: Inet6, States: all}, "eth0/2001:db8::9 eth0/ff02::1"},
		{"states", Filter{States: staleFailed}, "eth0/192.0.2.100 eth1/198.51.100.7"},
		{"prefixes", Filter{Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/25"), netip.MustParsePrefix("2001:db8::9/128")}},
			"eth0/192.0.2.9 eth0/192.0.2.100 eth0/2001:db8::9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := labConn()
			es, err := testClient(c).List(tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if got := ips(es); got != tt.want {
				t.Errorf("List:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestListAsksKernelForFamily(t *testing.T) {
	c := labConn()
	if _, err := testClient(c).List(Filter{Family: Inet}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{unix.AF_INET}, c.families); diff != "" {
		t.Errorf("dump families (-want +got):\n%s", diff)
	}
}

func TestListUnknownInterface(t *testing.T) {
	_, err := testClient(labConn()).List(Filter{Interface: "eth9"})
	var ie *InterfaceError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an InterfaceError", err)
	}
	if want := `interface "eth9" not found in network namespace lab`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

// A dump the kernel marks inconsistent is read again, and only the last
// reading counts: no entry twice.
func TestListRetriesInterruptedDump(t *testing.T) {
	c := labConn()
	c.interrupted = 2
	es, err := testClient(c).List(Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 5 || len(c.families) != 3 {
		t.Errorf("got %d entries after %d dumps, want 5 after 3: %s", len(es), len(c.families), ips(es))
	}
}

func TestStateNames(t *testing.T) {
	// Pinned: scripts and JSON readers match these names.
	pinned := map[State]string{Incomplete: "INCOMPLETE", Reachable: "REACHABLE", Stale: "STALE", Delay: "DELAY",
		Probe: "PROBE", Failed: "FAILED", NoARP: "NOARP", Permanent: "PERMANENT", None: "NONE"}
	for s, name := range pinned {
		if s.String() != name {
			t.Errorf("State(%#x).String() = %q, want %q", uint16(s), s, name)
		}
	}
	if diff := cmp.Diff([]string{"INCOMPLETE", "REACHABLE", "STALE", "DELAY", "PROBE", "FAILED", "NOARP", "PERMANENT", "NONE"}, StateNames()); diff != "" {
		t.Errorf("StateNames (-want +got):\n%s", diff)
	}
	for _, name := range StateNames() {
		s, err := ParseState(strings.ToLower(name))
		if err != nil {
			t.Fatalf("ParseState(%q): %v", name, err)
		}
		if s.String() != name {
			t.Errorf("ParseState(%q).String() = %q", name, s)
		}
	}
	if got := (Stale | Probe).String(); got != "STALE,PROBE" {
		t.Errorf("multi-bit state = %q", got)
	}
	if got := State(0x300).String(); got != "0x300" {
		t.Errorf("unknown bits = %q", got)
	}
	_, err := ParseStates("stale,bogus")
	if err == nil || !strings.Contains(err.Error(), `unknown neighbor state "bogus"`) {
		t.Errorf("ParseStates(bogus) err = %v", err)
	}
	if _, err := ParseStates(" , "); err == nil {
		t.Error("ParseStates of an empty list: no error")
	}
}

func TestStateSet(t *testing.T) {
	none, _ := ParseStates("none")
	if !none.Has(None) || none.Has(Stale) {
		t.Error("set {NONE} is wrong")
	}
	if DefaultStates.Has(NoARP) || DefaultStates.Has(None) || !DefaultStates.Has(Permanent) || !DefaultStates.Has(Incomplete) {
		t.Error("default set must be all but NOARP and NONE")
	}
	stale, _ := ParseStates("stale")
	if !stale.Has(Stale|Probe) || stale.Has(Probe) {
		t.Error("a multi-bit state is in a set when one of its bits is")
	}
}

func TestParsePrefix(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":        "192.0.2.7/32",
		"192.0.2.7/24":     "192.0.2.0/24",
		"2001:db8::1":      "2001:db8::1/128",
		"::ffff:192.0.2.1": "192.0.2.1/32",
	} {
		p, err := ParsePrefix(in)
		if err != nil || p.String() != want {
			t.Errorf("ParsePrefix(%q) = %v, %v; want %s", in, p, err, want)
		}
	}
	for _, bad := range []string{"", "192.0.2", "192.0.2.0/33", "eth0", "192.0.2.1/x"} {
		if _, err := ParsePrefix(bad); err == nil {
			t.Errorf("ParsePrefix(%q): no error", bad)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                    "0s",
		0:                               "0s",
		999 * time.Millisecond:          "0s",
		3 * time.Second:                 "3s",
		119 * time.Second:               "119s",
		2 * time.Minute:                 "2m",
		4*time.Minute + 30*time.Second:  "4m30s",
		14*time.Minute + 59*time.Second: "14m",
		2*time.Hour + 5*time.Minute:     "2h5m",
		3 * time.Hour:                   "3h",
		49 * time.Hour:                  "2d1h",
		72 * time.Hour:                  "3d",
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestEntryJSON(t *testing.T) {
	e := Entry{IP: netip.MustParseAddr("192.0.2.20"), Family: Inet, MAC: "02:00:00:00:00:20", Interface: `we"ird`,
		IfIndex: 2, State: Stale, Flags: FlagRouter | FlagExtManaged, Probes: 1,
		ConfirmedAgo: Age(12340 * time.Millisecond), UsedAgo: Age(1500 * time.Millisecond), UpdatedAgo: Age(time.Minute),
		Name: "db.example."}
	want := `{"ip":"192.0.2.20","family":"inet","mac":"02:00:00:00:00:20","interface":"we\"ird","ifindex":2,` +
		`"state":"STALE","flags":["router","managed"],"probes":1,"confirmed_ago_s":12.34,"used_ago_s":1.5,` +
		`"updated_ago_s":60,"name":"db.example."}`
	if got := string(e.AppendJSON(nil)); got != want {
		t.Errorf("AppendJSON:\n got %s\nwant %s", got, want)
	}
	// The struct tags and AppendJSON describe one shape: encoding/json,
	// driven by the tags, must write the same bytes.
	for _, e := range []Entry{e, {IP: netip.MustParseAddr("2001:db8::1"), Family: Inet6, State: None}} {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(e.AppendJSON(nil)); got != string(b) {
			t.Errorf("AppendJSON and encoding/json differ:\n fast %s\n json %s", got, b)
		}
		var back Entry
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if back != e {
			t.Errorf("round trip: got %+v, want %+v", back, e)
		}
	}
}

// appendJSONString must agree with encoding/json on every string.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "eth0", `a"b\c`, "\x00\x1f\n\t", "é", "\xff\xfe", "\u2028x\u2029", "<>&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q encodes to invalid JSON %s: %v", s, got, err)
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Fatalf("%q round-trips to %q, encoding/json to %q", s, back, wantBack)
		}
	})
}

// Neither parser may panic on whatever the socket delivers.
func FuzzParseNeigh(f *testing.F) {
	f.Add(neighMsg{family: unix.AF_INET, ifindex: 2, state: Stale, ip: "192.0.2.20", mac: mac1}.bytes())
	f.Add(neighMsg{family: unix.AF_INET6, ifindex: 2, state: Failed, ip: "2001:db8::1", ext: 3}.bytes())
	f.Add(linkMsg(2, "eth0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseNeigh(b, 100)
		parseLink(b)
		parseAddr(b)
		parseARPReply(b)
		defaultRouteOIF(b)
		parseTables([][]byte{b})
	})
}
