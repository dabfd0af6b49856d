package neigh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Table holds a neighbor table's garbage-collection thresholds, its
// parameters and its statistics: what `ip -s ntable show` prints, read with
// RTM_GETNEIGHTBL.
//
// The kernel keeps one table per family for the whole machine: thresholds,
// Entries and Stats are machine-wide, and Defaults are the initial
// namespace's defaults, whichever namespace asks. Interfaces holds the
// per-interface parameters of the asking namespace only. Unlike
// /proc/sys/net/ipv4/neigh/default, which exists only in the initial
// namespace, this can be read from any namespace, without privilege.
type Table struct {
	Family Family `json:"family"`
	// Name is the kernel's name for the table: arp_cache or ndisc_cache.
	Name string `json:"name"`
	// Below Thresh1 entries the garbage collector does not run at all:
	// stale entries live on. Above Thresh2 for five seconds, or at
	// Thresh3, the kernel forces a collection; at Thresh3 with nothing to
	// collect, new entries are refused ("neighbour table overflow").
	Thresh1    uint32 `json:"gc_thresh1"`
	Thresh2    uint32 `json:"gc_thresh2"`
	Thresh3    uint32 `json:"gc_thresh3"`
	GCInterval Millis `json:"gc_interval_ms"`
	// Entries is the number of entries in the table, all namespaces
	// together.
	Entries      uint32  `json:"entries"`
	LastFlushAgo Millis  `json:"last_flush_ago_ms"`
	Defaults     Parms   `json:"defaults"`
	Interfaces   []Parms `json:"interfaces"`
	Stats        Stats   `json:"stats"`
}

// Parms are the per-interface (or default) neighbor parameters, the
// net.ipv4.neigh.IF.* and net.ipv6.neigh.IF.* sysctls.
type Parms struct {
	Interface         string `json:"interface,omitempty"`
	IfIndex           int    `json:"ifindex,omitempty"`
	RefCnt            uint32 `json:"refcnt"`
	ReachableTime     Millis `json:"reachable_time_ms"`
	BaseReachableTime Millis `json:"base_reachable_time_ms"`
	RetransTime       Millis `json:"retrans_time_ms"`
	GCStaleTime       Millis `json:"gc_stale_time_ms"`
	DelayProbeTime    Millis `json:"delay_probe_time_ms"`
	QueueLen          uint32 `json:"queue_len"`
	QueueLenBytes     uint32 `json:"queue_len_bytes"`
	AppProbes         uint32 `json:"app_probes"`
	UcastProbes       uint32 `json:"ucast_probes"`
	McastProbes       uint32 `json:"mcast_probes"`
	McastReprobes     uint32 `json:"mcast_reprobes"`
	AnycastDelay      Millis `json:"anycast_delay_ms"`
	ProxyDelay        Millis `json:"proxy_delay_ms"`
	ProxyQueueLen     uint32 `json:"proxy_queue_len"`
	Locktime          Millis `json:"locktime_ms"`
	IntervalProbeTime Millis `json:"interval_probe_time_ms"`
}

// Stats are the table's counters (struct ndt_stats), machine-wide since
// boot.
type Stats struct {
	Allocs         uint64 `json:"allocs"`
	Destroys       uint64 `json:"destroys"`
	HashGrows      uint64 `json:"hash_grows"`
	ResFailed      uint64 `json:"res_failed"`
	Lookups        uint64 `json:"lookups"`
	Hits           uint64 `json:"hits"`
	RcvProbesMcast uint64 `json:"rcv_probes_mcast"`
	RcvProbesUcast uint64 `json:"rcv_probes_ucast"`
	PeriodicGCRuns uint64 `json:"periodic_gc_runs"`
	ForcedGCRuns   uint64 `json:"forced_gc_runs"`
	TableFulls     uint64 `json:"table_fulls"`
}

// Millis is a duration the kernel reports in milliseconds; JSON keeps it
// as an integer number of milliseconds.
type Millis time.Duration

// Duration returns m as a time.Duration.
func (m Millis) Duration() time.Duration { return time.Duration(m) }

// MarshalJSON writes whole milliseconds.
func (m Millis) MarshalJSON() ([]byte, error) {
	return strconv.AppendInt(nil, time.Duration(m).Milliseconds(), 10), nil
}

// UnmarshalJSON reads whole milliseconds.
func (m *Millis) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return err
	}
	*m = Millis(time.Duration(v) * time.Millisecond)
	return nil
}

// Attribute numbers from include/uapi/linux/neighbour.h.
const (
	ndtaName       = 1
	ndtaThresh1    = 2
	ndtaThresh2    = 3
	ndtaThresh3    = 4
	ndtaConfig     = 5
	ndtaParms      = 6
	ndtaStats      = 7
	ndtaGCInterval = 8

	ndtpaIfindex           = 1
	ndtpaRefcnt            = 2
	ndtpaReachableTime     = 3
	ndtpaBaseReachableTime = 4
	ndtpaRetransTime       = 5
	ndtpaGCStaletime       = 6
	ndtpaDelayProbeTime    = 7
	ndtpaQueueLen          = 8
	ndtpaAppProbes         = 9
	ndtpaUcastProbes       = 10
	ndtpaMcastProbes       = 11
	ndtpaAnycastDelay      = 12
	ndtpaProxyDelay        = 13
	ndtpaProxyQlen         = 14
	ndtpaLocktime          = 15
	ndtpaQueueLenbytes     = 16
	ndtpaMcastReprobes     = 17
	ndtpaIntervalProbeTime = 19

	sizeofNdtmsg = 4

	// nlaTypeMask strips NLA_F_NESTED and NLA_F_NET_BYTEORDER.
	nlaTypeMask = 0x3fff
)

// Tables returns the IPv4 and IPv6 neighbor tables (or the one of family,
// when given), with interface names filled in.
func (c *Client) Tables(family Family) ([]Table, error) {
	var msgs [][]byte
	err := retryDump(func() error {
		msgs = msgs[:0]
		return c.conn.tables(func(m []byte) { msgs = append(msgs, slices.Clone(m)) })
	})
	if err != nil {
		return nil, fmt.Errorf("reading neighbor table parameters: %w", err)
	}
	names, err := c.linkNames()
	if err != nil {
		return nil, err
	}
	tables, err := parseTables(msgs)
	if err != nil {
		return nil, fmt.Errorf("reading neighbor table parameters: %w", err)
	}
	out := tables[:0]
	for _, t := range tables {
		if family != "" && t.Family != family {
			continue
		}
		for i := range t.Interfaces {
			t.Interfaces[i].Interface = names[t.Interfaces[i].IfIndex]
		}
		out = append(out, t)
	}
	return out, nil
}

// Table returns the table of one family.
func (c *Client) Table(family Family) (Table, error) {
	ts, err := c.Tables(family)
	if err != nil {
		return Table{}, err
	}
	if len(ts) == 0 {
		return Table{}, fmt.Errorf("the kernel reported no %s neighbor table", family)
	}
	return ts[0], nil
}

// parseTables reads RTM_NEWNEIGHTBL payloads: for each table, one message
// with its thresholds, defaults and statistics, then one per interface
// with that interface's parameters. Tables of families other than inet and
// inet6 (DECnet, once) are skipped.
func parseTables(msgs [][]byte) ([]Table, error) {
	var tables []Table
	index := map[string]int{}
	for _, m := range msgs {
		if len(m) < sizeofNdtmsg {
			return nil, errors.New("short neighbor table message")
		}
		var fam Family
		switch m[0] {
		case unix.AF_INET:
			fam = Inet
		case unix.AF_INET6:
			fam = Inet6
		default:
			continue
		}
		var name string
		attrs(m[sizeofNdtmsg:], func(typ uint16, v []byte) {
			if typ == ndtaName {
				name = cString(v)
			}
		})
		key := string(fam) + "/" + name
		i, ok := index[key]
		if !ok {
			i = len(tables)
			index[key] = i
			tables = append(tables, Table{Family: fam, Name: name, Interfaces: []Parms{}})
		}
		t := &tables[i]
		attrs(m[sizeofNdtmsg:], func(typ uint16, v []byte) {
			switch typ {
			case ndtaThresh1:
				t.Thresh1 = u32(v)
			case ndtaThresh2:
				t.Thresh2 = u32(v)
			case ndtaThresh3:
				t.Thresh3 = u32(v)
			case ndtaGCInterval:
				t.GCInterval = ms(v)
			case ndtaConfig:
				// struct ndt_config: u16 key_len, u16 entry_size,
				// u32 entries, u32 last_flush (msecs ago), ...
				if len(v) >= 12 {
					t.Entries = u32(v[4:])
					t.LastFlushAgo = ms(v[8:12])
				}
			case ndtaStats:
				t.Stats = parseStats(v)
			case ndtaParms:
				if p := parseParms(v); p.IfIndex == 0 {
					t.Defaults = p
				} else {
					t.Interfaces = append(t.Interfaces, p)
				}
			}
		})
	}
	return tables, nil
}

func parseParms(b []byte) Parms {
	var p Parms
	attrs(b, func(typ uint16, v []byte) {
		switch typ {
		case ndtpaIfindex:
			p.IfIndex = int(u32(v))
		case ndtpaRefcnt:
			p.RefCnt = u32(v)
		case ndtpaReachableTime:
			p.ReachableTime = ms(v)
		case ndtpaBaseReachableTime:
			p.BaseReachableTime = ms(v)
		case ndtpaRetransTime:
			p.RetransTime = ms(v)
		case ndtpaGCStaletime:
			p.GCStaleTime = ms(v)
		case ndtpaDelayProbeTime:
			p.DelayProbeTime = ms(v)
		case ndtpaQueueLen:
			p.QueueLen = u32(v)
		case ndtpaQueueLenbytes:
			p.QueueLenBytes = u32(v)
		case ndtpaAppProbes:
			p.AppProbes = u32(v)
		case ndtpaUcastProbes:
			p.UcastProbes = u32(v)
		case ndtpaMcastProbes:
			p.McastProbes = u32(v)
		case ndtpaMcastReprobes:
			p.McastReprobes = u32(v)
		case ndtpaAnycastDelay:
			p.AnycastDelay = ms(v)
		case ndtpaProxyDelay:
			p.ProxyDelay = ms(v)
		case ndtpaProxyQlen:
			p.ProxyQueueLen = u32(v)
		case ndtpaLocktime:
			p.Locktime = ms(v)
		case ndtpaIntervalProbeTime:
			p.IntervalProbeTime = ms(v)
		}
	})
	return p
}

// parseStats reads struct ndt_stats; a shorter struct from an older kernel
// fills the fields it has.
func parseStats(b []byte) Stats {
	var f [11]uint64
	for i := range f {
		if len(b) < 8*(i+1) {
			break
		}
		f[i] = binary.NativeEndian.Uint64(b[8*i:])
	}
	return Stats{
		Allocs: f[0], Destroys: f[1], HashGrows: f[2], ResFailed: f[3],
		Lookups: f[4], Hits: f[5], RcvProbesMcast: f[6], RcvProbesUcast: f[7],
		PeriodicGCRuns: f[8], ForcedGCRuns: f[9], TableFulls: f[10],
	}
}

func u32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(b)
}

func ms(b []byte) Millis {
	var v uint64
	switch {
	case len(b) >= 8:
		v = binary.NativeEndian.Uint64(b)
	case len(b) >= 4:
		v = uint64(binary.NativeEndian.Uint32(b))
	}
	return Millis(time.Duration(v) * time.Millisecond)
}
