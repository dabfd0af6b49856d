package sysctl

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// fakeKernel answers as netlink would, from fixed tables and entries.
type fakeKernel struct {
	tables  []neigh.Table
	entries []neigh.Entry
}

func (k *fakeKernel) Tables(f neigh.Family) ([]neigh.Table, error) {
	var out []neigh.Table
	for _, t := range k.tables {
		if f == "" || t.Family == f {
			out = append(out, t)
		}
	}
	return out, nil
}

func (k *fakeKernel) Census() ([]neigh.Group, error) { return neigh.CensusOf(k.entries), nil }

func ms(d time.Duration) neigh.Millis { return neigh.Millis(d) }

// defaultParms are the kernel's defaults as RTM_GETNEIGHTBL reports them.
var defaultParms = neigh.Parms{BaseReachableTime: ms(30 * time.Second), GCStaleTime: ms(60 * time.Second),
	DelayProbeTime: ms(5 * time.Second), UcastProbes: 3, McastProbes: 3, Locktime: ms(time.Second)}

// quietKernel has the default thresholds, a few entries and clean
// counters.
func quietKernel() *fakeKernel {
	return &fakeKernel{
		tables: []neigh.Table{
			{Family: neigh.Inet, Name: "arp_cache", Thresh1: 128, Thresh2: 512, Thresh3: 1024, GCInterval: ms(30 * time.Second), Defaults: defaultParms},
			{Family: neigh.Inet6, Name: "ndisc_cache", Thresh1: 128, Thresh2: 512, Thresh3: 1024, GCInterval: ms(30 * time.Second), Defaults: defaultParms},
		},
		entries: []neigh.Entry{
			{IP: netip.MustParseAddr("192.0.2.1"), Family: neigh.Inet, State: neigh.Reachable},
			{IP: netip.MustParseAddr("192.0.2.2"), Family: neigh.Inet, State: neigh.Permanent},
			{IP: netip.MustParseAddr("2001:db8::1"), Family: neigh.Inet6, State: neigh.Stale},
		},
	}
}

// ipv4Kernel is quietKernel with IPv6 off: no inet6 table, no IPv6
// entries.
func ipv4Kernel() *fakeKernel {
	k := quietKernel()
	k.tables = k.tables[:1]
	k.entries = k.entries[:2]
	return k
}

// busyKernel has 700 IPv4 entries that count against gc_thresh3 (and 50
// PERMANENT ones that do not), and counters that show trouble.
func busyKernel() *fakeKernel {
	k := quietKernel()
	k.entries = nil
	for i := range 750 {
		st := neigh.Stale
		if i >= 700 {
			st = neigh.Permanent
		}
		ip := netip.AddrFrom4([4]byte{198, 51, byte(100 + i/256), byte(i)})
		k.entries = append(k.entries, neigh.Entry{IP: ip, Family: neigh.Inet, State: st})
	}
	k.tables[0].Stats = neigh.Stats{TableFulls: 3, ForcedGCRuns: 41}
	k.tables[1].Stats = neigh.Stats{ForcedGCRuns: 1}
	return k
}

// checkTree runs a profile's check on a testdata tree: live (with the
// kernel given, or none) or, for mode config, its config files.
func checkTree(t *testing.T, tree string, mode Mode, k Kernel, profile string, extra ...Rule) *Report {
	t.Helper()
	root := "testdata/" + tree
	rules, err := Profile(profile)
	if err != nil {
		t.Fatal(err)
	}
	rules = append(rules, extra...)
	var keys []Key
	for _, r := range rules {
		if r.Expect != nil {
			keys = append(keys, r.Expect.Key)
		}
	}
	cfg, err := LoadSystemConfig(root)
	if err != nil {
		t.Fatal(err)
	}
	if mode == ModeConfig {
		return Check(cfg.Values(ModeConfig, keys), rules, CheckOptions{Profile: profile})
	}
	src := Running{Root: root}
	if k != nil {
		src.Kernel = k
	}
	s, err := ReadRunning(src, keys)
	if err != nil {
		t.Fatal(err)
	}
	var read []Key
	for _, v := range s.Values {
		read = append(read, v.Key)
	}
	return Check(s, rules, CheckOptions{Profile: profile, Boot: cfg.Values(ModeConfig, read)})
}

// verdicts lists results as "STATUS rule key=value (source)".
func verdicts(rep *Report) []string {
	var out []string
	for _, r := range rep.Results {
		out = append(out, fmt.Sprintf("%s %s %s=%s (%s)", r.Status, r.Rule, r.Key, r.Value, r.Source))
	}
	return out
}

func TestProfilesOnTrees(t *testing.T) {
	tests := []struct {
		name    string
		tree    string
		mode    Mode
		kernel  Kernel
		profile string
		ok      bool
		want    []string
	}{{
		name: "stock host: gc_thresh1 = 128 fails", tree: "stock", mode: ModeLive, kernel: quietKernel(), profile: "cloud",
		want: []string{
			"FAIL stale-entries net.ipv4.neigh.default.gc_thresh1=128 (/proc/sys)",
			"OK threshold-order net.ipv4.neigh.default.gc_thresh1..3=128/512/1024 (/proc/sys)",
			"OK table-usage arp_cache.entries=1 (netlink)",
			"OK table-full arp_cache.table_fulls=0 (netlink)",
			"OK forced-gc arp_cache.forced_gc_runs=0 (netlink)",
			"FAIL stale-entries net.ipv6.neigh.default.gc_thresh1=128 (/proc/sys)",
			"OK threshold-order net.ipv6.neigh.default.gc_thresh1..3=128/512/1024 (/proc/sys)",
			"OK table-usage ndisc_cache.entries=1 (netlink)",
			"OK table-full ndisc_cache.table_fulls=0 (netlink)",
			"OK forced-gc ndisc_cache.forced_gc_runs=0 (netlink)",
			"WARN arp-notify net.ipv4.conf.all.arp_notify=0 (/proc/sys)",
			"WARN ndisc-notify net.ipv6.conf.all.ndisc_notify=0 (/proc/sys)",
		},
	}, {
		name: "tuned host, kept by its config", tree: "tuned", mode: ModeLive, kernel: quietKernel(), profile: "cloud", ok: true,
		want: []string{
			"OK stale-entries net.ipv4.neigh.default.gc_thresh1=0 (/proc/sys)",
			"OK threshold-order net.ipv4.neigh.default.gc_thresh1..3=0/512/1024 (/proc/sys)",
			"OK table-usage arp_cache.entries=1 (netlink)",
			"OK table-full arp_cache.table_fulls=0 (netlink)",
			"OK forced-gc arp_cache.forced_gc_runs=0 (netlink)",
			"OK stale-entries net.ipv6.neigh.default.gc_thresh1=0 (/proc/sys)",
			"OK threshold-order net.ipv6.neigh.default.gc_thresh1..3=0/512/1024 (/proc/sys)",
			"OK table-usage ndisc_cache.entries=1 (netlink)",
			"OK table-full ndisc_cache.table_fulls=0 (netlink)",
			"OK forced-gc ndisc_cache.forced_gc_runs=0 (netlink)",
			"OK arp-notify net.ipv4.conf.all.arp_notify=1 (/proc/sys)",
			"OK ndisc-notify net.ipv6.conf.all.ndisc_notify=1 (/proc/sys)",
		},
	}, {
		name: "busy host: table half full, overflowed, thresholds out of order", tree: "overflow", mode: ModeLive, kernel: busyKernel(), profile: "cloud",
		want: []string{
			"OK stale-entries net.ipv4.neigh.default.gc_thresh1=0 (/proc/sys)",
			"OK threshold-order net.ipv4.neigh.default.gc_thresh1..3=0/512/1024 (/proc/sys)",
			"WARN table-usage arp_cache.entries=700 (netlink)",
			"WARN table-full arp_cache.table_fulls=3 (netlink)",
			"WARN forced-gc arp_cache.forced_gc_runs=41 (netlink)",
			"OK stale-entries net.ipv6.neigh.default.gc_thresh1=0 (/proc/sys)",
			"FAIL threshold-order net.ipv6.neigh.default.gc_thresh1..3=0/2048/1024 (/proc/sys)",
			"OK table-usage ndisc_cache.entries=0 (netlink)",
			"OK table-full ndisc_cache.table_fulls=0 (netlink)",
			"WARN forced-gc ndisc_cache.forced_gc_runs=1 (netlink)",
			"OK arp-notify net.ipv4.conf.all.arp_notify=1 (/proc/sys)",
			"OK ndisc-notify net.ipv6.conf.all.ndisc_notify=1 (/proc/sys)",
		},
	}, {
		name: "busy host, kubernetes profile", tree: "overflow", mode: ModeLive, kernel: busyKernel(), profile: "kubernetes",
		want: []string{
			"OK stale-entries net.ipv4.neigh.default.gc_thresh1=0 (/proc/sys)",
			"OK threshold-order net.ipv4.neigh.default.gc_thresh1..3=0/512/1024 (/proc/sys)",
			"FAIL gc-soft-limit net.ipv4.neigh.default.gc_thresh2=512 (/proc/sys)",
			"FAIL overflow net.ipv4.neigh.default.gc_thresh3=1024 (/proc/sys)",
			"WARN table-usage arp_cache.entries=700 (netlink)",
			"WARN table-full arp_cache.table_fulls=3 (netlink)",
			"WARN forced-gc arp_cache.forced_gc_runs=41 (netlink)",
			"OK stale-entries net.ipv6.neigh.default.gc_thresh1=0 (/proc/sys)",
			"FAIL threshold-order net.ipv6.neigh.default.gc_thresh1..3=0/2048/1024 (/proc/sys)",
			"FAIL gc-soft-limit net.ipv6.neigh.default.gc_thresh2=2048 (/proc/sys)",
			"FAIL overflow net.ipv6.neigh.default.gc_thresh3=1024 (/proc/sys)",
			"OK table-usage ndisc_cache.entries=0 (netlink)",
			"OK table-full ndisc_cache.table_fulls=0 (netlink)",
			"WARN forced-gc ndisc_cache.forced_gc_runs=1 (netlink)",
			"OK arp-notify net.ipv4.conf.all.arp_notify=1 (/proc/sys)",
			"OK ndisc-notify net.ipv6.conf.all.ndisc_notify=1 (/proc/sys)",
		},
	}, {
		name: "large node, kubernetes profile", tree: "k8s-node", mode: ModeLive, kernel: quietKernel(), profile: "kubernetes", ok: true,
		want: []string{
			"OK stale-entries net.ipv4.neigh.default.gc_thresh1=0 (/proc/sys)",
			"OK threshold-order net.ipv4.neigh.default.gc_thresh1..3=0/32768/65536 (/proc/sys)",
			"OK gc-soft-limit net.ipv4.neigh.default.gc_thresh2=32768 (/proc/sys)",
			"OK overflow net.ipv4.neigh.default.gc_thresh3=65536 (/proc/sys)",
			"OK table-usage arp_cache.entries=1 (netlink)",
			"OK table-full arp_cache.table_fulls=0 (netlink)",
			"OK forced-gc arp_cache.forced_gc_runs=0 (netlink)",
			"OK stale-entries net.ipv6.neigh.default.gc_thresh1=0 (/proc/sys)",
			"OK threshold-order net.ipv6.neigh.default.gc_thresh1..3=0/32768/65536 (/proc/sys)",
			"OK gc-soft-limit net.ipv6.neigh.default.gc_thresh2=32768 (/proc/sys)",
			"OK overflow net.ipv6.neigh.default.gc_thresh3=65536 (/proc/sys)",
			"OK table-usage ndisc_cache.entries=1 (netlink)",
			"OK table-full ndisc_cache.table_fulls=0 (netlink)",
			"OK forced-gc ndisc_cache.forced_gc_runs=0 (netlink)",
			"OK arp-notify net.ipv4.conf.all.arp_notify=1 (/proc/sys)",
			"OK ndisc-notify net.ipv6.conf.all.ndisc_notify=1 (/proc/sys)",
		},
	}, {
		name: "container: table-wide values over netlink, arp_notify per interface", tree: "container", mode: ModeLive, kernel: quietKernel(), profile: "cloud",
		want: []string{
			"FAIL stale-entries net.ipv4.neigh.default.gc_thresh1=128 (netlink)",
			"OK threshold-order net.ipv4.neigh.default.gc_thresh1..3=128/512/1024 (netlink)",
			"OK table-usage arp_cache.entries=1 (netlink)",
			"OK table-full arp_cache.table_fulls=0 (netlink)",
			"OK forced-gc arp_cache.forced_gc_runs=0 (netlink)",
			"FAIL stale-entries net.ipv6.neigh.default.gc_thresh1=128 (netlink)",
			"OK threshold-order net.ipv6.neigh.default.gc_thresh1..3=128/512/1024 (netlink)",
			"OK table-usage ndisc_cache.entries=1 (netlink)",
			"OK table-full ndisc_cache.table_fulls=0 (netlink)",
			"OK forced-gc ndisc_cache.forced_gc_runs=0 (netlink)",
			"OK arp-notify net.ipv4.conf.all.arp_notify=0 (/proc/sys)",
			"OK ndisc-notify net.ipv6.conf.all.ndisc_notify=0 (/proc/sys)",
		},
	}, {
		name: "container, no kernel to ask", tree: "container", mode: ModeLive, profile: "cloud", ok: true,
		want: []string{
			"NOT VISIBLE stale-entries net.ipv4.neigh.default.gc_thresh1= ()",
			"NOT VISIBLE threshold-order net.ipv4.neigh.default.gc_thresh1..3= ()",
			"NOT VISIBLE table-usage arp_cache.entries= ()",
			"NOT VISIBLE table-full arp_cache.table_fulls= ()",
			"NOT VISIBLE forced-gc arp_cache.forced_gc_runs= ()",
			"NOT VISIBLE stale-entries net.ipv6.neigh.default.gc_thresh1= ()",
			"NOT VISIBLE threshold-order net.ipv6.neigh.default.gc_thresh1..3= ()",
			"NOT VISIBLE table-usage ndisc_cache.entries= ()",
			"NOT VISIBLE table-full ndisc_cache.table_fulls= ()",
			"NOT VISIBLE forced-gc ndisc_cache.forced_gc_runs= ()",
			"OK arp-notify net.ipv4.conf.all.arp_notify=0 (/proc/sys)",
			"OK ndisc-notify net.ipv6.conf.all.ndisc_notify=0 (/proc/sys)",
		},
	}, {
		name: "image that leaves gc_thresh1 unset: kernel default 128", tree: "image-unset", mode: ModeConfig, profile: "cloud",
		want: []string{
			"FAIL stale-entries net.ipv4.neigh.default.gc_thresh1=128 (kernel default)",
			"OK threshold-order net.ipv4.neigh.default.gc_thresh1..3=128/512/1024 (kernel default)",
			"FAIL stale-entries net.ipv6.neigh.default.gc_thresh1=128 (kernel default)",
			"OK threshold-order net.ipv6.neigh.default.gc_thresh1..3=128/512/1024 (kernel default)",
			"WARN arp-notify net.ipv4.conf.all.arp_notify=0 (kernel default)",
			"WARN ndisc-notify net.ipv6.conf.all.ndisc_notify=0 (kernel default)",
		},
	}, {
		name: "image that sets it", tree: "image-good", mode: ModeConfig, profile: "cloud", ok: true,
		want: []string{
			"OK stale-entries net.ipv4.neigh.default.gc_thresh1=0 (/etc/sysctl.d/60-neigh.conf:2)",
			"OK threshold-order net.ipv4.neigh.default.gc_thresh1..3=0/512/1024 (/etc/sysctl.d/60-neigh.conf:2, kernel default)",
			"OK stale-entries net.ipv6.neigh.default.gc_thresh1=0 (/etc/sysctl.d/60-neigh.conf:3)",
			"OK threshold-order net.ipv6.neigh.default.gc_thresh1..3=0/512/1024 (/etc/sysctl.d/60-neigh.conf:3, kernel default)",
			"OK arp-notify net.ipv4.conf.all.arp_notify=1 (/etc/sysctl.d/60-neigh.conf:5)",
			"OK ndisc-notify net.ipv6.conf.all.ndisc_notify=1 (/etc/sysctl.d/60-neigh.conf:6)",
		},
	}, {
		name: "no IPv6: the profile's IPv6 rules are not visible", tree: "no-ipv6", mode: ModeLive, kernel: ipv4Kernel(), profile: "cloud", ok: true,
		want: []string{
			"OK stale-entries net.ipv4.neigh.default.gc_thresh1=0 (/proc/sys)",
			"OK threshold-order net.ipv4.neigh.default.gc_thresh1..3=0/512/1024 (/proc/sys)",
			"OK table-usage arp_cache.entries=1 (netlink)",
			"OK table-full arp_cache.table_fulls=0 (netlink)",
			"OK forced-gc arp_cache.forced_gc_runs=0 (netlink)",
			"NOT VISIBLE stale-entries net.ipv6.neigh.default.gc_thresh1= ()",
			"NOT VISIBLE threshold-order net.ipv6.neigh.default.gc_thresh1..3= ()",
			"NOT VISIBLE table-usage ndisc_cache.entries= ()",
			"NOT VISIBLE table-full ndisc_cache.table_fulls= ()",
			"NOT VISIBLE forced-gc ndisc_cache.forced_gc_runs= ()",
			"OK arp-notify net.ipv4.conf.all.arp_notify=1 (/proc/sys)",
			"NOT VISIBLE ndisc-notify net.ipv6.conf.all.ndisc_notify= ()",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := checkTree(t, tt.tree, tt.mode, tt.kernel, tt.profile)
			if diff := cmp.Diff(tt.want, verdicts(rep)); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			if rep.OK != tt.ok {
				t.Errorf("ok = %v, want %v", rep.OK, tt.ok)
			}
		})
	}
}

// Live values and the config files disagree: a good value no file keeps,
// a good value a file undoes at boot, and a bad value a file would fix
// but that was not applied.
func TestDrift(t *testing.T) {
	rep := checkTree(t, "drift", ModeLive, quietKernel(), "cloud")
	var got []string
	for _, r := range rep.Results {
		if r.Status != StatusOK {
			got = append(got, fmt.Sprintf("%s %s: %s", r.Status, r.Key, r.Message))
		}
	}
	stale := "below gc_thresh1 entries the garbage collector never runs, so an entry for a reused IP keeps the old MAC and replies go to a dead machine (Amazon Linux sets 0)"
	want := []string{
		"WARN net.ipv4.neigh.default.gc_thresh1: good now, but reverts to 128 at reboot (no config file sets it); want 0: " + stale,
		"FAIL net.ipv6.neigh.default.gc_thresh1: want 0: " + stale + "; /etc/sysctl.d/60-neigh.conf:2 sets 0 but was not applied: run sysctl --system",
		"WARN net.ipv4.conf.all.arp_notify: good now, but reverts to 0 at reboot (/etc/sysctl.d/99-sysctl.conf:16 sets it); " +
			"want 1: with arp_notify = 1 an interface sends a gratuitous ARP when it comes up or its MAC changes, so a new machine on a reused IP corrects its peers' caches at once",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// The container tree has no neigh.default: the check says so, and the
// values fill in from netlink in the units /proc/sys uses.
func TestNetlinkFallbackValues(t *testing.T) {
	s, err := ReadRunning(Running{Root: "testdata/container", Kernel: quietKernel()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.InitialNamespace {
		t.Error("a tree without neigh/default is taken for the initial namespace")
	}
	var got []string
	for _, v := range s.Values {
		if strings.Contains(string(v.Key), "ipv4.neigh") {
			got = append(got, fmt.Sprintf("%s=%s (%s)", v.Key, v.Value, v.Source))
		}
	}
	want := []string{
		"net.ipv4.neigh.default.gc_thresh1=128 (netlink)",
		"net.ipv4.neigh.default.gc_thresh2=512 (netlink)",
		"net.ipv4.neigh.default.gc_thresh3=1024 (netlink)",
		"net.ipv4.neigh.default.gc_interval=30 (netlink)",
		"net.ipv4.neigh.default.gc_stale_time=60 (netlink)",
		"net.ipv4.neigh.default.base_reachable_time_ms=30000 (netlink)",
		"net.ipv4.neigh.default.delay_first_probe_time=5 (netlink)",
		"net.ipv4.neigh.default.ucast_solicit=3 (netlink)",
		"net.ipv4.neigh.default.mcast_solicit=3 (netlink)",
		"net.ipv4.neigh.default.mcast_resolicit=0 (netlink)",
		"net.ipv4.neigh.default.locktime=100 (netlink)",
		"net.ipv4.neigh.eth0.gc_stale_time=60 (/proc/sys)",
		"net.ipv4.neigh.eth0.base_reachable_time_ms=15000 (/proc/sys)",
		"net.ipv4.neigh.eth0.delay_first_probe_time=5 (/proc/sys)",
		"net.ipv4.neigh.eth0.ucast_solicit=3 (/proc/sys)",
		"net.ipv4.neigh.eth0.mcast_solicit=3 (/proc/sys)",
		"net.ipv4.neigh.eth0.mcast_resolicit=0 (/proc/sys)",
		"net.ipv4.neigh.eth0.locktime=100 (/proc/sys)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	wantNotes := []string{
		"net.ipv4.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink",
		"net.ipv6.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink",
	}
	if diff := cmp.Diff(wantNotes, s.Notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}

// A config that leaves keys unset boots with the kernel's defaults, which
// differ between ARP and NDP for locktime.
func TestUnsetKeysTakeKernelDefaults(t *testing.T) {
	cfg, err := LoadSystemConfig("testdata/image-unset")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Values(ModeConfig, []Key{"net.ipv4.neigh.eth0.ucast_solicit", "kernel.pid_max", "vm.swappiness"})
	for key, want := range map[Key]string{
		"net.ipv4.neigh.default.gc_thresh1": "128 kernel default",
		"net.ipv6.neigh.default.gc_thresh3": "1024 kernel default",
		"net.ipv4.neigh.default.locktime":   "100 kernel default",
		"net.ipv6.neigh.default.locktime":   "0 kernel default",
		"net.ipv4.conf.default.arp_accept":  "0 kernel default",
		"net.ipv4.neigh.eth0.ucast_solicit": "3 kernel default",
		"kernel.pid_max":                    "4194304 /usr/lib/sysctl.d/50-pid-max.conf:2",
		"vm.swappiness":                     "absent",
	} {
		got := "absent"
		if v, ok := s.Lookup(key); ok {
			got = v.Value + " " + v.Source
		}
		if got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
}

func TestExpectations(t *testing.T) {
	must := func(s string, sev Status) Rule {
		r, err := ExpectRule(s, sev)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	policy, err := ParsePolicy(strings.NewReader(`# fleet policy
net.ipv4.neigh.default.gc_thresh3 >= 4096
warn net.ipv4.neigh.*.gc_stale_time <= 30
; keys are read whatever they are
net.ipv4.conf.eth0.arp_filter = 1
`), "fleet.policy")
	if err != nil {
		t.Fatal(err)
	}
	rules := append([]Rule{must("net.ipv4.neigh.default.gc_thresh1=0x0", StatusFail), must("net.ipv4.neigh.eth0.ucast_solicit >= 3", StatusFail)}, policy...)
	rep := checkTree(t, "stock", ModeLive, quietKernel(), "none", rules...)
	var got []string
	for _, r := range rep.Results {
		got = append(got, fmt.Sprintf("%s %s %s=%s: %s", r.Status, r.Rule, r.Key, r.Value, r.Message))
	}
	want := []string{
		"FAIL expect net.ipv4.neigh.default.gc_thresh1=128: want 0x0, as --expect says",
		"OK expect net.ipv4.neigh.eth0.ucast_solicit=3: as --expect wants",
		"FAIL policy net.ipv4.neigh.default.gc_thresh3=1024: want >= 4096, as fleet.policy:2 says",
		"WARN policy net.ipv4.neigh.default.gc_stale_time=60: want <= 30, as fleet.policy:3 says",
		"WARN policy net.ipv4.neigh.eth0.gc_stale_time=60: want <= 30, as fleet.policy:3 says",
		"WARN policy net.ipv4.neigh.lo.gc_stale_time=60: want <= 30, as fleet.policy:3 says",
		// The fake tree's kernel has no arp_filter.
		"FAIL policy net.ipv4.conf.eth0.arp_filter=: no such setting: net.ipv4.conf.eth0.arp_filter is not in /proc/sys here: this kernel does not have it",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if rep.OK {
		t.Error("ok with failures")
	}
}

func TestParseExpectation(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "net.ipv4.neigh.default.gc_thresh1=0", want: "net.ipv4.neigh.default.gc_thresh1 = 0"},
		{in: " net/ipv4/neigh/default/gc_thresh3 >= 4096 ", want: "net.ipv4.neigh.default.gc_thresh3 >= 4096"},
		{in: "net.ipv4.ip_local_port_range = 32768   60999", want: "net.ipv4.ip_local_port_range = 32768 60999"},
		{in: "net.ipv4.neigh.default.gc_thresh1", err: `"net.ipv4.neigh.default.gc_thresh1": want KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER`},
		{in: "net.ipv4.neigh.default.gc_thresh3>=lots", err: `"net.ipv4.neigh.default.gc_thresh3>=lots": >= needs a number`},
		{in: "net.ipv4.neigh.default.gc_thresh1=", err: `"net.ipv4.neigh.default.gc_thresh1=": no value after =`},
		{in: "<=5", err: `"<=5": empty key`},
		// Operators that are not: refused, where they used to end up in
		// the key or the value.
		{in: "net.ipv4.x==1", err: `"net.ipv4.x==1": "==" is not an operator: want KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER`},
		{in: "net.ipv4.x == 1", err: `"net.ipv4.x == 1": "==" is not an operator: want KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER`},
		{in: "net.ipv4.x!=1", err: `"net.ipv4.x!=1": "!=" is not an operator: want KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER`},
		{in: "net.ipv4.x=>1", err: `"net.ipv4.x=>1": "=>" is not an operator: want KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER`},
		{in: "net.ipv4.x=<1", err: `"net.ipv4.x=<1": "=<" is not an operator: want KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER`},
		{in: "net.ipv4.x<1", err: `"net.ipv4.x<1": "<" is not an operator: want KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER`},
		{in: "net.ipv4.x>>=1", err: `"net.ipv4.x>>=1": ">>=" is not an operator: want KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER`},
		// Keys no kernel has, where arpdoctor knows every key.
		{in: "net.ipv4.neigh.default.gc_thres1=0", err: `"net.ipv4.neigh.default.gc_thres1=0": unknown key net.ipv4.neigh.default.gc_thres1: no kernel has gc_thres1 under neigh (did you mean gc_thresh1?)`},
		{in: "net.ipv6.neigh.eth0.gc_thresh3>=1", err: `"net.ipv6.neigh.eth0.gc_thresh3>=1": unknown key net.ipv6.neigh.eth0.gc_thresh3: gc_thresh3 is the table's, not an interface's: only net.ipv6.neigh.default has it`},
		{in: "net.ipv4.neigh.gc_thresh1=0", err: `"net.ipv4.neigh.gc_thresh1=0": unknown key net.ipv4.neigh.gc_thresh1: the neighbor keys are net.ipv4.neigh.INTERFACE.NAME`},
		{in: "net.ipv4.conf.all.arp_notfy=1", err: `"net.ipv4.conf.all.arp_notfy=1": unknown key net.ipv4.conf.all.arp_notfy: no kernel has arp_notfy under net.ipv4.conf (did you mean arp_notify?)`},
		{in: "net.ipv4.neigh.*.gc_stale_tim=1", err: `"net.ipv4.neigh.*.gc_stale_tim=1": unknown key net.ipv4.neigh.*.gc_stale_tim: no kernel has gc_stale_tim under neigh (did you mean gc_stale_time?)`},
		// Known, or not known at all: taken.
		{in: "net.ipv4.neigh.*.gc_thresh1=0", want: "net.ipv4.neigh.*.gc_thresh1 = 0"},
		{in: "net.ipv4.neigh.eth0.gc_stale_time<=60", want: "net.ipv4.neigh.eth0.gc_stale_time <= 60"},
		{in: "net.ipv4.neigh.default.gc_thresh*<=99999", want: "net.ipv4.neigh.default.gc_thresh* <= 99999"},
		{in: "net.ipv4.conf.eth0.rp_filter=2", want: "net.ipv4.conf.eth0.rp_filter = 2"},
		{in: "net.core.somaxconnn>=1", want: "net.core.somaxconnn >= 1"},
	}
	for _, tt := range tests {
		e, err := ParseExpectation(tt.in)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("ParseExpectation(%q) = %v, %v; want error %s", tt.in, e, err, tt.err)
			}
			continue
		}
		if err != nil || e.String() != tt.want {
			t.Errorf("ParseExpectation(%q) = %v, %v; want %s", tt.in, e, err, tt.want)
		}
	}
	if _, err := ParsePolicy(strings.NewReader("a.b = 1\n\nwarn a.c >= x\n"), "p"); err == nil || err.Error() != `p:3: "a.c >= x": >= needs a number` {
		t.Errorf("policy error = %v", err)
	}
}

func TestHolds(t *testing.T) {
	tests := []struct {
		e     Expectation
		value string
		want  bool
		err   string
	}{
		{Expectation{"k", OpEqual, "0"}, "0", true, ""},
		{Expectation{"k", OpEqual, "16"}, "0x10", true, ""},
		{Expectation{"k", OpEqual, "8"}, "010", true, ""},
		{Expectation{"k", OpAtLeast, "65536"}, "65535", false, ""},
		{Expectation{"k", OpAtMost, "-1"}, "-1", true, ""},
		{Expectation{"k", OpEqual, "fq_codel"}, "fq_codel", true, ""},
		{Expectation{"k", OpEqual, "32768 60999"}, "32768\t60999", true, ""},
		{Expectation{"k", OpEqual, "0"}, "1 # comment", false, `"1 # comment" is not a number`},
		{Expectation{"k", OpAtLeast, "1"}, "1_000", false, `"1_000" is not a number`},
	}
	for _, tt := range tests {
		got, err := tt.e.holds(tt.value)
		if got != tt.want || (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
			t.Errorf("%v holds %q = %v, %v; want %v, %q", tt.e, tt.value, got, err, tt.want, tt.err)
		}
	}
}

// With --strict a warning fails the check.
func TestStrict(t *testing.T) {
	rules, _ := Profile("cloud")
	s, err := ReadRunning(Running{Root: "testdata/tuned", Kernel: busyKernel()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !Check(s, rules, CheckOptions{}).OK {
		t.Error("warnings alone fail the check")
	}
	if Check(s, rules, CheckOptions{Strict: true}).OK {
		t.Error("warnings pass a strict check")
	}
}

// A host of many namespaces fills the machine's table while the one read
// looks empty: near gc_thresh3, the machine-wide count warns.
func TestTableUsageMachineWide(t *testing.T) {
	k := quietKernel()
	k.tables[0].Entries = 950
	s, err := ReadRunning(Running{Root: "testdata/container", Kernel: k}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rules, _ := Profile("cloud")
	var got []Result
	for _, r := range Check(s, rules, CheckOptions{}).Results {
		if r.Rule == "table-usage" {
			got = append(got, r)
		}
	}
	want := []Result{
		{Key: "arp_cache.entries", Value: "1", Source: SourceNetlink, Status: StatusWarn, Rule: "table-usage",
			Message: `the machine's table holds 950 entries in all namespaces (PERMANENT ones included, which do not count), against gc_thresh3 1024: at gc_thresh3 the kernel refuses new neighbors ("neighbour table overflow"); raise gc_thresh2 and gc_thresh3 (--profile kubernetes)`},
		{Key: "ndisc_cache.entries", Value: "1", Source: SourceNetlink, Status: StatusOK, Rule: "table-usage",
			Message: "1 entry (not PERMANENT), at most half of gc_thresh3 1024"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A rule of the user's whose key the kernel does not have fails, saying
// why: a misspelling, an interface that is not there, IPv6 off, a glob
// that matches nothing; a warning rule too. A key the kernel may have but
// that cannot be read here is not visible, as the profile's rules are.
func TestMissingKeysSayWhy(t *testing.T) {
	rules := func(lines ...string) []Rule {
		t.Helper()
		rs, err := ParsePolicy(strings.NewReader(strings.Join(lines, "\n")), "p")
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	fifoTree := copyTree(t, "stock")
	if err := os.MkdirAll(filepath.Join(fifoTree, "proc/sys/net/core"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(fifoTree, "proc/sys/net/core/somaxconn"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		root  string
		k     Kernel
		rules []Rule
		want  []string
	}{{
		name: "live", root: "testdata/stock",
		rules: rules("net.ipv4.neigh.eth9.gc_stale_time<=60", "net.core.somaxconnn>=1", "warn net.ipv4.conf.eth9.arp_notify=1",
			"net.ipv4.conf.*.rp_filtr=1", "net.ipv4.conf.e*.arp_ignore=0", "net.ipv6.conf.eth0.ndisc_notify=1"),
		want: []string{
			"FAIL net.ipv4.neigh.eth9.gc_stale_time: no such setting: net.ipv4.neigh.eth9.gc_stale_time is not in /proc/sys here: there is no interface eth9 in this network namespace",
			"FAIL net.core.somaxconnn: no such setting: net.core.somaxconnn is not in /proc/sys here: arpdoctor does not know this key, so it may be misspelt, or belong to a module that is not loaded",
			"FAIL net.ipv4.conf.eth9.arp_notify: no such setting: net.ipv4.conf.eth9.arp_notify is not in /proc/sys here: there is no interface eth9 in this network namespace",
			"FAIL net.ipv4.conf.*.rp_filtr: no such setting: nothing in /proc/sys here matches net.ipv4.conf.*.rp_filtr",
			"OK net.ipv4.conf.eth0.arp_ignore: as p:5 wants",
			"FAIL net.ipv6.conf.eth0.ndisc_notify: want 1, as p:6 says",
		},
	}, {
		name: "IPv6 off", root: "testdata/no-ipv6", k: ipv4Kernel(),
		rules: rules("net.ipv6.conf.all.ndisc_notify=1", "net.ipv6.neigh.default.gc_thresh1=0"),
		want: []string{
			"FAIL net.ipv6.conf.all.ndisc_notify: no such setting: net.ipv6.conf.all.ndisc_notify is not in /proc/sys here: there is no /proc/sys/net/ipv6: IPv6 is off on this machine",
			"FAIL net.ipv6.neigh.default.gc_thresh1: no such setting: net.ipv6.neigh.default.gc_thresh1 is not in /proc/sys here: there is no /proc/sys/net/ipv6: IPv6 is off on this machine",
		},
	}, {
		// The table's values are the initial namespace's: another one's
		// /proc/sys lacks them, and netlink gives only some.
		name: "container", root: "testdata/container", k: quietKernel(),
		rules: rules("net.ipv4.neigh.default.unres_qlen>=1", "net.ipv4.neigh.default.gc_thresh3>=1024"),
		want: []string{
			"NOT VISIBLE net.ipv4.neigh.default.unres_qlen: net.ipv4.neigh.default.unres_qlen is not in /proc/sys here: only the initial network namespace has net.ipv4.neigh.default, and netlink did not give this value",
			"OK net.ipv4.neigh.default.gc_thresh3: as p:2 wants",
		},
	}, {
		name: "unreadable", root: fifoTree,
		rules: rules("net.core.somaxconn>=4096"),
		want: []string{
			"NOT VISIBLE net.core.somaxconn: net.core.somaxconn could not be read: /proc/sys/net/core/somaxconn is a FIFO, not a regular file",
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys []Key
			for _, r := range tt.rules {
				keys = append(keys, r.Expect.Key)
			}
			live, err := ReadRunning(Running{Root: tt.root, Kernel: tt.k}, keys)
			if err != nil {
				t.Fatal(err)
			}
			rep := Check(live, tt.rules, CheckOptions{})
			var got []string
			for _, r := range rep.Results {
				got = append(got, fmt.Sprintf("%s %s: %s", r.Status, r.Key, r.Message))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	// From config files, a key arpdoctor does not know, set by no file,
	// is not shown to hold: it fails. One it knows, whose kernel default
	// it does not, is not visible.
	cfg, err := LoadSystemConfig("testdata/image-unset")
	if err != nil {
		t.Fatal(err)
	}
	rs := rules("net.core.somaxconnn>=1", "net.ipv4.neigh.default.unres_qlen>=1", "net.*.ndisc_notify=1", "kernel.pid_m*>=1")
	var got []string
	for _, r := range Check(cfg.Values(ModeConfig, []Key{"net.core.somaxconnn", "net.ipv4.neigh.default.unres_qlen", "net.*.ndisc_notify", "kernel.pid_m*"}), rs, CheckOptions{}).Results {
		got = append(got, fmt.Sprintf("%s %s=%s: %s", r.Status, r.Key, r.Value, r.Message))
	}
	want := []string{
		"FAIL net.core.somaxconnn=: no config file sets it, and arpdoctor does not know this key or its kernel default: check its spelling, or set it in a config file",
		"NOT VISIBLE net.ipv4.neigh.default.unres_qlen=: no config file sets it, and arpdoctor does not know its kernel default",
		"FAIL net.*.ndisc_notify=: no config file sets a key it matches, and it matches none of the keys whose kernel default arpdoctor knows: check its spelling, or set such a key in a config file",
		"OK kernel.pid_max=4194304: as p:4 wants",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("config (-want +got):\n%s", diff)
	}
}
