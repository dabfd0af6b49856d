package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/arpdoctor/arpdoctor/sysctl/sysctltest"
	"github.com/google/go-cmp/cmp"
)

// trees holds the fake roots: /proc/sys trees and config trees.
const trees = "../sysctl/testdata/"

// sysctlKernel answers as netlink would, from fixed tables and entries.
type sysctlKernel struct {
	tables  []neigh.Table
	entries []neigh.Entry
}

func (k sysctlKernel) Tables(neigh.Family) ([]neigh.Table, error) { return k.tables, nil }
func (k sysctlKernel) List(neigh.Filter) ([]neigh.Entry, error)   { return k.entries, nil }

// quietKernel: default thresholds and parameters, one entry per family
// that counts against the thresholds, clean counters.
func quietKernel() sysctlKernel {
	p := neigh.Parms{BaseReachableTime: neigh.Millis(30 * time.Second), GCStaleTime: neigh.Millis(time.Minute),
		DelayProbeTime: neigh.Millis(5 * time.Second), UcastProbes: 3, McastProbes: 3, Locktime: neigh.Millis(time.Second)}
	p6 := p
	p6.Locktime = 0
	return sysctlKernel{
		tables: []neigh.Table{
			{Family: neigh.Inet, Name: "arp_cache", Thresh1: 128, Thresh2: 512, Thresh3: 1024, GCInterval: neigh.Millis(30 * time.Second), Defaults: p},
			{Family: neigh.Inet6, Name: "ndisc_cache", Thresh1: 128, Thresh2: 512, Thresh3: 1024, GCInterval: neigh.Millis(30 * time.Second), Defaults: p6},
		},
		entries: []neigh.Entry{
			{IP: netip.MustParseAddr("192.0.2.1"), Family: neigh.Inet, State: neigh.Reachable},
			{IP: netip.MustParseAddr("192.0.2.2"), Family: neigh.Inet, State: neigh.Permanent},
			{IP: netip.MustParseAddr("2001:db8::1"), Family: neigh.Inet6, State: neigh.Stale},
		},
	}
}

// busyKernel: 600 IPv4 entries against a gc_thresh3 of 1024, and a table
// that overflowed.
func busyKernel() sysctlKernel {
	k := quietKernel()
	k.entries = nil
	for i := range 600 {
		k.entries = append(k.entries, neigh.Entry{IP: netip.AddrFrom4([4]byte{198, 51, byte(100 + i/256), byte(i)}), Family: neigh.Inet, State: neigh.Stale})
	}
	k.tables[0].Stats = neigh.Stats{TableFulls: 1, ForcedGCRuns: 41}
	return k
}

// sysctlRun runs a sysctl subcommand's flags and run function in-process,
// with live values from the fake kernel k (and /proc/sys under --root).
func sysctlRun(t *testing.T, sub string, k sysctl.Kernel, format string, tty, color bool, args ...string) (code int, out string) {
	t.Helper()
	ios, _, stdout, _ := TestStreams()
	ios.OutTTY = tty
	g := &globalOptions{io: ios, Output: format, color: color}
	fake := func(_, root string) (sysctl.LiveSource, func() error, error) {
		return sysctl.LiveSource{Root: root, Kernel: k}, func() error { return nil }, nil
	}
	var err error
	switch sub {
	case "check":
		cmd := newSysctlCheckCmd(g, func(ctx context.Context, o *sysctlCheckOptions) error {
			o.openLive = fake
			return runSysctlCheck(ctx, o)
		})
		cmd.SetArgs(args)
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err = cmd.Execute()
	default:
		t.Fatalf("unknown subcommand %s", sub)
	}
	if err != nil && exitCode(err) == ExitTrouble {
		t.Fatalf("%s %v: %v", sub, args, err)
	}
	return exitCode(err), stdout.String()
}

const staleWhy = "below gc_thresh1 entries the garbage collector never runs, so an entry for a reused IP keeps the old MAC and replies go to a dead machine (Amazon Linux sets 0)"
const notifyWhy = "with arp_notify = 1 an interface sends a gratuitous ARP when it comes up or its MAC changes, so a new machine on a reused IP corrects its peers' caches at once"

// A stock host fails on gc_thresh1 = 128 and says why; stdout is not a
// terminal, so there is no header and no color.
func TestSysctlCheckStockHost(t *testing.T) {
	code, got := sysctlRun(t, "check", quietKernel(), "table", false, false, "--root", trees+"stock")
	want := `FAIL  net.ipv4.neigh.default.gc_thresh1     128           /proc/sys  want 0: ` + staleWhy + `
OK    net.ipv4.neigh.default.gc_thresh1..3  128/512/1024  /proc/sys  no collection below 128 entries, forced collection above 512, hard limit 1024
OK    arp_cache.entries                     1             netlink    1 entry (not PERMANENT), at most half of gc_thresh3 1024
OK    arp_cache.table_fulls                 0             netlink    the table was never full since boot
OK    arp_cache.forced_gc_runs              0             netlink    no collection had to be forced since boot
FAIL  net.ipv6.neigh.default.gc_thresh1     128           /proc/sys  want 0: ` + staleWhy + `
OK    net.ipv6.neigh.default.gc_thresh1..3  128/512/1024  /proc/sys  no collection below 128 entries, forced collection above 512, hard limit 1024
OK    ndisc_cache.entries                   1             netlink    1 entry (not PERMANENT), at most half of gc_thresh3 1024
OK    ndisc_cache.table_fulls               0             netlink    the table was never full since boot
OK    ndisc_cache.forced_gc_runs            0             netlink    no collection had to be forced since boot
WARN  net.ipv4.conf.all.arp_notify          0             /proc/sys  want 1 (eth0 does not): ` + notifyWhy + `
profile cloud, live values under ../sysctl/testdata/stock: 2 FAIL, 1 WARN, 8 OK; failed
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if code != ExitProblems {
		t.Errorf("exit %d, want %d", code, ExitProblems)
	}
}

// On a terminal: a header, and colors when asked.
func TestSysctlCheckTerminal(t *testing.T) {
	_, got := sysctlRun(t, "check", quietKernel(), "table", true, false, "--root", trees+"drift")
	want := `STATUS  KEY                                   VALUE         SOURCE     WHY
WARN    net.ipv4.neigh.default.gc_thresh1     0             /proc/sys  good now, but reverts to 128 at reboot (no config file sets it); want 0: below gc_thresh1 entries the garbage collector never runs, so an entry for a reused IP keeps the old MAC and replies go to a dead machine (Amazon Linux sets 0)
OK      net.ipv4.neigh.default.gc_thresh1..3  0/512/1024    /proc/sys  collection at any size, forced collection above 512, hard limit 1024
OK      arp_cache.entries                     1             netlink    1 entry (not PERMANENT), at most half of gc_thresh3 1024
OK      arp_cache.table_fulls                 0             netlink    the table was never full since boot
OK      arp_cache.forced_gc_runs              0             netlink    no collection had to be forced since boot
FAIL    net.ipv6.neigh.default.gc_thresh1     128           /proc/sys  want 0: below gc_thresh1 entries the garbage collector never runs, so an entry for a reused IP keeps the old MAC and replies go to a dead machine (Amazon Linux sets 0); /etc/sysctl.d/60-neigh.conf:2 sets 0 but was not applied: run sysctl --system
OK      net.ipv6.neigh.default.gc_thresh1..3  128/512/1024  /proc/sys  no collection below 128 entries, forced collection above 512, hard limit 1024
OK      ndisc_cache.entries                   1             netlink    1 entry (not PERMANENT), at most half of gc_thresh3 1024
OK      ndisc_cache.table_fulls               0             netlink    the table was never full since boot
OK      ndisc_cache.forced_gc_runs            0             netlink    no collection had to be forced since boot
WARN    net.ipv4.conf.all.arp_notify          1             /proc/sys  good now, but reverts to 0 at reboot (/etc/sysctl.d/99-sysctl.conf:16 sets it); want 1: with arp_notify = 1 an interface sends a gratuitous ARP when it comes up or its MAC changes, so a new machine on a reused IP corrects its peers' caches at once
profile cloud, live values under ../sysctl/testdata/drift: 1 FAIL, 2 WARN, 8 OK; failed
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("terminal (-want +got):\n%s", diff)
	}
	_, got = sysctlRun(t, "check", quietKernel(), "table", true, true, "--root", trees+"stock", "--profile", "none",
		"--expect", "net.ipv4.neigh.default.gc_thresh1=0", "--expect", "net.ipv4.neigh.default.gc_thresh3>=1024")
	// Bold is ESC[1m...ESC[22m; colors end with ESC[0m.
	want = strings.NewReplacer("<b>", "\x1b[1m", "</b>", "\x1b[22m", "<red>", "\x1b[31m", "<green>", "\x1b[32m", "</>", "\x1b[0m").Replace(
		`<b>STATUS  </b><b>KEY                                </b><b>VALUE  </b><b>SOURCE     </b><b>WHY</b>
<red>FAIL</>    net.ipv4.neigh.default.gc_thresh1  128    /proc/sys  want 0, as --expect says
<green>OK</>      net.ipv4.neigh.default.gc_thresh3  1024   /proc/sys  as --expect wants
<b>live values under ../sysctl/testdata/stock: 1 FAIL, 1 OK; failed</b>
`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("colors (-want +got):\n%s", diff)
	}
}

// -o wide adds every value read, with its source: here the table-wide ones
// come over netlink, since the tree has no neigh.default, as in a
// container.
func TestSysctlCheckWide(t *testing.T) {
	code, got := sysctlRun(t, "check", quietKernel(), "wide", false, false, "--root", trees+"container")
	want := `FAIL  net.ipv4.neigh.default.gc_thresh1     128           netlink    want 0: below gc_thresh1 entries the garbage collector never runs, so an entry for a reused IP keeps the old MAC and replies go to a dead machine (Amazon Linux sets 0)
OK    net.ipv4.neigh.default.gc_thresh1..3  128/512/1024  netlink    no collection below 128 entries, forced collection above 512, hard limit 1024
OK    arp_cache.entries                     1             netlink    1 entry (not PERMANENT), at most half of gc_thresh3 1024
OK    arp_cache.table_fulls                 0             netlink    the table was never full since boot
OK    arp_cache.forced_gc_runs              0             netlink    no collection had to be forced since boot
FAIL  net.ipv6.neigh.default.gc_thresh1     128           netlink    want 0: below gc_thresh1 entries the garbage collector never runs, so an entry for a reused IP keeps the old MAC and replies go to a dead machine (Amazon Linux sets 0)
OK    net.ipv6.neigh.default.gc_thresh1..3  128/512/1024  netlink    no collection below 128 entries, forced collection above 512, hard limit 1024
OK    ndisc_cache.entries                   1             netlink    1 entry (not PERMANENT), at most half of gc_thresh3 1024
OK    ndisc_cache.table_fulls               0             netlink    the table was never full since boot
OK    ndisc_cache.forced_gc_runs            0             netlink    no collection had to be forced since boot
OK    net.ipv4.conf.all.arp_notify          0             /proc/sys  all is 0, but every interface has arp_notify = 1 (eth0): interfaces announce their MAC when they come up, correcting peers' caches

net.ipv4.neigh.default.gc_thresh1              128    netlink
net.ipv4.neigh.default.gc_thresh2              512    netlink
net.ipv4.neigh.default.gc_thresh3              1024   netlink
net.ipv4.neigh.default.gc_interval             30     netlink
net.ipv4.neigh.default.gc_stale_time           60     netlink
net.ipv4.neigh.default.base_reachable_time_ms  30000  netlink
net.ipv4.neigh.default.delay_first_probe_time  5      netlink
net.ipv4.neigh.default.ucast_solicit           3      netlink
net.ipv4.neigh.default.mcast_solicit           3      netlink
net.ipv4.neigh.default.mcast_resolicit         0      netlink
net.ipv4.neigh.default.locktime                100    netlink
net.ipv6.neigh.default.gc_thresh1              128    netlink
net.ipv6.neigh.default.gc_thresh2              512    netlink
net.ipv6.neigh.default.gc_thresh3              1024   netlink
net.ipv6.neigh.default.gc_interval             30     netlink
net.ipv6.neigh.default.gc_stale_time           60     netlink
net.ipv6.neigh.default.base_reachable_time_ms  30000  netlink
net.ipv6.neigh.default.delay_first_probe_time  5      netlink
net.ipv6.neigh.default.ucast_solicit           3      netlink
net.ipv6.neigh.default.mcast_solicit           3      netlink
net.ipv6.neigh.default.mcast_resolicit         0      netlink
net.ipv6.neigh.default.locktime                0      netlink
net.ipv4.conf.all.arp_notify                   0      /proc/sys
net.ipv4.conf.all.arp_accept                   0      /proc/sys
net.ipv4.conf.all.arp_ignore                   0      /proc/sys
net.ipv4.conf.all.arp_announce                 0      /proc/sys
net.ipv4.conf.default.arp_notify               0      /proc/sys
net.ipv4.conf.default.arp_accept               0      /proc/sys
net.ipv4.conf.default.arp_ignore               0      /proc/sys
net.ipv4.conf.default.arp_announce             0      /proc/sys
net.ipv4.neigh.eth0.gc_stale_time              60     /proc/sys
net.ipv4.neigh.eth0.base_reachable_time_ms     15000  /proc/sys
net.ipv4.neigh.eth0.delay_first_probe_time     5      /proc/sys
net.ipv4.neigh.eth0.ucast_solicit              3      /proc/sys
net.ipv4.neigh.eth0.mcast_solicit              3      /proc/sys
net.ipv4.neigh.eth0.mcast_resolicit            0      /proc/sys
net.ipv4.neigh.eth0.locktime                   100    /proc/sys
net.ipv6.neigh.eth0.gc_stale_time              60     /proc/sys
net.ipv6.neigh.eth0.base_reachable_time_ms     30000  /proc/sys
net.ipv6.neigh.eth0.delay_first_probe_time     5      /proc/sys
net.ipv6.neigh.eth0.ucast_solicit              3      /proc/sys
net.ipv6.neigh.eth0.mcast_solicit              3      /proc/sys
net.ipv6.neigh.eth0.mcast_resolicit            0      /proc/sys
net.ipv6.neigh.eth0.locktime                   0      /proc/sys
net.ipv4.conf.eth0.arp_notify                  1      /proc/sys
net.ipv4.conf.eth0.arp_accept                  0      /proc/sys
net.ipv4.conf.eth0.arp_ignore                  0      /proc/sys
net.ipv4.conf.eth0.arp_announce                0      /proc/sys
note: net.ipv4.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink
note: net.ipv6.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink
note: config files set the initial network namespace's values at boot, and this is another one: whether its values persist was not checked
profile cloud, live values under ../sysctl/testdata/container: 2 FAIL, 9 OK; failed
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if code != ExitProblems {
		t.Errorf("exit %d, want %d", code, ExitProblems)
	}
}

// indentJSON checks that out is one JSON document on one line, and
// indents it for comparison.
func indentJSON(t *testing.T, out string) string {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Errorf("JSON output is not one line: %q", out)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(out), "", "  "); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	return b.String() + "\n"
}

// -o json on a busy host with IPv6 off: the table is more than half full
// and overflowed once, and nothing about IPv6 is visible.
func TestSysctlCheckJSON(t *testing.T) {
	k := busyKernel()
	k.tables = k.tables[:1] // IPv6 is off: no inet6 table either
	code, got := sysctlRun(t, "check", k, "json", false, false, "--root", trees+"no-ipv6")
	want := `{
  "ok": true,
  "results": [
    {
      "key": "net.ipv4.neigh.default.gc_thresh1",
      "value": "0",
      "source": "/proc/sys",
      "status": "OK",
      "rule": "stale-entries",
      "message": "the garbage collector runs at any table size: stale entries go after gc_stale_time"
    },
    {
      "key": "net.ipv4.neigh.default.gc_thresh1..3",
      "value": "0/512/1024",
      "source": "/proc/sys",
      "status": "OK",
      "rule": "threshold-order",
      "message": "collection at any size, forced collection above 512, hard limit 1024"
    },
    {
      "key": "arp_cache.entries",
      "value": "600",
      "source": "netlink",
      "status": "WARN",
      "rule": "table-usage",
      "message": "want at most half of gc_thresh3 1024: at gc_thresh3 the kernel refuses new neighbors (\"neighbour table overflow\") and connections to new peers fail; raise gc_thresh2 and gc_thresh3 (--profile kubernetes)"
    },
    {
      "key": "arp_cache.table_fulls",
      "value": "1",
      "source": "netlink",
      "status": "WARN",
      "rule": "table-full",
      "message": "want 0: the table was full 1 time since boot and refused new neighbors (\"neighbour table overflow\"); raise gc_thresh3"
    },
    {
      "key": "arp_cache.forced_gc_runs",
      "value": "41",
      "source": "netlink",
      "status": "WARN",
      "rule": "forced-gc",
      "message": "want 0: the kernel had to force a collection 41 times since boot, as the table passed gc_thresh2 or gc_thresh3: it runs close to full"
    },
    {
      "key": "net.ipv6.neigh.default.gc_thresh1",
      "value": "",
      "source": "",
      "status": "NOT VISIBLE",
      "rule": "stale-entries",
      "message": "net.ipv6.neigh.default.gc_thresh1 is not in /proc/sys here"
    },
    {
      "key": "net.ipv6.neigh.default.gc_thresh1..3",
      "value": "",
      "source": "",
      "status": "NOT VISIBLE",
      "rule": "threshold-order",
      "message": "net.ipv6.neigh.default.gc_thresh1 is not visible"
    },
    {
      "key": "ndisc_cache.entries",
      "value": "",
      "source": "",
      "status": "NOT VISIBLE",
      "rule": "table-usage",
      "message": "the kernel reported no inet6 table over netlink"
    },
    {
      "key": "ndisc_cache.table_fulls",
      "value": "",
      "source": "",
      "status": "NOT VISIBLE",
      "rule": "table-full",
      "message": "the kernel reported no inet6 table over netlink"
    },
    {
      "key": "ndisc_cache.forced_gc_runs",
      "value": "",
      "source": "",
      "status": "NOT VISIBLE",
      "rule": "forced-gc",
      "message": "the kernel reported no inet6 table over netlink"
    },
    {
      "key": "net.ipv4.conf.all.arp_notify",
      "value": "1",
      "source": "/proc/sys",
      "status": "OK",
      "rule": "arp-notify",
      "message": "interfaces announce their MAC when they come up, correcting peers' caches"
    }
  ],
  "profile": "cloud",
  "mode": "live",
  "config_files": [
    "/etc/sysctl.d/60-neigh.conf"
  ],
  "notes": [
    "there is no /proc/sys/net/ipv6: IPv6 is off on this machine"
  ],
  "values": [
    {
      "key": "net.ipv4.neigh.default.gc_thresh1",
      "value": "0",
      "source": "/proc/sys"
    },
    {
      "key": "net.ipv4.neigh.default.gc_thresh2",
      "value": "512",
      "source": "/proc/sys"
    },
    {
      "key": "net.ipv4.neigh.default.gc_thresh3",
      "value": "1024",
      "source": "/proc/sys"
    },
    {
      "key": "net.ipv4.conf.all.arp_notify",
      "value": "1",
      "source": "/proc/sys"
    }
  ]
}

`
	if diff := cmp.Diff(want, indentJSON(t, got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if code != ExitOK {
		t.Errorf("exit %d, want %d: warnings alone pass", code, ExitOK)
	}
}

// An image checked in CI: its files never set gc_thresh1, so it boots with
// 128 and fails, in a report a CI system can show; with --strict the
// arp_notify warning fails too.
func TestSysctlCheckImageJUnit(t *testing.T) {
	code, got, errOut := run(t, false, "sysctl", "check", "--config", "--root", trees+"image-unset", "-o", "junit")
	want := `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="arpdoctor sysctl check" tests="5" failures="2" skipped="0">
  <testsuite name="arpdoctor sysctl check --profile cloud (config)" tests="5" failures="2" skipped="0">
    <testcase name="stale-entries: net.ipv4.neigh.default.gc_thresh1" classname="arpdoctor.sysctl.stale-entries">
      <failure message="want 0: below gc_thresh1 entries the garbage collector never runs, so an entry for a reused IP keeps the old MAC and replies go to a dead machine (Amazon Linux sets 0)" type="FAIL"><![CDATA[net.ipv4.neigh.default.gc_thresh1 = 128 (kernel default)
want 0: below gc_thresh1 entries the garbage collector never runs, so an entry for a reused IP keeps the old MAC and replies go to a dead machine (Amazon Linux sets 0)]]></failure>
    </testcase>
    <testcase name="threshold-order: net.ipv4.neigh.default.gc_thresh1..3" classname="arpdoctor.sysctl.threshold-order">
      <system-out><![CDATA[OK: net.ipv4.neigh.default.gc_thresh1..3 = 128/512/1024 (kernel default)
no collection below 128 entries, forced collection above 512, hard limit 1024]]></system-out>
    </testcase>
    <testcase name="stale-entries: net.ipv6.neigh.default.gc_thresh1" classname="arpdoctor.sysctl.stale-entries">
      <failure message="want 0: below gc_thresh1 entries the garbage collector never runs, so an entry for a reused IP keeps the old MAC and replies go to a dead machine (Amazon Linux sets 0)" type="FAIL"><![CDATA[net.ipv6.neigh.default.gc_thresh1 = 128 (kernel default)
want 0: below gc_thresh1 entries the garbage collector never runs, so an entry for a reused IP keeps the old MAC and replies go to a dead machine (Amazon Linux sets 0)]]></failure>
    </testcase>
    <testcase name="threshold-order: net.ipv6.neigh.default.gc_thresh1..3" classname="arpdoctor.sysctl.threshold-order">
      <system-out><![CDATA[OK: net.ipv6.neigh.default.gc_thresh1..3 = 128/512/1024 (kernel default)
no collection below 128 entries, forced collection above 512, hard limit 1024]]></system-out>
    </testcase>
    <testcase name="arp-notify: net.ipv4.conf.all.arp_notify" classname="arpdoctor.sysctl.arp-notify">
      <system-out><![CDATA[WARN: net.ipv4.conf.all.arp_notify = 0 (kernel default)
want 1: with arp_notify = 1 an interface sends a gratuitous ARP when it comes up or its MAC changes, so a new machine on a reused IP corrects its peers' caches at once]]></system-out>
    </testcase>
  </testsuite>
</testsuites>
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if code != ExitProblems || errOut != "" {
		t.Errorf("exit %d, stderr %q; want %d and nothing", code, errOut, ExitProblems)
	}

	policy := filepath.Join(t.TempDir(), "fleet.policy")
	os.WriteFile(policy, []byte("warn net.ipv4.conf.all.arp_ignore = 1\n"), 0o644)
	code, got, _ = run(t, false, "sysctl", "check", "--config", "--root", trees+"image-good", "-o", "junit", "--strict",
		"--policy", policy)
	want = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="arpdoctor sysctl check" tests="6" failures="1" skipped="0">
  <testsuite name="arpdoctor sysctl check --profile cloud (config)" tests="6" failures="1" skipped="0">
    <testcase name="stale-entries: net.ipv4.neigh.default.gc_thresh1" classname="arpdoctor.sysctl.stale-entries">
      <system-out><![CDATA[OK: net.ipv4.neigh.default.gc_thresh1 = 0 (/etc/sysctl.d/60-neigh.conf:2)
the garbage collector runs at any table size: stale entries go after gc_stale_time]]></system-out>
    </testcase>
    <testcase name="threshold-order: net.ipv4.neigh.default.gc_thresh1..3" classname="arpdoctor.sysctl.threshold-order">
      <system-out><![CDATA[OK: net.ipv4.neigh.default.gc_thresh1..3 = 0/512/1024 (/etc/sysctl.d/60-neigh.conf:2, kernel default)
collection at any size, forced collection above 512, hard limit 1024]]></system-out>
    </testcase>
    <testcase name="stale-entries: net.ipv6.neigh.default.gc_thresh1" classname="arpdoctor.sysctl.stale-entries">
      <system-out><![CDATA[OK: net.ipv6.neigh.default.gc_thresh1 = 0 (/etc/sysctl.d/60-neigh.conf:3)
the garbage collector runs at any table size: stale entries go after gc_stale_time]]></system-out>
    </testcase>
    <testcase name="threshold-order: net.ipv6.neigh.default.gc_thresh1..3" classname="arpdoctor.sysctl.threshold-order">
      <system-out><![CDATA[OK: net.ipv6.neigh.default.gc_thresh1..3 = 0/512/1024 (/etc/sysctl.d/60-neigh.conf:3, kernel default)
collection at any size, forced collection above 512, hard limit 1024]]></system-out>
    </testcase>
    <testcase name="arp-notify: net.ipv4.conf.all.arp_notify" classname="arpdoctor.sysctl.arp-notify">
      <system-out><![CDATA[OK: net.ipv4.conf.all.arp_notify = 1 (/etc/sysctl.d/60-neigh.conf:5)
interfaces announce their MAC when they come up, correcting peers' caches]]></system-out>
    </testcase>
    <testcase name="policy: net.ipv4.conf.all.arp_ignore" classname="arpdoctor.sysctl.policy">
      <failure message="want 1, as ` + policy + `:1 says" type="WARN"><![CDATA[net.ipv4.conf.all.arp_ignore = 0 (kernel default)
want 1, as ` + policy + `:1 says]]></failure>
    </testcase>
  </testsuite>
</testsuites>
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("strict (-want +got):\n%s", diff)
	}
	if code != ExitProblems {
		t.Errorf("strict: exit %d, want %d", code, ExitProblems)
	}
}

// The same image passes once its files set gc_thresh1 = 0; exit codes
// and errors follow DESIGN.md.
func TestSysctlCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "fleet.policy")
	os.WriteFile(policy, []byte("# our fleet\nwarn net.ipv4.conf.all.arp_ignore = 1\n"), 0o644)
	badPolicy := filepath.Join(dir, "bad.policy")
	os.WriteFile(badPolicy, []byte("net.ipv4.neigh.default.gc_thresh3 >= many\n"), 0o644)
	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string
	}{{
		name: "image that sets gc_thresh1",
		args: []string{"--config", "--root", trees + "image-good"},
		code: ExitOK,
		out: `OK  net.ipv4.neigh.default.gc_thresh1     0           /etc/sysctl.d/60-neigh.conf:2                  the garbage collector runs at any table size: stale entries go after gc_stale_time
OK  net.ipv4.neigh.default.gc_thresh1..3  0/512/1024  /etc/sysctl.d/60-neigh.conf:2, kernel default  collection at any size, forced collection above 512, hard limit 1024
OK  net.ipv6.neigh.default.gc_thresh1     0           /etc/sysctl.d/60-neigh.conf:3                  the garbage collector runs at any table size: stale entries go after gc_stale_time
OK  net.ipv6.neigh.default.gc_thresh1..3  0/512/1024  /etc/sysctl.d/60-neigh.conf:3, kernel default  collection at any size, forced collection above 512, hard limit 1024
OK  net.ipv4.conf.all.arp_notify          1           /etc/sysctl.d/60-neigh.conf:5                  interfaces announce their MAC when they come up, correcting peers' caches
profile cloud, config files under ../sysctl/testdata/image-good: 0 FAIL, 5 OK; passed
`,
	}, {
		name: "a warning passes",
		args: []string{"--config", "--root", trees + "image-good", "--profile", "none", "--policy", policy},
		code: ExitOK,
		out: "WARN  net.ipv4.conf.all.arp_ignore  0  kernel default  want 1, as " + policy + ":2 says\n" +
			"config files under ../sysctl/testdata/image-good: 0 FAIL, 1 WARN; passed\n",
	}, {
		name: "a warning fails with --strict",
		args: []string{"--config", "--root", trees + "image-good", "--profile", "none", "--policy", policy, "--strict"},
		code: ExitProblems,
		out: "WARN  net.ipv4.conf.all.arp_ignore  0  kernel default  want 1, as " + policy + ":2 says\n" +
			"config files under ../sysctl/testdata/image-good: 0 FAIL, 1 WARN; failed (--strict: warnings fail)\n",
	}, {
		name: "files named one by one, later ones winning",
		args: []string{"--file", trees + "precedence/etc/sysctl.d/99-late.conf", "--file", trees + "precedence/etc/sysctl.conf",
			"--profile", "none", "--expect", "net.ipv4.neigh.default.gc_thresh1=0", "--expect", "net.ipv4.neigh.default.gc_interval<=30"},
		code: ExitProblems,
		out: `OK    net.ipv4.neigh.default.gc_thresh1   0   ../sysctl/testdata/precedence/etc/sysctl.conf:2            as --expect wants
FAIL  net.ipv4.neigh.default.gc_interval  60  ../sysctl/testdata/precedence/etc/sysctl.d/99-late.conf:3  want <= 30, as --expect says
the files given: 1 FAIL, 1 OK; failed
`,
	}, {
		name: "malformed config file: file and line, exit 2",
		args: []string{"--config", "--root", trees + "malformed"},
		code: ExitTrouble,
		err:  `arpdoctor: /etc/sysctl.d/10-neigh.conf:3: "net.ipv4.neigh.default.gc_thresh1 0" is not an assignment: want KEY = VALUE, or -KEY to keep KEY out of globs` + "\n",
	}, {
		name: "malformed file named",
		args: []string{"--file", trees + "malformed/etc/sysctl.d/10-neigh.conf"},
		code: ExitTrouble,
		err:  `arpdoctor: ../sysctl/testdata/malformed/etc/sysctl.d/10-neigh.conf:3: "net.ipv4.neigh.default.gc_thresh1 0" is not an assignment: want KEY = VALUE, or -KEY to keep KEY out of globs` + "\n",
	}, {
		name: "malformed policy",
		args: []string{"--config", "--root", trees + "image-good", "--policy", badPolicy},
		code: ExitTrouble,
		err:  "arpdoctor: reading policy: " + badPolicy + `:1: "net.ipv4.neigh.default.gc_thresh3 >= many": >= needs a number` + "\n",
	}, {
		name: "missing file",
		args: []string{"--file", filepath.Join(dir, "nope.conf")},
		code: ExitTrouble,
		err:  "arpdoctor: reading config file: open " + filepath.Join(dir, "nope.conf") + ": no such file or directory\n",
	}, {
		name: "usage",
		args: []string{"--config", "--file", "x.conf"},
		code: ExitTrouble,
		err:  "arpdoctor: --config and --file exclude each other: --config reads the files under --root, --file only those named (see 'arpdoctor sysctl check --help')\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, false, append([]string{"sysctl", "check"}, tt.args...)...)
			if diff := cmp.Diff(tt.out, out); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.err, errOut); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d", code, tt.code)
			}
		})
	}
}

func TestSysctlCheckFlags(t *testing.T) {
	tests := []struct {
		args    []string
		netns   string
		rules   int
		wantErr string
	}{
		{args: nil, rules: 11},
		{args: []string{"--profile", "kubernetes"}, rules: 15},
		{args: []string{"--profile", "none", "--expect", "net.ipv4.neigh.default.gc_thresh1=0", "--expect", "kernel.x>=1"}, rules: 2},
		{args: []string{"--config", "--root", trees + "image-good"}, rules: 11},
		{args: []string{"--profile", "cloudy"}, wantErr: `--profile: unknown profile "cloudy" (want cloud, kubernetes or none)`},
		{args: []string{"--profile", "none"}, wantErr: "nothing to check: --profile none needs --expect or --policy"},
		{args: []string{"--expect", "gc_thresh1"}, wantErr: `--expect "gc_thresh1": want KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER`},
		{args: []string{"--expect", "a.b<=x"}, wantErr: `--expect "a.b<=x": <= needs a number`},
		{args: []string{"--root", "/nonexistent/tree"}, wantErr: "--root: stat /nonexistent/tree: no such file or directory"},
		{args: []string{"--root", trees + "stock/etc/sysctl.conf"}, wantErr: "--root ../sysctl/testdata/stock/etc/sysctl.conf is not a directory"},
		{args: []string{"--config"}, netns: "blue", wantErr: "--netns reads live values; it does not combine with --config or --file"},
		{args: []string{"--policy", "/nonexistent/policy"}, wantErr: "reading policy: open /nonexistent/policy: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var got *sysctlCheckOptions
			cmd := newSysctlCheckCmd(&globalOptions{NetNS: tt.netns}, func(_ context.Context, o *sysctlCheckOptions) error {
				got = o
				return nil
			})
			cmd.SetArgs(append([]string{}, tt.args...))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got.rules) != tt.rules {
				t.Errorf("%d rules, want %d", len(got.rules), tt.rules)
			}
		})
	}
}

func TestSysctlFixFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    string
		wantErr string
	}{
		{args: nil, want: "/ /etc/sysctl.d/60-arpdoctor.conf cloud dry-run=false no-apply=false"},
		{args: []string{"--root", trees + "image-good", "--path", "/usr/lib/sysctl.d/60-arpdoctor.conf", "--profile", "kubernetes", "--dry-run", "--no-apply"},
			want: trees + "image-good /usr/lib/sysctl.d/60-arpdoctor.conf kubernetes dry-run=true no-apply=true"},
		{args: []string{"--profile", "none"}, wantErr: "--profile none has no values to write: use cloud or kubernetes"},
		{args: []string{"--path", "etc/sysctl.d/x.conf"}, wantErr: `--path "etc/sysctl.d/x.conf": want a clean absolute path, as on the machine, such as /etc/sysctl.d/60-arpdoctor.conf`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var got string
			cmd := newSysctlFixCmd(&globalOptions{}, func(_ context.Context, o *sysctlFixOptions) error {
				got = fmt.Sprintf("%s %s %s dry-run=%v no-apply=%v", o.Root, o.Path, o.Profile, o.DryRun, o.NoApply)
				return nil
			})
			cmd.SetArgs(append([]string{}, tt.args...))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("options %q, want %q", got, tt.want)
			}
		})
	}
}

func copyTree(t *testing.T, tree string) string { return sysctltest.CopyTree(t, trees+tree) }

// fix on an image: --dry-run shows the diff and leaves the tree
// byte-identical; fix writes the file; fix again changes nothing; the
// image then passes the check.
func TestSysctlFixImage(t *testing.T) {
	root := copyTree(t, "image-unset")
	before := sysctltest.TreeState(t, root)
	diff := "--- /dev/null\n+++ b/etc/sysctl.d/60-arpdoctor.conf\n@@ -0,0 +1,14 @@\n"
	for line := range strings.Lines(sysctltest.CloudFixFile) {
		diff += "+" + line
	}

	code, out, errOut := run(t, false, "sysctl", "fix", "--root", root, "--no-apply", "--dry-run")
	if want := diff + "would write /etc/sysctl.d/60-arpdoctor.conf\n"; out != want || code != ExitOK || errOut != "" {
		t.Errorf("dry run: exit %d, stderr %q, stdout (-want +got):\n%s", code, errOut, cmp.Diff(want, out))
	}
	if d := cmp.Diff(before, sysctltest.TreeState(t, root)); d != "" {
		t.Fatalf("--dry-run changed the tree (-before +after):\n%s", d)
	}

	code, out, _ = run(t, false, "sysctl", "fix", "--root", root, "--no-apply")
	if want := diff + "wrote /etc/sysctl.d/60-arpdoctor.conf\n"; out != want || code != ExitOK {
		t.Errorf("fix: exit %d, stdout (-want +got):\n%s", code, cmp.Diff(want, out))
	}
	b, err := os.ReadFile(filepath.Join(root, "etc/sysctl.d/60-arpdoctor.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sysctltest.CloudFixFile, string(b)); d != "" {
		t.Errorf("file (-want +got):\n%s", d)
	}

	written := sysctltest.TreeState(t, root)
	code, out, _ = run(t, false, "sysctl", "fix", "--root", root, "--no-apply")
	if want := "/etc/sysctl.d/60-arpdoctor.conf is up to date\n"; out != want || code != ExitOK {
		t.Errorf("second fix: exit %d, stdout (-want +got):\n%s", code, cmp.Diff(want, out))
	}
	if d := cmp.Diff(written, sysctltest.TreeState(t, root)); d != "" {
		t.Errorf("second fix changed the tree (-before +after):\n%s", d)
	}

	if code, out, _ := run(t, false, "sysctl", "check", "--config", "--root", root); code != ExitOK {
		t.Errorf("check after fix: exit %d\n%s", code, out)
	}
}

// A file read after the fix's undoes it at boot: fix says so, exits 1,
// and leaves that file alone. -o json shows the plan.
func TestSysctlFixOverridden(t *testing.T) {
	root := copyTree(t, "drift")
	sysctlConf, _ := os.ReadFile(filepath.Join(root, "etc/sysctl.conf"))
	code, out, _ := run(t, false, "sysctl", "fix", "--root", root, "--no-apply", "--dry-run", "-o", "json")
	want := `{
  "path": "/etc/sysctl.d/60-arpdoctor.conf",
  "exists": false,
  "old": "",
  "new": "# Written by ` + "`" + `arpdoctor sysctl fix --profile cloud` + "`" + `, which rewrites this file\n# whole: keep other settings in files of their own.\n\n# Run the ARP (IPv4) garbage collector at any table size: below gc_thresh1\n# entries it never runs, and an entry for a reused IP keeps the old MAC.\nnet.ipv4.neigh.default.gc_thresh1 = 0\n\n# Announce the MAC (gratuitous ARP) when an interface comes up or its MAC\n# changes, so that peers replace a cached entry for a reused IP at once.\nnet.ipv4.conf.all.arp_notify = 1\n",
  "settings": [
    {
      "key": "net.ipv4.neigh.default.gc_thresh1",
      "value": "0",
      "rule": "stale-entries"
    },
    {
      "key": "net.ipv4.conf.all.arp_notify",
      "value": "1",
      "rule": "arp-notify"
    }
  ],
  "live": [],
  "unfixed": [
    "net.ipv4.conf.all.arp_notify: /etc/sysctl.d/99-sysctl.conf:16 sets 0 after /etc/sysctl.d/60-arpdoctor.conf: change it there (fix writes no other file)"
  ],
  "ok": false,
  "dry_run": true,
  "diff": "--- /dev/null\n+++ b/etc/sysctl.d/60-arpdoctor.conf\n@@ -0,0 +1,10 @@\n+# Written by ` + "`" + `arpdoctor sysctl fix --profile cloud` + "`" + `, which rewrites this file\n+# whole: keep other settings in files of their own.\n+\n+# Run the ARP (IPv4) garbage collector at any table size: below gc_thresh1\n+# entries it never runs, and an entry for a reused IP keeps the old MAC.\n+net.ipv4.neigh.default.gc_thresh1 = 0\n+\n+# Announce the MAC (gratuitous ARP) when an interface comes up or its MAC\n+# changes, so that peers replace a cached entry for a reused IP at once.\n+net.ipv4.conf.all.arp_notify = 1\n",
  "live_checked": false
}

`
	if d := cmp.Diff(want, indentJSON(t, out)); d != "" {
		t.Errorf("json (-want +got):\n%s", d)
	}
	if code != ExitProblems {
		t.Errorf("exit %d, want %d", code, ExitProblems)
	}
	code, out, _ = run(t, false, "sysctl", "fix", "--root", root, "--no-apply")
	want = `--- /dev/null
+++ b/etc/sysctl.d/60-arpdoctor.conf
@@ -0,0 +1,10 @@
+# Written by ` + "`" + `arpdoctor sysctl fix --profile cloud` + "`" + `, which rewrites this file
+# whole: keep other settings in files of their own.
+
+# Run the ARP (IPv4) garbage collector at any table size: below gc_thresh1
+# entries it never runs, and an entry for a reused IP keeps the old MAC.
+net.ipv4.neigh.default.gc_thresh1 = 0
+
+# Announce the MAC (gratuitous ARP) when an interface comes up or its MAC
+# changes, so that peers replace a cached entry for a reused IP at once.
+net.ipv4.conf.all.arp_notify = 1
wrote /etc/sysctl.d/60-arpdoctor.conf
not fixed: net.ipv4.conf.all.arp_notify: /etc/sysctl.d/99-sysctl.conf:16 sets 0 after /etc/sysctl.d/60-arpdoctor.conf: change it there (fix writes no other file)
`
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("text (-want +got):\n%s", d)
	}
	if code != ExitProblems {
		t.Errorf("exit %d, want %d", code, ExitProblems)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/sysctl.conf")); !bytes.Equal(b, sysctlConf) {
		t.Error("fix changed /etc/sysctl.conf")
	}
}

// In a namespace of its own, check reads the interface's keys from the
// namespace's /proc/sys and the table-wide ones over netlink, and says so.
func TestSysctlCheckNetns(t *testing.T) {
	lab := neightest.NewLab(t)
	host := lab.AddHost(neightest.HostConfig{Name: "server", MAC: "02:00:00:00:00:10", Addrs: []string{"192.0.2.10/24"}})
	if err := host.Sysctl("net.ipv4.neigh.eth0.base_reachable_time_ms", "12000"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, false, "--netns", host.Name, "sysctl", "check", "-o", "json", "--profile", "none",
		"--expect", "net.ipv4.neigh.eth0.base_reachable_time_ms=12000", "--expect", "net.ipv4.neigh.default.gc_thresh3>=1")
	if code != ExitOK || errOut != "" {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	var rep sysctl.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Results {
		got = append(got, string(r.Status)+" "+r.Key+" "+r.Source)
	}
	want := []string{"OK net.ipv4.neigh.eth0.base_reachable_time_ms /proc/sys", "OK net.ipv4.neigh.default.gc_thresh3 netlink"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	wantNotes := []string{
		"net.ipv4.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink",
		"net.ipv6.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink",
		"config files set the initial network namespace's values at boot, and this is another one: whether its values persist was not checked",
	}
	if d := cmp.Diff(wantNotes, rep.Notes); d != "" {
		t.Errorf("notes (-want +got):\n%s", d)
	}
}

// fix in a namespace of its own sets the namespace's arp_notify live and
// leaves the host's alone; the table-wide keys are not in the namespace's
// /proc/sys, so they are reported, never written elsewhere. The file goes
// to a temporary directory, never /etc.
func TestSysctlFixNetns(t *testing.T) {
	ns := neightest.NewNamespace(t, "fix")
	if err := ns.Sysctl("net.ipv4.conf.all.arp_notify", "0"); err != nil {
		t.Fatal(err)
	}
	hostBefore, _ := os.ReadFile("/proc/sys/net/ipv4/conf/all/arp_notify")
	path := filepath.Join(t.TempDir(), "60-arpdoctor.conf")
	code, out, errOut := run(t, false, "--netns", ns.Name, "sysctl", "fix", "--path", path)
	if code == ExitTrouble {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "set net.ipv4.conf.all.arp_notify = 1 live (was 0)\n") {
		t.Errorf("output does not say arp_notify was set:\n%s", out)
	}
	if v, err := ns.ReadSysctl("net.ipv4.conf.all.arp_notify"); err != nil || v != "1" {
		t.Errorf("arp_notify in the namespace = %q, %v; want 1", v, err)
	}
	if after, _ := os.ReadFile("/proc/sys/net/ipv4/conf/all/arp_notify"); !bytes.Equal(after, hostBefore) {
		t.Errorf("the host's arp_notify changed from %q to %q", hostBefore, after)
	}
	code, out, _ = run(t, false, "--netns", ns.Name, "sysctl", "fix", "--path", path)
	if strings.Contains(out, "live (was") || strings.Contains(out, "wrote") {
		t.Errorf("second fix changed something (exit %d):\n%s", code, out)
	}
}
