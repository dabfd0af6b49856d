package commands

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/sysctl"
	"github.com/arpdoctor/arpdoctor/sysctl/sysctltest"
)

// trees holds the fake roots: /proc/sys trees and config trees.
const trees = "../sysctl/testdata/"

// sysctlKernel answers as netlink would, from fixed tables and entries.
type sysctlKernel struct {
	tables  []neigh.Table
	entries []neigh.Entry
}

func (k sysctlKernel) Tables(neigh.Family) ([]neigh.Table, error) { return k.tables, nil }
func (k sysctlKernel) Census() ([]neigh.Group, error)             { return neigh.CensusOf(k.entries), nil }

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
	ios, _, stdout, stderr := TestStreams()
	ios.OutTTY = tty
	// In a pipe the table has its header too; these tests look at the
	// rows, and the terminal tests at the header.
	g := &globalOptions{io: ios, Output: format, color: color, NoHeaders: !tty}
	fake := func(_, root string) (sysctl.Running, func() error, error) {
		return sysctl.Running{Root: root, Kernel: k}, func() error { return nil }, nil
	}
	var err error
	switch sub {
	case "check":
		cmd := newSysctlCheckCmd(g, func(ctx context.Context, o *sysctlCheckOptions) error {
			o.openRunning = fake
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
	// In a pipe the summary and the notes go to stderr: what a reader
	// of both sees, in order.
	return exitCode(err), stdout.String() + stderr.String()
}

const staleWhy = "below gc_thresh1 entries the garbage collector never runs, so an entry for a reused IP keeps the old MAC and replies go to a dead machine (Amazon Linux sets 0)"
const notifyWhy = "with arp_notify = 1 an interface sends a gratuitous ARP when it comes up or its MAC changes, so a new machine on a reused IP corrects its peers' caches at once"
const ndiscNotifyWhy = "with ndisc_notify = 1 an interface sends an unsolicited neighbor advertisement when it comes up or its MAC changes, so a new machine on a reused IPv6 address corrects its peers' caches at once"

func copyTree(t *testing.T, tree string) string { return sysctltest.CopyTree(t, trees+tree) }

// The library's errors state facts; the command adds what to do, in its
// own flags.
func TestSysctlHint(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&sysctl.NoProcSysError{Root: "/mnt/image"},
			"no live values: there is no /mnt/image/proc/sys/net (to check the tree's config files, add --config)"},
		{&sysctl.FileWriteError{Path: "/etc/sysctl.d/60-arpdoctor.conf", Err: &fs.PathError{Op: "open", Path: "/etc/sysctl.d", Err: syscall.EACCES}},
			"writing /etc/sysctl.d/60-arpdoctor.conf: open /etc/sysctl.d: permission denied: run as root, or use --root for an image's tree"},
		{&sysctl.FileWriteError{Path: "/etc/sysctl.d/60-arpdoctor.conf", Err: syscall.ENOSPC},
			"writing /etc/sysctl.d/60-arpdoctor.conf: no space left on device"},
		{&sysctl.LiveWriteError{Key: "net.ipv4.conf.all.arp_notify", Err: syscall.EROFS},
			"setting net.ipv4.conf.all.arp_notify live: read-only file system: needs root (CAP_NET_ADMIN) and a writable /proc/sys; run as root, or pass --no-apply"},
	}
	for _, tt := range tests {
		got := sysctlHint(tt.err, "check")
		if got.Error() != tt.want {
			t.Errorf("hint for %v:\n got %s\nwant %s", tt.err, got, tt.want)
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("%v no longer wraps the library's error", got)
		}
	}

	// End to end: a tree with no /proc/sys.
	code, _, errOut := run(t, false, "sysctl", "check", "--root", trees+"image-unset")
	if want := "arpdoctor: no live values: there is no " + trees + "image-unset/proc/sys/net (to check the tree's config files, add --config)\n"; errOut != want || code != ExitTrouble {
		t.Errorf("exit %d, stderr %q; want %d, %q", code, errOut, ExitTrouble, want)
	}
	// sysctl fix has no --config: its hint names what it has.
	code, _, errOut = run(t, false, "sysctl", "fix", "--root", trees+"image-unset", "--dry-run")
	if want := "arpdoctor: no live values: there is no " + trees + "image-unset/proc/sys/net (to write only the tree's config file, add --no-apply)\n"; errOut != want || code != ExitTrouble {
		t.Errorf("fix: exit %d, stderr %q; want %d, %q", code, errOut, ExitTrouble, want)
	}
}

// A mistyped subcommand of the group is an error with a suggestion, as at
// the top level, not help and success.
func TestSysctlUnknownSubcommand(t *testing.T) {
	code, out, errOut := run(t, false, "sysctl", "chek")
	want := `arpdoctor: unknown command "chek" for "arpdoctor sysctl"; did you mean "check"? (see 'arpdoctor sysctl --help')` + "\n"
	if code != ExitTrouble || out != "" || errOut != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want %d, nothing, %q", code, out, errOut, ExitTrouble, want)
	}
	if code, out, _ := run(t, false, "sysctl"); code != ExitOK || !strings.Contains(out, "Available Commands:") {
		t.Errorf("sysctl alone: exit %d, %q; want help", code, out)
	}
}
