package neigh

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func u64b(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }

func tableMsg(family byte, as ...[]byte) []byte {
	b := []byte{family, 0, 0, 0}
	for _, a := range as {
		b = append(b, a...)
	}
	return b
}

func nested(typ uint16, as ...[]byte) []byte {
	var v []byte
	for _, a := range as {
		v = append(v, a...)
	}
	return attr(typ|unix.NLA_F_NESTED, v)
}

func TestParseTables(t *testing.T) {
	config := make([]byte, 32)
	binary.NativeEndian.PutUint32(config[4:], 42)   // entries
	binary.NativeEndian.PutUint32(config[8:], 1500) // last flush, ms ago
	stats := make([]byte, 0, 88)
	for i := range uint64(11) {
		stats = binary.NativeEndian.AppendUint64(stats, 100+i)
	}
	msgs := [][]byte{
		tableMsg(unix.AF_INET,
			attr(ndtaName, []byte("arp_cache\x00")),
			attr(ndtaThresh1, u32b(0)), attr(ndtaThresh2, u32b(512)), attr(ndtaThresh3, u32b(1024)),
			attr(ndtaGCInterval, u64b(30000)),
			attr(ndtaConfig, config),
			nested(ndtaParms, attr(ndtpaRefcnt, u32b(1)), attr(ndtpaBaseReachableTime, u64b(30000)),
				attr(ndtpaGCStaletime, u64b(60000)), attr(ndtpaUcastProbes, u32b(3))),
			attr(ndtaStats, stats),
		),
		tableMsg(unix.AF_INET,
			attr(ndtaName, []byte("arp_cache\x00")),
			nested(ndtaParms, attr(ndtpaIfindex, u32b(2)), attr(ndtpaBaseReachableTime, u64b(12345)),
				attr(ndtpaDelayProbeTime, u64b(5000)), attr(ndtpaLocktime, u64b(1000))),
		),
		tableMsg(unix.AF_INET6,
			attr(ndtaName, []byte("ndisc_cache\x00")),
			attr(ndtaThresh1, u32b(128)),
			// An older kernel's shorter statistics fill what they have.
			attr(ndtaStats, stats[:80]),
		),
		tableMsg(12, attr(ndtaName, []byte("dn_neigh_cache\x00"))), // DECnet: not ours
	}
	got, err := parseTables(msgs)
	if err != nil {
		t.Fatal(err)
	}
	want := []Table{{
		Family: Inet, Name: "arp_cache", Thresh1: 0, Thresh2: 512, Thresh3: 1024,
		GCInterval: Millis(30 * time.Second), Entries: 42, LastFlushAgo: Millis(1500 * time.Millisecond),
		Defaults: Parms{RefCnt: 1, BaseReachableTime: Millis(30 * time.Second), GCStaleTime: Millis(time.Minute), UcastProbes: 3},
		Interfaces: []Parms{{IfIndex: 2, BaseReachableTime: Millis(12345 * time.Millisecond),
			DelayProbeTime: Millis(5 * time.Second), Locktime: Millis(time.Second)}},
		Stats: Stats{100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110},
	}, {
		Family: Inet6, Name: "ndisc_cache", Thresh1: 128, Interfaces: []Parms{},
		Stats: Stats{100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 0},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parseTables (-want +got):\n%s", diff)
	}
	if _, err := parseTables([][]byte{{unix.AF_INET}}); err == nil {
		t.Error("a message shorter than ndtmsg: no error")
	}
}

func TestTablesNamesInterfaces(t *testing.T) {
	c := &fakeConn{
		linkMsgs: [][]byte{linkMsg(2, "eth0")},
		tableMsgs: [][]byte{
			tableMsg(unix.AF_INET, attr(ndtaName, []byte("arp_cache\x00")), attr(ndtaThresh1, u32b(128))),
			tableMsg(unix.AF_INET, attr(ndtaName, []byte("arp_cache\x00")), nested(ndtaParms, attr(ndtpaIfindex, u32b(2)))),
			tableMsg(unix.AF_INET6, attr(ndtaName, []byte("ndisc_cache\x00")), attr(ndtaThresh1, u32b(128))),
		},
	}
	tb, err := testClient(c).Table(Inet)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Family != Inet || len(tb.Interfaces) != 1 || tb.Interfaces[0].Interface != "eth0" {
		t.Errorf("Table(inet) = %+v", tb)
	}
	if _, err := testClient(&fakeConn{}).Table(Inet6); err == nil {
		t.Error("no tables: no error")
	}
}

func TestParseProcStats(t *testing.T) {
	in := "entries  allocs   destroys unresolved_discards table_fulls\n" +
		"00000010 00000100 00000001 00000002            00000000\n" +
		"00000010 00000200 00000002 00000003            00000001\n"
	got, err := parseProcStats(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := ProcStats{"entries": 16, "allocs": 0x300, "destroys": 3, "unresolved_discards": 5, "table_fulls": 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, bad := range []string{"", "entries allocs\n", "entries allocs\n1\n", "entries\nzz\n"} {
		if _, err := parseProcStats(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	got, err = ReadProcStats("testdata/proc-root", "arp_cache")
	if err != nil {
		t.Fatal(err)
	}
	want = ProcStats{"entries": 4, "allocs": 0x11, "destroys": 2, "lookups": 0x110, "hits": 0x99, "res_failed": 4,
		"periodic_gc_runs": 7, "unresolved_discards": 6, "hash_grows": 0, "rcv_probes_mcast": 0, "rcv_probes_ucast": 0,
		"forced_gc_runs": 0, "table_fulls": 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("testdata/proc-root (-want +got):\n%s", diff)
	}
	if _, err := ReadProcStats("testdata/proc-root", "ndisc_cache"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing table: err = %v, want fs.ErrNotExist", err)
	}
}

func routeMsg(family, dstLen, table, typ byte, as ...[]byte) []byte {
	b := make([]byte, unix.SizeofRtMsg)
	b[0], b[1], b[4], b[7] = family, dstLen, table, typ
	for _, a := range as {
		b = append(b, a...)
	}
	return b
}

func TestDefaultRouteInterface(t *testing.T) {
	nexthop := make([]byte, 8)
	binary.NativeEndian.PutUint32(nexthop[4:], 3)
	tests := []struct {
		name   string
		routes [][]byte
		want   string
	}{
		{"ipv4 default", [][]byte{
			routeMsg(unix.AF_INET, 24, unix.RT_TABLE_MAIN, unix.RTN_UNICAST, attr(unix.RTA_OIF, u32b(3))),
			routeMsg(unix.AF_INET, 0, unix.RT_TABLE_LOCAL, unix.RTN_UNICAST, attr(unix.RTA_OIF, u32b(3))),
			routeMsg(unix.AF_INET, 0, unix.RT_TABLE_MAIN, unix.RTN_UNICAST, attr(unix.RTA_OIF, u32b(2))),
		}, "eth1"},
		{"ipv6 when no ipv4", [][]byte{routeMsg(unix.AF_INET6, 0, unix.RT_TABLE_MAIN, unix.RTN_UNICAST, attr(unix.RTA_OIF, u32b(3)))}, "eth0"},
		{"multipath", [][]byte{routeMsg(unix.AF_INET, 0, 0, unix.RTN_UNICAST, attr(unix.RTA_TABLE, u32b(unix.RT_TABLE_MAIN)), attr(unix.RTA_MULTIPATH, nexthop))}, "eth0"},
		{"unreachable default", [][]byte{routeMsg(unix.AF_INET, 0, unix.RT_TABLE_MAIN, unix.RTN_UNREACHABLE)}, ""},
	}
	for _, tt := range tests {
		c := &fakeConn{linkMsgs: [][]byte{linkMsg(2, "eth1"), linkMsg(3, "eth0")}, routeMsgs: tt.routes}
		got, err := testClient(c).DefaultRouteInterface()
		if got != tt.want || (tt.want == "" && !errors.Is(err, ErrNoDefaultRoute)) {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}
