package neigh

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// describe writes events compactly: kind ip mac(old) state(old).
func describe(evs []Event) []string {
	var out []string
	for _, ev := range evs {
		s := fmt.Sprintf("%s %s %s", ev.Kind, ev.Entry.IP, ev.Entry.MAC)
		if ev.OldMAC != "" {
			s += "(" + ev.OldMAC + ")"
		}
		s += " " + ev.Entry.State.String()
		if ev.HasOld {
			s += "(" + ev.OldState.String() + ")"
		}
		out = append(out, s)
	}
	return out
}

func testWatcher(f Filter, conn *fakeConn) *watcher {
	c := testClient(conn)
	return &watcher{c: c, o: WatchOptions{Filter: f, FlipWindow: time.Minute}, names: map[int]string{3: "eth0"},
		view: map[entryKey]Entry{}, hist: map[entryKey]*macHistory{}}
}

func ent(ip, mac string, s State) Entry {
	return Entry{IP: netip.MustParseAddr(ip), MAC: mac, State: s, IfIndex: 3, Interface: "eth0", Family: Inet}
}

// probed marks an entry as the kernel reports one whose probes went
// unanswered.
func probed(e Entry) Entry {
	e.Probes = 3
	return e
}

func TestWatcherEvents(t *testing.T) {
	w := testWatcher(Filter{}, &fakeConn{})
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	const a, b = "02:00:00:00:50:a1", "02:00:00:00:50:b2"
	steps := []struct {
		e       Entry
		deleted bool
		after   time.Duration
	}{
		{e: ent("192.0.2.50", "", Incomplete)},                        // resolving: new
		{e: ent("192.0.2.50", a, Reachable)},                          // answered: state
		{e: ent("192.0.2.50", a, Reachable)},                          // ages only: nothing
		{e: ent("192.0.2.50", a, Stale)},                              // state
		{e: ent("192.0.2.50", b, Reachable)},                          // another MAC: mac_changed
		{e: ent("192.0.2.50", a, Reachable), after: 30 * time.Second}, // back within the window: flip_flop
		{e: ent("192.0.2.50", b, Reachable), after: 2 * time.Minute},  // back again, too late: mac_changed
		{e: probed(ent("192.0.2.50", "", Failed))},                    // failed, after probing
		{e: ent("192.0.2.50", "", Failed), deleted: true},
		{e: ent("192.0.2.50", a, Stale), after: 2 * time.Minute}, // back after deletion, outside the window: mac_changed
		{e: ent("192.0.2.51", "", None), deleted: true},          // unknown entry deleted: nothing
	}
	var got []Event
	now := t0
	for _, s := range steps {
		now = now.Add(s.after)
		got = w.update(got, s.e, s.deleted, now)
	}
	want := []string{
		"new 192.0.2.50  INCOMPLETE",
		"state 192.0.2.50 " + a + " REACHABLE(INCOMPLETE)",
		"state 192.0.2.50 " + a + " STALE(REACHABLE)",
		"mac_changed 192.0.2.50 " + b + "(" + a + ") REACHABLE(STALE)",
		"flip_flop 192.0.2.50 " + a + "(" + b + ") REACHABLE(REACHABLE)",
		"mac_changed 192.0.2.50 " + b + "(" + a + ") REACHABLE(REACHABLE)",
		"failed 192.0.2.50  FAILED(REACHABLE)",
		"deleted 192.0.2.50  FAILED(FAILED)",
		"mac_changed 192.0.2.50 " + a + "(" + b + ") STALE",
	}
	if diff := cmp.Diff(want, describe(got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// Deleting an entry, the kernel marks it FAILED without probing it first:
// a state change, not a neighbor that failed to answer.
func TestWatcherAdminDelete(t *testing.T) {
	w := testWatcher(Filter{}, &fakeConn{})
	now := time.Now()
	var got []Event
	got = w.update(got, ent("192.0.2.61", "02:00:00:00:00:61", Stale), false, now)
	got = w.update(got, ent("192.0.2.61", "", Failed), false, now)
	got = w.update(got, ent("192.0.2.61", "", Failed), true, now)
	want := []string{"new 192.0.2.61 02:00:00:00:00:61 STALE", "state 192.0.2.61  FAILED(STALE)", "deleted 192.0.2.61  FAILED(FAILED)"}
	if diff := cmp.Diff(want, describe(got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestWatcherFilter(t *testing.T) {
	failed, _ := ParseStates("failed")
	w := testWatcher(Filter{States: failed}, &fakeConn{})
	now := time.Now()
	var got []Event
	got = w.update(got, ent("192.0.2.60", "02:00:00:00:00:60", Reachable), false, now) // not shown
	got = w.update(got, probed(ent("192.0.2.60", "", Failed)), false, now)             // becomes FAILED: shown
	got = w.update(got, ent("192.0.2.60", "02:00:00:00:00:60", Stale), false, now)     // leaves FAILED: shown
	got = w.update(got, ent("192.0.2.60", "02:00:00:00:00:60", Reachable), false, now) // not shown
	want := []string{
		"failed 192.0.2.60  FAILED(REACHABLE)",
		"state 192.0.2.60 02:00:00:00:00:60 STALE(FAILED)",
	}
	if diff := cmp.Diff(want, describe(got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// After an overrun the view is rebuilt from a dump; what changed while
// events were lost comes out as events.
func TestWatcherResync(t *testing.T) {
	conn := &fakeConn{linkMsgs: [][]byte{linkMsg(3, "eth0")}}
	w := testWatcher(Filter{}, conn)
	w.o.now = func() time.Time { return time.Unix(0, 0) }
	conn.neighMsgs = [][]byte{
		neighMsg{family: unix.AF_INET, ifindex: 3, state: Stale, ip: "192.0.2.1", mac: mac1}.bytes(),
		neighMsg{family: unix.AF_INET, ifindex: 3, state: Stale, ip: "192.0.2.2", mac: mac1}.bytes(),
		neighMsg{family: unix.AF_INET, ifindex: 3, state: NoARP, ip: "192.0.2.3", mac: mac1}.bytes(),
	}
	start, err := w.sync(false)
	if err != nil {
		t.Fatal(err)
	}
	// NOARP is hidden by the default filter, but watched all the same.
	if diff := cmp.Diff([]string{"present 192.0.2.1 02:00:00:00:00:20 STALE", "present 192.0.2.2 02:00:00:00:00:20 STALE"}, describe(start)); diff != "" {
		t.Errorf("start (-want +got):\n%s", diff)
	}
	conn.neighMsgs = [][]byte{
		neighMsg{family: unix.AF_INET, ifindex: 3, state: Reachable, ip: "192.0.2.1", mac: mac1}.bytes(),
		neighMsg{family: unix.AF_INET, ifindex: 3, state: Stale, ip: "192.0.2.4", mac: mac1}.bytes(),
		neighMsg{family: unix.AF_INET, ifindex: 3, state: NoARP, ip: "192.0.2.3", mac: mac1}.bytes(),
	}
	got, err := w.sync(true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"resync invalid IP  NONE",
		"state 192.0.2.1 02:00:00:00:00:20 REACHABLE(STALE)",
		"new 192.0.2.4 02:00:00:00:00:20 STALE",
		"deleted 192.0.2.2 02:00:00:00:00:20 STALE(STALE)",
	}
	if diff := cmp.Diff(want, describe(got)); diff != "" {
		t.Errorf("resync (-want +got):\n%s", diff)
	}
	if len(w.view) != 3 {
		t.Errorf("view holds %d entries, want 3", len(w.view))
	}
}

func TestWatcherUnknownInterface(t *testing.T) {
	conn := &fakeConn{linkMsgs: [][]byte{linkMsg(3, "eth0")}}
	w := testWatcher(Filter{Interface: "eth5"}, conn)
	if _, err := w.sync(false); err == nil || !strings.Contains(err.Error(), `interface "eth5" not found`) {
		t.Errorf("err = %v", err)
	}
}

func TestEventJSON(t *testing.T) {
	ev := Event{Time: time.Date(2026, 11, 26, 10, 0, 0, 5e8, time.UTC), Kind: EventMACChanged,
		Entry: ent("192.0.2.50", "02:00:00:00:50:b2", Reachable), OldMAC: "02:00:00:00:50:a1", OldState: Stale, HasOld: true}
	want := `{"time":"2026-11-26T10:00:00.5Z","event":"mac_changed","ip":"192.0.2.50","interface":"eth0",` +
		`"mac":"02:00:00:00:50:b2","old_mac":"02:00:00:00:50:a1","state":"REACHABLE","old_state":"STALE"}`
	if got := string(ev.AppendJSON(nil)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	rs := Event{Time: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC), Kind: EventResync, Message: "lost"}
	want = `{"time":"2026-11-26T10:00:00Z","event":"resync","ip":"","interface":"","mac":"","old_mac":"","state":"","old_state":"","message":"lost"}`
	if got := string(rs.AppendJSON(nil)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// Watching changes only, the start builds the view and reports nothing;
// a dump interrupted midway starts the view again, so that the table as
// it was at the start is all it remembers; the first change is reported
// against it.
func TestWatcherChangesOnlyStart(t *testing.T) {
	conn := &fakeConn{linkMsgs: [][]byte{linkMsg(3, "eth0")}, interrupted: 1}
	w := testWatcher(Filter{}, conn)
	w.o.ChangesOnly = true
	w.o.now = func() time.Time { return time.Unix(0, 0) }
	conn.neighMsgs = [][]byte{
		neighMsg{family: unix.AF_INET, ifindex: 3, state: Stale, ip: "192.0.2.1", mac: mac1}.bytes(),
		neighMsg{family: unix.AF_INET, ifindex: 3, state: Stale, ip: "192.0.2.2", mac: mac1}.bytes(),
	}
	start, err := w.sync(false)
	if err != nil || start != nil {
		t.Fatalf("start: %v, %v; want no events", describe(start), err)
	}
	if len(w.view) != 2 || len(w.hist) != 2 || len(conn.families) != 2 {
		t.Errorf("view %d, history %d after %d dumps; want 2, 2 after 2", len(w.view), len(w.hist), len(conn.families))
	}
	got := w.update(nil, ent("192.0.2.2", "02:00:00:00:00:99", Reachable), false, time.Unix(1, 0))
	if diff := cmp.Diff([]string{"mac_changed 192.0.2.2 02:00:00:00:00:99(02:00:00:00:00:20) REACHABLE(STALE)"}, describe(got)); diff != "" {
		t.Errorf("change (-want +got):\n%s", diff)
	}
}
