package commands

import (
	"bytes"
	"context"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the output")

// run runs arpdoctor in-process against the kernel and returns exit code,
// stdout, stderr.
func run(t *testing.T, tty bool, args ...string) (int, string, string) {
	t.Helper()
	// Suggestions carry sudo by who runs them: tests compare outputs that
	// must not depend on whether the test runs as root (TestSuggestSudo
	// and TestSudoInReports give the privileges themselves).
	s := kernelSeams()
	s.readPrivileges = nil
	return runWith(t, s, tty, args...)
}

// runWith runs arpdoctor in-process with the seams given.
func runWith(t *testing.T, s seams, tty bool, args ...string) (int, string, string) {
	t.Helper()
	return runCtx(t, context.Background(), s, tty, args...)
}

// runCtx runs arpdoctor in-process with the seams and context given.
func runCtx(t *testing.T, ctx context.Context, s seams, tty bool, args ...string) (int, string, string) {
	t.Helper()
	ios, _, out, errOut := TestStreams()
	ios.OutTTY = tty
	code := mainWith(ctx, ios, s, args)
	return code, out.String(), errOut.String()
}

// golden compares got with testdata/NAME.golden, or rewrites the file
// with -update: what people read changes only where a review sees it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// fakeNeigh is a neighbor table that tests set up: what the commands get
// without a kernel. It records what was asked of it.
type fakeNeigh struct {
	netns   string
	entries []neigh.Entry
	tables  []neigh.Table
	// results are the probe results by IP; an entry without one gets no
	// answer.
	results  map[netip.Addr]neigh.ProbeResult
	probeErr error
	fixErr   error
	flush    neigh.FlushResult
	flushErr error
	// events are delivered to Watch in batches, then Watch waits for the
	// context to end.
	events     [][]neigh.Event
	defaultIf  string
	defaultErr error

	// What the command asked.
	probed      []neigh.Entry
	fixed       bool
	flushFilter *neigh.Filter
	flushOpts   neigh.FlushOptions
	closed      bool
}

func (f *fakeNeigh) Census() ([]neigh.Group, error) { return neigh.CensusOf(f.entries), nil }

func (f *fakeNeigh) List(flt neigh.Filter) ([]neigh.Entry, error) {
	if flt.Interface != "" && !slices.ContainsFunc(f.entries, func(e neigh.Entry) bool { return e.Interface == flt.Interface }) {
		return nil, &neigh.InterfaceError{Name: flt.Interface, NetNS: f.netns}
	}
	var out []neigh.Entry
	for i := range f.entries {
		if flt.Match(&f.entries[i]) {
			out = append(out, f.entries[i])
		}
	}
	return out, nil
}

func (f *fakeNeigh) Tables(fam neigh.Family) ([]neigh.Table, error) {
	var out []neigh.Table
	for _, t := range f.tables {
		if fam == "" || t.Family == fam {
			out = append(out, t)
		}
	}
	return out, nil
}

func (f *fakeNeigh) Probe(ctx context.Context, entries []neigh.Entry, _ neigh.ProbeOptions) ([]neigh.ProbeResult, error) {
	if f.probeErr != nil {
		return nil, f.probeErr
	}
	if ctx.Err() != nil {
		// Stopped after the first two: as neigh.Client.Probe says it.
		out := make([]neigh.ProbeResult, len(entries))
		for i, e := range entries {
			out[i] = f.results[e.IP]
			out[i].Entry = e
			if i >= 2 {
				out[i] = neigh.ProbeResult{Entry: e, Verdict: neigh.VerdictUnprobed, Unprobed: "interrupted before the answers were in"}
			}
		}
		return out, ctx.Err()
	}
	f.probed = entries
	out := make([]neigh.ProbeResult, len(entries))
	for i, e := range entries {
		r, ok := f.results[e.IP]
		if !ok {
			r = neigh.ProbeResult{Verdict: neigh.VerdictNoAnswer}
		}
		r.Entry = e
		if r.After == nil && r.Verdict != neigh.VerdictUnprobed && e.State != neigh.NotCached {
			after := e
			r.After = &after
		}
		out[i] = r
	}
	return out, nil
}

// Fix acts as neigh.Client.Fix decides, without a kernel.
func (f *fakeNeigh) Fix(rs []neigh.ProbeResult, includePermanent bool) error {
	if f.fixErr != nil {
		return f.fixErr
	}
	f.fixed = true
	for i := range rs {
		r := &rs[i]
		switch {
		case r.Verdict == neigh.VerdictDuplicate:
			r.Fix = neigh.FixKeptDuplicate
		case r.Corrected():
			r.Fix = neigh.FixCorrectedByKernel
		case !r.Wrong():
			r.Fix = neigh.FixNothingWrong
		case r.Entry.State == neigh.Permanent && !includePermanent:
			r.Fix = neigh.FixKeptPermanent
		case r.Verdict == neigh.VerdictMismatch:
			r.Fix = neigh.FixReplaced
			after := r.Entry
			after.MAC, after.State = r.Answered[0], neigh.Reachable
			r.After = &after
		default:
			r.Fix, r.After = neigh.FixDeleted, nil
		}
	}
	return nil
}

func (f *fakeNeigh) Flush(_ context.Context, flt neigh.Filter, o neigh.FlushOptions) (neigh.FlushResult, error) {
	f.flushFilter, f.flushOpts = &flt, o
	res := f.flush
	res.DryRun = o.DryRun
	return res, f.flushErr
}

func (f *fakeNeigh) Watch(ctx context.Context, _ neigh.WatchOptions, emit func([]neigh.Event) error) error {
	for _, evs := range f.events {
		if err := emit(evs); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return nil
}

func (f *fakeNeigh) DefaultRouteInterface() (string, error) { return f.defaultIf, f.defaultErr }

// RouteTo says every IP is on eth0's link, but 203.0.113.0/24, behind a
// gateway.
func (f *fakeNeigh) RouteTo(ip netip.Addr) (neigh.Route, error) {
	if netip.MustParsePrefix("203.0.113.0/24").Contains(ip) {
		return neigh.Route{IfIndex: 2, Gateway: netip.MustParseAddr("192.0.2.1")}, nil
	}
	return neigh.Route{IfIndex: 2}, nil
}

func (f *fakeNeigh) Interfaces() ([]neigh.Interface, error) {
	return []neigh.Interface{{Index: 1, Name: "lo"}, {Index: 2, Name: "eth0"}, {Index: 3, Name: "eth1"}}, nil
}
func (f *fakeNeigh) Do(fn func() error) error { return fn() }
func (f *fakeNeigh) Close() error             { f.closed = true; return nil }

// fakeSeams serve the fake table; a live capture reads the packets of
// pcap, when given.
func fakeSeams(f *fakeNeigh, pcap []byte) seams {
	return seams{
		openNeigh: func(netns string) (neighClient, error) {
			f.netns = netns
			return f, nil
		},
		openCapture: func(netns, ifname string, _ capture.Filter) (*liveCapture, error) {
			if pcap == nil {
				return nil, &neigh.PrivilegeError{Op: "capturing on " + ifname, Cap: neigh.CapNetRaw}
			}
			src, err := capture.NewFileSource(ifname, bytes.NewReader(pcap))
			if err != nil {
				return nil, err
			}
			return &liveCapture{Source: src, close: func() { src.Close() }}, nil
		},
	}
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// squeezed folds the blanks that align a table's columns into one, line
// by line, so a test can look for a row whatever the widths.
func squeezed(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}
