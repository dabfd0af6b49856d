package commands

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
)

func watchEvents(t0 time.Time) []neigh.Event {
	e := func(ip, mac string, s neigh.State, confirmed time.Duration) neigh.Entry {
		a := netip.MustParseAddr(ip)
		fam := neigh.Inet
		if a.Is6() {
			fam = neigh.Inet6
		}
		return neigh.Entry{IP: a, Family: fam, MAC: mac, State: s, Interface: "eth0", IfIndex: 2,
			ConfirmedAgo: neigh.Age(confirmed), UsedAgo: neigh.Age(time.Second), UpdatedAgo: neigh.Age(time.Second)}
	}
	return []neigh.Event{
		{Time: t0, Kind: neigh.EventPresent, Entry: e("192.0.2.10", "02:00:00:00:00:10", neigh.Reachable, 2*time.Second)},
		{Time: t0, Kind: neigh.EventPresent, Entry: e("192.0.2.50", "02:00:00:00:50:a1", neigh.Stale, 2*time.Hour)},
		{Time: t0, Kind: neigh.EventPresent, Entry: e("192.0.2.77", "02:00:00:00:00:77", neigh.Stale, time.Minute)},
		{Time: t0.Add(5 * time.Second), Kind: neigh.EventFailed, Entry: e("192.0.2.77", "", neigh.Failed, time.Minute),
			OldState: neigh.Stale, HasOld: true},
		{Time: t0.Add(10 * time.Second), Kind: neigh.EventMACChanged, Entry: e("192.0.2.50", "02:00:00:00:50:b2", neigh.Reachable, 0),
			OldMAC: "02:00:00:00:50:a1", OldState: neigh.Stale, HasOld: true},
		{Time: t0.Add(11 * time.Second), Kind: neigh.EventNew, Entry: e("2001:db8::9", "02:00:00:00:00:09", neigh.Stale, 0)},
		{Time: t0.Add(11 * time.Second), Kind: neigh.EventDeleted, Entry: e("192.0.2.10", "02:00:00:00:00:10", neigh.Reachable, 0),
			OldState: neigh.Reachable, HasOld: true},
	}
}

func TestWatchScreen(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s := newWatchScreen(palette{}, "lab", neigh.Filter{})
	s.tables = fixedTables[:1]
	s.apply(watchEvents(t0))
	got := s.render(t0.Add(12*time.Second), 80, 16)
	want := []string{
		"arpdoctor watch · netns lab · 10:00:12",
		"3 entries: 1 REACHABLE, 1 STALE, 1 FAILED; gc_thresh1/2/3 inet 128/512/1024",
		"",
		"  IP           MAC                INTERFACE  STATE      CONFIRMED  USED  UPDATED",
		"* 192.0.2.50   02:00:00:00:50:b2  eth0       REACHABLE  2s         3s    3s",
		"  192.0.2.77                      eth0       FAILED     67s        8s    8s",
		"* 2001:db8::9  02:00:00:00:00:09  eth0       STALE      1s         2s    2s",
		"",
		"EVENTS",
		"10:00:11  deleted      192.0.2.10  from eth0",
		"10:00:11  new          2001:db8::9  02:00:00:00:00:09 STALE on eth0",
		"10:00:10  MAC CHANGED  192.0.2.50  02:00:00:00:50:a1 -> 02:00:00:00:50:b2 on eth",
		"10:00:05  failed       192.0.2.77  FAILED on eth0: nobody answers",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("screen (-want +got):\n%s", diff)
	}

	// A small screen keeps a few rows of the table before any event, and
	// nothing is wider or taller than the screen.
	small := s.render(t0.Add(12*time.Second), 40, 6)
	want = []string{
		"arpdoctor watch · netns lab · 10:00:12",
		"3 entries: 1 REACHABLE, 1 STALE, 1 FAILE",
		"",
		"  IP           MAC                INTERF",
		"* 192.0.2.50   02:00:00:00:50:b2  eth0",
		"... 2 more entries (narrow with -i, --ip",
	}
	if diff := cmp.Diff(want, small); diff != "" {
		t.Errorf("small screen (-want +got):\n%s", diff)
	}

	// A minute later the marks are gone, ages have grown; a filter narrows
	// the table.
	s.filter = neigh.Filter{Family: neigh.Inet}
	later := s.render(t0.Add(time.Minute), 100, 30)
	want = []string{
		"  IP          MAC                INTERFACE  STATE      CONFIRMED  USED  UPDATED",
		"  192.0.2.50  02:00:00:00:50:b2  eth0       REACHABLE  50s        51s   51s",
		"  192.0.2.77                     eth0       FAILED     115s       56s   56s",
		"",
		"EVENTS",
	}
	if diff := cmp.Diff(want, later[3:8]); diff != "" {
		t.Errorf("later (-want +got):\n%s", diff)
	}
}

func TestWatchScreenColors(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s := newWatchScreen(palette{on: true}, "", neigh.Filter{})
	s.apply(watchEvents(t0))
	got := strings.Join(s.render(t0.Add(12*time.Second), 120, 20), "\n")
	for _, want := range []string{
		"\x1b[7m* 192.0.2.50   02:00:00:00:50:b2  eth0       \x1b[32mREACHABLE\x1b[0m", // changed: reverse video
		"  192.0.2.77                      eth0       \x1b[31mFAILED\x1b[0m",
		"\x1b[31;1m10:00:10  MAC CHANGED  192.0.2.50",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("screen lacks %q:\n%s", want, got)
		}
	}
}

// A fake terminal for the full-screen path.
type fakeTerm struct{ restored bool }

func (f *fakeTerm) size() (int, int, error) { return 100, 20, nil }
func (f *fakeTerm) quiet() (func(), error)  { return func() { f.restored = true }, nil }

func TestWatchFlags(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--flip-window", "0s"}, "--flip-window 0s: want 1ms to 24h0m0s"},
		{[]string{"--duration", "-1s"}, "--duration must not be negative"},
		{[]string{"-4", "-6"}, "-4 and -6 exclude each other"},
		{[]string{"--state", "gone"}, `--state: unknown neighbor state "gone"`},
	} {
		cmd := newWatchCmd(&globalOptions{}, func(context.Context, *watchOptions) error { return nil })
		cmd.SetArgs(append([]string{}, tt.args...))
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		if err := cmd.Execute(); err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.wantErr)
		}
	}
	var got *watchOptions
	cmd := newWatchCmd(&globalOptions{}, func(_ context.Context, o *watchOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"-i", "eth0", "--changes-only", "--flip-window", "1m", "--duration", "10s"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.filter.Interface != "eth0" || !got.ChangesOnly || got.FlipWindow != time.Minute || got.Duration != 10*time.Second {
		t.Errorf("options: %+v", got)
	}
}
