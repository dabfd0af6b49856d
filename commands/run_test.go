package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
)

// The run functions of neigh, flush and watch, without root: a fake
// table, exact output.

func neighTable() *fakeNeigh { return &fakeNeigh{entries: fixedEntries(), tables: fixedTables} }

func TestNeighRun(t *testing.T) {
	tests := []struct {
		name string
		tty  bool
		args []string
	}{
		{"neigh-terminal", true, nil},
		{"neigh-pipe", false, nil},
		{"neigh-wide", true, []string{"-o", "wide"}},
		{"neigh-json", false, []string{"-o", "json"}},
		{"neigh-filtered", true, []string{"-4", "--state", "stale,failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := neighTable()
			code, out, errOut := runWith(t, fakeSeams(f, nil), tt.tty, append([]string{"--netns", "blue", "--color", "never", "neigh"}, tt.args...)...)
			if code != ExitOK || errOut != "" || !f.closed || f.netns != "blue" {
				t.Errorf("exit %d, stderr %q, closed %v, netns %q", code, errOut, f.closed, f.netns)
			}
			golden(t, tt.name, out)
		})
	}
	code, _, errOut := runWith(t, fakeSeams(neighTable(), nil), false, "--netns", "blue", "neigh", "-i", "eth9")
	if want := "arpdoctor: interface \"eth9\" not found in network namespace blue\n"; code != ExitTrouble || errOut != want {
		t.Errorf("unknown interface: exit %d, stderr %q", code, errOut)
	}
}

func TestFlushRun(t *testing.T) {
	stale := fixedEntries()[1]
	perm := fixedEntries()[0]
	perm.State = neigh.Permanent
	res := neigh.FlushResult{Deleted: []neigh.Entry{stale}, Kept: []neigh.Kept{{Entry: perm, Reason: neigh.KeptPermanent}},
		Gone: []neigh.Entry{}}
	f := &fakeNeigh{flush: res}
	code, out, errOut := runWith(t, fakeSeams(f, nil), false, "flush", "-i", "eth0", "-v")
	// In a pipe, stdout holds the rows and stderr the summary.
	if code != ExitOK || errOut != "deleted 1, kept 1 (1 PERMANENT), already gone 0\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	golden(t, "flush-verbose", out)
	if f.flushFilter == nil || f.flushFilter.Interface != "eth0" || f.flushFilter.States != neigh.AllStates || f.flushOpts.OnlyWrong {
		t.Errorf("flush asked with %+v %+v", f.flushFilter, f.flushOpts)
	}

	// --only-wrong is a selector of its own; a dry run says the probes
	// are real.
	f = &fakeNeigh{flush: res}
	code, out, errOut = runWith(t, fakeSeams(f, nil), false, "flush", "--only-wrong", "--dry-run")
	if code != ExitOK || !f.flushOpts.OnlyWrong || !f.flushOpts.DryRun {
		t.Errorf("--only-wrong --dry-run: exit %d, options %+v", code, f.flushOpts)
	}
	if want := "dry run: nothing will be deleted, but the probes are real: the kernel may take a new MAC from their answers and so correct a stale entry itself\n" +
		"dry run: would delete 1, keep 1 (1 PERMANENT), already gone 0\n"; errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	golden(t, "flush-dry-run", out)

	f = &fakeNeigh{flush: res}
	_, out, _ = runWith(t, fakeSeams(f, nil), false, "flush", "--all", "-o", "json")
	golden(t, "flush-json", out)

	f = &fakeNeigh{flushErr: &neigh.PrivilegeError{Op: "deleting the entry for 192.0.2.50", Cap: neigh.CapNetAdmin}}
	code, _, errOut = runWith(t, fakeSeams(f, nil), false, "flush", "--all")
	if want := "arpdoctor: deleting the entry for 192.0.2.50 needs CAP_NET_ADMIN: run as root, or give the binary the capability: sudo setcap cap_net_admin+ep $(command -v arpdoctor)\n"; code != ExitTrouble || errOut != want {
		t.Errorf("no privilege: exit %d, stderr %q", code, errOut)
	}
}

func TestWatchRun(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	e := fixedEntries()[1]
	f := &fakeNeigh{events: [][]neigh.Event{
		{{Time: at, Kind: neigh.EventPresent, Entry: e}},
		{{Time: at.Add(time.Second), Kind: neigh.EventMACChanged, Entry: e, OldMAC: "02:00:00:00:50:b2", OldState: neigh.Reachable, HasOld: true}},
	}}
	code, out, errOut := runWith(t, fakeSeams(f, nil), false, "watch", "--duration", "50ms")
	if code != ExitProblems || errOut != "" {
		t.Errorf("a mac_changed event: exit %d (want 1), stderr %q", code, errOut)
	}
	golden(t, "watch-json", out)

	f = &fakeNeigh{events: [][]neigh.Event{{{Time: at, Kind: neigh.EventPresent, Entry: e}}}}
	if code, _, _ := runWith(t, fakeSeams(f, nil), false, "watch", "--duration", "50ms", "-o", "json"); code != ExitOK {
		t.Errorf("nothing wrong: exit %d", code)
	}
}

// Every class of error maps to its exit code, and only that one.
func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, ExitOK},
		{"problems", ErrProblems, ExitProblems},
		{"problems, wrapped", fmt.Errorf("watching: %w", ErrProblems), ExitProblems},
		{"usage", flagErrorf("bad"), ExitTrouble},
		{"privilege", &neigh.PrivilegeError{Op: "probing", Cap: neigh.CapNetRaw}, ExitTrouble},
		{"interface", &neigh.InterfaceError{Name: "eth9"}, ExitTrouble},
		{"incomplete report", errIncomplete, ExitTrouble},
		{"anything else", errors.New("boom"), ExitTrouble},
		{"cancelled", context.Canceled, ExitTrouble},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("%s: exit code %d, want %d", tt.name, got, tt.want)
		}
	}
	if ExitOK != 0 || ExitProblems != 1 || ExitTrouble != 2 {
		t.Errorf("exit codes %d %d %d, want 0 1 2", ExitOK, ExitProblems, ExitTrouble)
	}
	// Through Main: a report with problems prints nothing more; trouble
	// prints one line.
	for _, tt := range []struct {
		args  []string
		code  int
		lines int
	}{
		{[]string{"doctor", "--root", stockRoot}, ExitProblems, 0},
		{[]string{"doctor", "--bogus"}, ExitTrouble, 1},
		{[]string{"neigh"}, ExitOK, 0},
	} {
		code, _, errOut := runWith(t, fakeSeams(incidentTable(), nil), false, tt.args...)
		if code != tt.code || strings.Count(errOut, "\n") != tt.lines {
			t.Errorf("%v: exit %d, stderr %q; want %d and %d lines", tt.args, code, errOut, tt.code, tt.lines)
		}
	}
}

// -o table asks for the full-screen view: in a pipe that is a mistake to
// say, not to turn silently into JSON lines.
func TestWatchTableInPipe(t *testing.T) {
	code, out, errOut := runWith(t, fakeSeams(&fakeNeigh{}, nil), false, "watch", "-o", "table", "--duration", "10ms")
	if code != ExitTrouble || out != "" || !strings.Contains(errOut, "-o table is the full-screen view, for a terminal") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// After the full-screen view, the problem events stay on the terminal,
// worded as the exporter words them, with the commands to run, each once;
// sudo on those this process could not run.
func TestWatchRecall(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 0, time.Local)
	e := fixedEntries()[1]
	evs := []neigh.Event{
		{Time: at, Kind: neigh.EventMACChanged, Entry: e, OldMAC: "02:00:00:00:50:b2"},
		{Time: at.Add(time.Second), Kind: neigh.EventFlipFlop, Entry: e, OldMAC: "02:00:00:00:50:b2"},
	}
	var b strings.Builder
	o := &watchOptions{globalOptions: &globalOptions{NetNS: "blue"}}
	o.recall(&b, evs)
	want := "watch saw 2 problem events:\n" +
		"  12:00:00 mac_changed 192.0.2.50: 02:00:00:00:50:b2 -> 02:00:00:00:50:a1 on eth0: the IP now belongs to another host (a reused IP?)\n" +
		"    next: arpdoctor --netns blue verify --ip 192.0.2.50 -i eth0\n" +
		"    next: arpdoctor --netns blue sysctl check\n" +
		"  12:00:01 flip_flop 192.0.2.50: 02:00:00:00:50:b2 -> 02:00:00:00:50:a1 on eth0, back to the MAC it had before the last change: two hosts claim this IP\n"
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	o = &watchOptions{globalOptions: &globalOptions{seams: seams{readPrivileges: func() privileges { return privileges{} }}}}
	o.recall(&b, evs[:1])
	want = "watch saw 1 problem event:\n" +
		"  12:00:00 mac_changed 192.0.2.50: 02:00:00:00:50:b2 -> 02:00:00:00:50:a1 on eth0: the IP now belongs to another host (a reused IP?)\n" +
		"    next: sudo arpdoctor verify --ip 192.0.2.50 -i eth0\n" +
		"    next: arpdoctor sysctl check\n"
	if b.String() != want {
		t.Errorf("unprivileged: got:\n%s\nwant:\n%s", b.String(), want)
	}
}
