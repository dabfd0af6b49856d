package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

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
WARN  net.ipv6.conf.all.ndisc_notify        0             /proc/sys  want 1 (eth0 does not): ` + ndiscNotifyWhy + `
profile cloud, live values under ../sysctl/testdata/stock: 2 FAIL, 2 WARN, 8 OK; failed
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
OK      net.ipv6.conf.all.ndisc_notify        1             /proc/sys  interfaces announce their MAC when they come up, correcting peers' IPv6 neighbor caches
profile cloud, live values under ../sysctl/testdata/drift: 1 FAIL, 2 WARN, 9 OK; failed
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("terminal (-want +got):\n%s", diff)
	}
	_, got = sysctlRun(t, "check", quietKernel(), "table", true, true, "--root", trees+"stock", "--profile", "none",
		"--expect", "net.ipv4.neigh.default.gc_thresh1=0", "--expect", "net.ipv4.neigh.default.gc_thresh3>=1024")
	// Bold is ESC[1m...ESC[22m; colors end with ESC[0m.
	want = strings.NewReplacer("<b>", "\x1b[1m", "</b>", "\x1b[22m", "<red>", "\x1b[31m", "<green>", "\x1b[32m", "</>", "\x1b[0m").Replace(
		`<b>STATUS</b>  <b>KEY</b>                                <b>VALUE</b>  <b>SOURCE</b>     <b>WHY</b>
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
OK    net.ipv6.conf.all.ndisc_notify        0             /proc/sys  all is 0, but every interface has ndisc_notify = 1 (eth0): interfaces announce their MAC when they come up, correcting peers' IPv6 neighbor caches

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
net.ipv6.conf.all.ndisc_notify                 0      /proc/sys
net.ipv6.conf.default.ndisc_notify             0      /proc/sys
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
net.ipv6.conf.eth0.ndisc_notify                1      /proc/sys
note: net.ipv4.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink
note: net.ipv6.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink
note: config files set the initial network namespace's values at boot, and this is another one: whether its values persist was not checked
profile cloud, live values under ../sysctl/testdata/container: 2 FAIL, 10 OK; failed
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
      "message": "net.ipv6.neigh.default.gc_thresh1 is not in /proc/sys here: there is no /proc/sys/net/ipv6: IPv6 is off on this machine"
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
    },
    {
      "key": "net.ipv6.conf.all.ndisc_notify",
      "value": "",
      "source": "",
      "status": "NOT VISIBLE",
      "rule": "ndisc-notify",
      "message": "net.ipv6.conf.all.ndisc_notify is not in /proc/sys here: there is no /proc/sys/net/ipv6: IPv6 is off on this machine"
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
OK  net.ipv6.conf.all.ndisc_notify        1           /etc/sysctl.d/60-neigh.conf:6                  interfaces announce their MAC when they come up, correcting peers' IPv6 neighbor caches
profile cloud, config files under ../sysctl/testdata/image-good: 0 FAIL, 6 OK; passed
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
		// No kernel to ask: a key arpdoctor does not know, set by no
		// file, is not shown to hold.
		name: "image: a key nothing sets and arpdoctor does not know fails",
		args: []string{"--config", "--root", trees + "image-good", "--profile", "none", "--expect", "net.core.somaxconnn>=1",
			"--expect", "net.ipv4.neigh.*.gc_stale_time<=60"},
		code: ExitProblems,
		out: `FAIL  net.core.somaxconnn                   -   -               no config file sets it, and arpdoctor does not know this key or its kernel default: check its spelling, or set it in a config file
OK    net.ipv4.neigh.default.gc_stale_time  60  kernel default  as --expect wants
config files under ../sysctl/testdata/image-good: 1 FAIL, 1 OK; failed
`,
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
			code, out, errOut := run(t, true, append([]string{"--no-headers", "--color", "never", "sysctl", "check"}, tt.args...)...)
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
		{args: nil, rules: 12},
		{args: []string{"--profile", "kubernetes"}, rules: 16},
		{args: []string{"--profile", "none", "--expect", "net.ipv4.neigh.default.gc_thresh1=0", "--expect", "kernel.x>=1"}, rules: 2},
		{args: []string{"--config", "--root", trees + "image-good"}, rules: 12},
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

// Input the check cannot take is one line on stderr and exit 2: a
// malformed expectation, a key no kernel has, a config file too large, a
// FIFO among the config files.
func TestSysctlCheckRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.conf")
	os.WriteFile(big, []byte(strings.Repeat("# comment\n", sysctl.MaxFileLines+1)), 0o644)
	root := copyTree(t, "image-unset")
	if err := unix.Mkfifo(filepath.Join(root, "etc/sysctl.d/50-fifo.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		err  string
	}{{
		name: "== is no operator",
		args: []string{"--expect", "net.ipv4.x==1"},
		err:  `arpdoctor: --expect "net.ipv4.x==1": "==" is not an operator: want KEY=VALUE, KEY<=NUMBER or KEY>=NUMBER (see 'arpdoctor sysctl check --help')` + "\n",
	}, {
		name: "a key no kernel has",
		args: []string{"--expect", "net.ipv4.neigh.default.gc_thres1=0"},
		err:  `arpdoctor: --expect "net.ipv4.neigh.default.gc_thres1=0": unknown key net.ipv4.neigh.default.gc_thres1: no kernel has gc_thres1 under neigh (did you mean gc_thresh1?) (see 'arpdoctor sysctl check --help')` + "\n",
	}, {
		name: "too many lines",
		args: []string{"--file", big},
		err:  "arpdoctor: file " + big + ": more than 50000 lines\n",
	}, {
		name: "a FIFO among the config files",
		args: []string{"--config", "--root", root},
		err:  "arpdoctor: /etc/sysctl.d/50-fifo.conf is a FIFO, not a regular file\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, false, append([]string{"--no-headers", "sysctl", "check"}, tt.args...)...)
			if diff := cmp.Diff(tt.err, errOut); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if code != ExitTrouble || out != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, out, ExitTrouble)
			}
		})
	}
}

// A FIFO given with --file that nobody writes does not hang the check:
// cancelling the context (as SIGINT does) ends it with exit 2.
func TestSysctlCheckFIFOCancelled(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// A writer that never writes: without it the FIFO could end at once.
	w, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ios, _, out, errOut := TestStreams()
	done := make(chan int, 1)
	go func() { done <- Main(ctx, ios, []string{"sysctl", "check", "--file", fifo}) }()
	cancel()
	if code := <-done; code != ExitTrouble {
		t.Errorf("exit %d, want %d", code, ExitTrouble)
	}
	if want := "arpdoctor: reading " + fifo + ": context canceled\n"; errOut.String() != want || out.Len() != 0 {
		t.Errorf("stdout %q, stderr %q; want %q", out, errOut, want)
	}
}

// A rule of the user's on a setting the kernel does not have fails, in
// every output, and the check exits 1: a CI job does not pass on a typo or
// on an interface that is not there. The profile's rules that cannot be
// seen (IPv6 is off on this tree) stay NOT VISIBLE.
func TestSysctlCheckNoSuchSetting(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "fleet.policy")
	os.WriteFile(policy, []byte("warn net.ipv6.conf.all.ndisc_notify = 1\n"), 0o644)
	k := quietKernel()
	k.tables = k.tables[:1]
	args := []string{"--root", trees + "no-ipv6", "--profile", "none", "--expect", "net.ipv4.neigh.eth9.gc_stale_time<=60",
		"--expect", "net.core.somaxconnn>=4096", "--expect", "net.ipv4.neigh.default.gc_thresh1=0", "--policy", policy}

	code, got := sysctlRun(t, "check", k, "table", false, false, args...)
	want := `FAIL  net.ipv4.neigh.eth9.gc_stale_time  -  -          no such setting: net.ipv4.neigh.eth9.gc_stale_time is not in /proc/sys here: there is no interface eth9 in this network namespace
FAIL  net.core.somaxconnn                -  -          no such setting: net.core.somaxconnn is not in /proc/sys here: arpdoctor does not know this key, so it may be misspelt, or belong to a module that is not loaded
OK    net.ipv4.neigh.default.gc_thresh1  0  /proc/sys  as --expect wants
FAIL  net.ipv6.conf.all.ndisc_notify     -  -          no such setting: net.ipv6.conf.all.ndisc_notify is not in /proc/sys here: there is no /proc/sys/net/ipv6: IPv6 is off on this machine
note: there is no /proc/sys/net/ipv6: IPv6 is off on this machine
live values under ../sysctl/testdata/no-ipv6: 3 FAIL, 1 OK; failed
`
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	if code != ExitProblems {
		t.Errorf("table: exit %d, want %d", code, ExitProblems)
	}

	code, got = sysctlRun(t, "check", k, "json", false, false, args...)
	var rep struct {
		OK      bool
		Results []sysctl.Result
	}
	if err := json.Unmarshal([]byte(got), &rep); err != nil {
		t.Fatal(err)
	}
	wantResults := []sysctl.Result{
		{Key: "net.ipv4.neigh.eth9.gc_stale_time", Status: sysctl.StatusFail, Rule: "expect",
			Message: "no such setting: net.ipv4.neigh.eth9.gc_stale_time is not in /proc/sys here: there is no interface eth9 in this network namespace"},
		{Key: "net.core.somaxconnn", Status: sysctl.StatusFail, Rule: "expect",
			Message: "no such setting: net.core.somaxconnn is not in /proc/sys here: arpdoctor does not know this key, so it may be misspelt, or belong to a module that is not loaded"},
		{Key: "net.ipv4.neigh.default.gc_thresh1", Value: "0", Source: "/proc/sys", Status: sysctl.StatusOK, Rule: "expect", Message: "as --expect wants"},
		{Key: "net.ipv6.conf.all.ndisc_notify", Status: sysctl.StatusFail, Rule: "policy",
			Message: "no such setting: net.ipv6.conf.all.ndisc_notify is not in /proc/sys here: there is no /proc/sys/net/ipv6: IPv6 is off on this machine"},
	}
	if diff := cmp.Diff(wantResults, rep.Results); diff != "" || rep.OK {
		t.Errorf("json: ok %v, results (-want +got):\n%s", rep.OK, diff)
	}
	if code != ExitProblems {
		t.Errorf("json: exit %d, want %d", code, ExitProblems)
	}

	code, got = sysctlRun(t, "check", k, "junit", false, false, args...)
	wantJUnit := `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="arpdoctor sysctl check" tests="4" failures="3" skipped="0">
  <testsuite name="arpdoctor sysctl check --profile none (live)" tests="4" failures="3" skipped="0">
    <testcase name="expect: net.ipv4.neigh.eth9.gc_stale_time" classname="arpdoctor.sysctl.expect">
      <failure message="no such setting: net.ipv4.neigh.eth9.gc_stale_time is not in /proc/sys here: there is no interface eth9 in this network namespace" type="FAIL"><![CDATA[net.ipv4.neigh.eth9.gc_stale_time = - (-)
no such setting: net.ipv4.neigh.eth9.gc_stale_time is not in /proc/sys here: there is no interface eth9 in this network namespace]]></failure>
    </testcase>
    <testcase name="expect: net.core.somaxconnn" classname="arpdoctor.sysctl.expect">
      <failure message="no such setting: net.core.somaxconnn is not in /proc/sys here: arpdoctor does not know this key, so it may be misspelt, or belong to a module that is not loaded" type="FAIL"><![CDATA[net.core.somaxconnn = - (-)
no such setting: net.core.somaxconnn is not in /proc/sys here: arpdoctor does not know this key, so it may be misspelt, or belong to a module that is not loaded]]></failure>
    </testcase>
    <testcase name="expect: net.ipv4.neigh.default.gc_thresh1" classname="arpdoctor.sysctl.expect">
      <system-out><![CDATA[OK: net.ipv4.neigh.default.gc_thresh1 = 0 (/proc/sys)
as --expect wants]]></system-out>
    </testcase>
    <testcase name="policy: net.ipv6.conf.all.ndisc_notify" classname="arpdoctor.sysctl.policy">
      <failure message="no such setting: net.ipv6.conf.all.ndisc_notify is not in /proc/sys here: there is no /proc/sys/net/ipv6: IPv6 is off on this machine" type="FAIL"><![CDATA[net.ipv6.conf.all.ndisc_notify = - (-)
no such setting: net.ipv6.conf.all.ndisc_notify is not in /proc/sys here: there is no /proc/sys/net/ipv6: IPv6 is off on this machine]]></failure>
    </testcase>
  </testsuite>
</testsuites>
`
	if diff := cmp.Diff(wantJUnit, got); diff != "" {
		t.Errorf("junit (-want +got):\n%s", diff)
	}
	if code != ExitProblems {
		t.Errorf("junit: exit %d, want %d", code, ExitProblems)
	}
}
