package neigh_test

import (
	"encoding/json"
	"os/exec"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
)

// ipNtable is one object of `ip -j ntable show`.
type ipNtable struct {
	Family        string `json:"family"`
	Name          string `json:"name"`
	Dev           string `json:"dev"`
	Thresh1       *uint32
	Thresh2       *uint32
	Thresh3       *uint32
	GCInterval    *int64 `json:"gc_interval"`
	BaseReachable int64  `json:"base_reachable"`
	Retrans       int64  `json:"retrans"`
	GCStale       int64  `json:"gc_stale"`
	DelayProbe    int64  `json:"delay_probe"`
	Queue         uint32 `json:"queue"`
	AppProbes     uint32 `json:"app_probes"`
	UcastProbes   uint32 `json:"ucast_probes"`
	McastProbes   uint32 `json:"mcast_probes"`
	AnycastDelay  int64  `json:"anycast_delay"`
	ProxyDelay    int64  `json:"proxy_delay"`
	ProxyQueue    uint32 `json:"proxy_queue"`
	Locktime      int64  `json:"locktime"`
}

// The neighbor-table parameters read over netlink inside a namespace match
// what `ip ntable show` prints there, including a per-interface value the
// test changed.
func TestTablesMatchIPNtable(t *testing.T) {
	ip := neightest.RequireCommand(t, "ip")
	ns := neightest.NewNamespace(t, "ntable")
	// A name the host cannot have: a sysctl write that went astray would
	// fail instead of changing the host.
	if err := ns.Netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "arpdt0"}, PeerName: "arpdt1"}); err != nil {
		t.Fatal(err)
	}
	// 12340 ms is a whole number of jiffies at HZ 100, 250 and 1000 alike;
	// the kernel rounds other values to its tick.
	if err := ns.Sysctl("net.ipv4.neigh.arpdt0.base_reachable_time_ms", "12340"); err != nil {
		t.Fatal(err)
	}
	if err := ns.Sysctl("net.ipv6.neigh.arpdt0.ucast_solicit", "7"); err != nil {
		t.Fatal(err)
	}

	c, err := neigh.Open(ns.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tables, err := c.Tables("")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(ip, "-j", "-n", ns.Name, "ntable", "show").Output()
	if err != nil {
		t.Fatalf("ip ntable show: %v", err)
	}
	var want []ipNtable
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("ip -j ntable show: %v\n%s", err, out)
	}

	ms := func(m neigh.Millis) int64 { return m.Duration().Milliseconds() }
	fromParms := func(fam neigh.Family, name, dev string, p neigh.Parms) ipNtable {
		return ipNtable{Family: string(fam), Name: name, Dev: dev,
			BaseReachable: ms(p.BaseReachableTime), Retrans: ms(p.RetransTime), GCStale: ms(p.GCStaleTime),
			DelayProbe: ms(p.DelayProbeTime), Queue: p.QueueLen, AppProbes: p.AppProbes, UcastProbes: p.UcastProbes,
			McastProbes: p.McastProbes, AnycastDelay: ms(p.AnycastDelay), ProxyDelay: ms(p.ProxyDelay),
			ProxyQueue: p.ProxyQueueLen, Locktime: ms(p.Locktime)}
	}
	var got []ipNtable
	seen := map[string]bool{}
	for _, tb := range tables {
		head := fromParms(tb.Family, tb.Name, "", tb.Defaults)
		gc := ms(tb.GCInterval)
		head.Thresh1, head.Thresh2, head.Thresh3, head.GCInterval = &tb.Thresh1, &tb.Thresh2, &tb.Thresh3, &gc
		got = append(got, head)
		for _, p := range tb.Interfaces {
			got = append(got, fromParms(tb.Family, tb.Name, p.Interface, p))
			seen[string(tb.Family)+"/"+p.Interface] = true
			if p.Interface == "arpdt0" && tb.Family == neigh.Inet && p.BaseReachableTime.Duration() != 12340*time.Millisecond {
				t.Errorf("arpdt0 base_reachable_time = %v, want 12.34s", p.BaseReachableTime.Duration())
			}
			if p.Interface == "arpdt0" && tb.Family == neigh.Inet6 && p.UcastProbes != 7 {
				t.Errorf("arpdt0 inet6 ucast_probes = %d, want 7", p.UcastProbes)
			}
		}
	}
	if !seen["inet/arpdt0"] || !seen["inet6/arpdt0"] {
		t.Errorf("no per-interface parameters for arpdt0: %v", seen)
	}
	// ip prints the table-wide part of each table before its interfaces,
	// and "reachable" (a random value each time): leave that out.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ip -j ntable show (-ip +arpdoctor):\n%s", diff)
	}
}
