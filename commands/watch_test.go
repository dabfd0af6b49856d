package commands

import (
	"bufio"
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
	"github.com/mattn/go-runewidth"
	"golang.org/x/sys/unix"
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
		"arpdoctor watch · netns lab · 10:00:12 · q quits",
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
		"10:00:10  MAC CHANGED  192.0.2.50  02:00:00:00:50:a1 -> 02:00:00:00:50:b2 on et…",
		"10:00:05  failed       192.0.2.77  FAILED on eth0: nobody answers",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("screen (-want +got):\n%s", diff)
	}

	// A small screen keeps a few rows of the table before any event, and
	// nothing is wider or taller than the screen: the ages and the
	// interface are left out, the state cut with a mark.
	small := s.render(t0.Add(12*time.Second), 40, 6)
	want = []string{
		"arpdoctor watch · netns lab · 10:00:12 …",
		"3 entries: 1 REACHABLE, 1 STALE, 1 FAIL…",
		"",
		"  IP           MAC                STATE",
		"* 192.0.2.50   02:00:00:00:50:b2  REACH…",
		"... 2 more entries (narrow with -i, --i…",
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

// Narrowing the screen leaves out UPDATED, USED, CONFIRMED, then
// INTERFACE, and only then cuts the state, the MAC and the IP, each with a
// mark; event lines are cut with a mark too. Widths are display cells.
func TestWatchScreenNarrow(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s := newWatchScreen(palette{}, "", neigh.Filter{})
	s.apply(watchEvents(t0)[:3])
	now := t0.Add(2 * time.Second)
	for _, tt := range []struct {
		width int
		head  string
		row   string
	}{
		{79, "  IP          MAC                INTERFACE  STATE      CONFIRMED  USED  UPDATED", "  192.0.2.10  02:00:00:00:00:10  eth0       REACHABLE  4s         3s    3s"},
		{72, "  IP          MAC                INTERFACE  STATE      CONFIRMED  USED", "  192.0.2.10  02:00:00:00:00:10  eth0       REACHABLE  4s         3s"},
		{60, "  IP          MAC                INTERFACE  STATE", "  192.0.2.10  02:00:00:00:00:10  eth0       REACHABLE"},
		{45, "  IP          MAC                STATE", "  192.0.2.10  02:00:00:00:00:10  REACHABLE"},
		{38, "  IP          MAC                STATE", "  192.0.2.10  02:00:00:00:00:10  REAC…"},
		{33, "  IP          MAC           STATE", "  192.0.2.10  02:00:00:00…  REAC…"},
		{26, "  IP        MAC       STA…", "  192.0.2…  02:00:0…  REA…"},
		{12, "  IP       …", "  192.0.2… …"},
	} {
		lines := s.render(now, tt.width, 8)
		if diff := cmp.Diff([]string{tt.head, tt.row}, lines[3:5]); diff != "" {
			t.Errorf("%d columns (-want +got):\n%s", tt.width, diff)
		}
		for _, l := range lines {
			if w := runewidth.StringWidth(l); w > tt.width {
				t.Errorf("%d columns: line of %d: %q", tt.width, w, l)
			}
		}
	}
	// A wide character counts for two cells.
	if got := fit("arpdoctor · 東京", 15); got != "arpdoctor · 東…" {
		t.Errorf("fit = %q", got)
	}
}

// The re-read of the table updates rows in place: a STALE entry the
// kernel moved to DELAY without an event shows DELAY and its ages from
// the dump, with no event and no mark; an entry gone from the table
// leaves; an entry the view has no event for is not added.
func TestWatchScreenReconcile(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	s := newWatchScreen(palette{}, "", neigh.Filter{})
	evs := watchEvents(t0)[:3]
	s.apply(evs)
	delayed := evs[1].Entry
	delayed.State, delayed.UsedAgo = neigh.Delay, 0
	unseen := evs[0].Entry
	unseen.IP = netip.MustParseAddr("192.0.2.99")
	s.reconcile([]neigh.Entry{delayed, unseen}, t0.Add(time.Second))
	got := s.render(t0.Add(2*time.Second), 80, 10)
	want := []string{
		"1 entry: 1 DELAY",
		"",
		"  IP          MAC                INTERFACE  STATE  CONFIRMED  USED  UPDATED",
		"  192.0.2.50  02:00:00:00:50:a1  eth0       DELAY  2h         1s    2s",
	}
	if diff := cmp.Diff(want, got[1:]); diff != "" {
		t.Errorf("after a re-read (-want +got):\n%s", diff)
	}
	if len(s.events) != 0 {
		t.Errorf("a re-read made events: %v", s.events)
	}
}

// Only q, Q, Esc and Ctrl-C quit; the ESC that starts an arrow key's
// sequence does not.
func TestKeyActions(t *testing.T) {
	for _, tt := range []struct {
		typed string
		want  keyAction
	}{
		{"q", keyQuit}, {"Q", keyQuit}, {"\x1b", keyQuit}, {"\x03", keyQuit},
		{"x", keyNone}, {"\x1b[A", keyNone}, {"\x1bOB", keyNone}, {"\x1b[1;5C", keyNone}, {"\x1bq", keyNone},
		{"\x1b[Aq", keyQuit}, {"\x1b[D\x1b", keyQuit}, {"\x1b[", keyNone},
	} {
		if got := keyActions([]byte(tt.typed)); got != tt.want {
			t.Errorf("keyActions(%q) = %v, want %v", tt.typed, got, tt.want)
		}
	}
}

// readKeys hands over what is typed, an escape sequence in one piece
// with its ESC, and stops when told.
func TestReadKeys(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	typed, stop, err := readKeys(p[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"x", "\x1b[A", "\x1b"} {
		unix.Write(p[1], []byte(k))
		if got := string(<-typed); got != k {
			t.Errorf("typed %q, read %q", k, got)
		}
	}
	stop()
	stop()
}

// Each quit key ends the full-screen view with exit 0 and gives the
// terminal back.
func TestWatchQuitKeys(t *testing.T) {
	for _, k := range []string{"q", "Q", "\x1b", "\x03"} {
		f := &fakeNeigh{events: [][]neigh.Event{watchEvents(time.Now())[:1]}}
		term := &fakeTerm{typed: make(chan []byte, 1)}
		term.typed <- []byte(k)
		ios, _, out, errOut := TestStreams()
		ios.OutTTY, ios.Term = true, term
		code := mainWith(context.Background(), ios, fakeSeams(f, nil), []string{"--color", "never", "watch"})
		if code != 0 || !term.restored || !strings.HasSuffix(out.String(), leaveFullScreen) {
			t.Errorf("%q: exit %d, restored %v, stderr %q, ends %q", k, code, term.restored, errOut.String(), tail(out.String()))
		}
	}
}

// A redraw writes only the lines that changed, and all of them after a
// resize.
func TestFrameUpdate(t *testing.T) {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	var f frame
	flush := func() string { w.Flush(); s := b.String(); b.Reset(); return s }
	if !f.update(w, []string{"a", "b", "c"}, 10, 5) {
		t.Error("first frame: nothing written")
	}
	if got, want := flush(), cursorHome+clearScreen+"\x1b[1;1H\x1b[2Ka\x1b[2;1H\x1b[2Kb\x1b[3;1H\x1b[2Kc"; got != want {
		t.Errorf("first frame %q, want %q", got, want)
	}
	if f.update(w, []string{"a", "b", "c"}, 10, 5) {
		t.Errorf("same frame: wrote %q", flush())
	}
	f.update(w, []string{"a", "B"}, 10, 5)
	if got, want := flush(), "\x1b[2;1H\x1b[2KB\x1b[3;1H"+clearBelow; got != want {
		t.Errorf("changed frame %q, want %q", got, want)
	}
	f.update(w, []string{"a", "B"}, 9, 5)
	if got := flush(); !strings.HasPrefix(got, cursorHome+clearScreen) || !strings.Contains(got, "a") {
		t.Errorf("resized frame %q", got)
	}
}

func tail(s string) string { return s[max(0, len(s)-40):] }

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

// A fake terminal for the full-screen path: typed is what the keyboard
// sends, nil for none.
type fakeTerm struct {
	typed    chan []byte
	restored bool
}

func (f *fakeTerm) size() (int, int, error) { return 100, 20, nil }
func (f *fakeTerm) keys() (<-chan []byte, func(), error) {
	return f.typed, func() { f.restored = true }, nil
}

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
