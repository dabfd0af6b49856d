package commands

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// An image checked in CI: its files never set gc_thresh1, so it boots with
// 128 and fails, in a report a CI system can show; with --strict the
// arp_notify warning fails too.
func TestSysctlCheckImageJUnit(t *testing.T) {
	code, got, errOut := run(t, false, "sysctl", "check", "--config", "--root", trees+"image-unset", "-o", "junit")
	want := `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="arpdoctor sysctl check" tests="6" failures="2" skipped="0">
  <testsuite name="arpdoctor sysctl check --profile cloud (config)" tests="6" failures="2" skipped="0">
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
    <testcase name="ndisc-notify: net.ipv6.conf.all.ndisc_notify" classname="arpdoctor.sysctl.ndisc-notify">
      <system-out><![CDATA[WARN: net.ipv6.conf.all.ndisc_notify = 0 (kernel default)
want 1: with ndisc_notify = 1 an interface sends an unsolicited neighbor advertisement when it comes up or its MAC changes, so a new machine on a reused IPv6 address corrects its peers' caches at once]]></system-out>
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
<testsuites name="arpdoctor sysctl check" tests="7" failures="1" skipped="0">
  <testsuite name="arpdoctor sysctl check --profile cloud (config)" tests="7" failures="1" skipped="0">
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
    <testcase name="ndisc-notify: net.ipv6.conf.all.ndisc_notify" classname="arpdoctor.sysctl.ndisc-notify">
      <system-out><![CDATA[OK: net.ipv6.conf.all.ndisc_notify = 1 (/etc/sysctl.d/60-neigh.conf:6)
interfaces announce their MAC when they come up, correcting peers' IPv6 neighbor caches]]></system-out>
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
