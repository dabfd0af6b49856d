package neigh

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// EventKind names what happened to an entry.
type EventKind string

// Event kinds.
const (
	// EventPresent: the entry was in the table when watching started.
	EventPresent EventKind = "present"
	// EventNew: the kernel created the entry.
	EventNew EventKind = "new"
	// EventState: the entry changed state, MAC unchanged.
	EventState EventKind = "state"
	// EventMACChanged: the IP now maps to another MAC than it last did,
	// even across a deletion: the signature of a reused IP.
	EventMACChanged EventKind = "mac_changed"
	// EventFlipFlop: the IP went back to the MAC it had before the last
	// change, within the flip window: two hosts claim it.
	EventFlipFlop EventKind = "flip_flop"
	// EventFailed: the entry became FAILED or INCOMPLETE: nobody answers.
	EventFailed EventKind = "failed"
	// EventDeleted: the entry left the table.
	EventDeleted EventKind = "deleted"
	// EventResync: events were lost (the socket overran) and the view was
	// rebuilt from a fresh dump; the events that follow it in the same
	// batch are the differences found.
	EventResync EventKind = "resync"
)

// Event is one change of the neighbor table.
type Event struct {
	Time time.Time
	Kind EventKind
	// Entry is the entry after the change; for EventDeleted, the entry as
	// last seen. Empty for EventResync.
	Entry Entry
	// OldMAC is the MAC before the change, for EventMACChanged and
	// EventFlipFlop.
	OldMAC string
	// OldState is the state before the change; meaningful when HasOld.
	OldState State
	HasOld   bool
	// Message explains an EventResync.
	Message string
}

// WatchOptions tune Watch.
type WatchOptions struct {
	// Filter selects the entries whose events are reported; an event is
	// reported when the entry matches before or after the change.
	Filter Filter
	// FlipWindow is how recent the previous MAC change must be for a
	// change back to count as a flip-flop; 0 means 5 minutes.
	FlipWindow time.Duration
	// ChangesOnly leaves out the EventPresent events of the start.
	ChangesOnly bool

	// rcvbuf sizes the event socket's buffer; 0 means 4 MiB. Tests make it
	// small to provoke overruns.
	rcvbuf int
	now    func() time.Time
}

// DefaultFlipWindow is the flip-flop window when none is given.
const DefaultFlipWindow = 5 * time.Minute

// Watch reports the neighbor table and its changes until ctx ends. It
// subscribes to the kernel's neighbor events first and dumps the table
// after, so that nothing is missed between the two; then each event is
// delivered as the kernel sends it, without polling. When the socket
// overruns (a burst larger than its buffer), Watch rebuilds its view from
// a fresh dump and reports the differences after an EventResync, rather
// than drift or stop.
//
// emit receives the events of one step at a time: the initial EventPresent
// events, then those of each message batch. An error from emit stops
// Watch and is returned; the end of ctx returns nil.
func (c *Client) Watch(ctx context.Context, o WatchOptions, emit func([]Event) error) error {
	if o.FlipWindow <= 0 {
		o.FlipWindow = DefaultFlipWindow
	}
	if o.rcvbuf == 0 {
		o.rcvbuf = 4 << 20
	}
	if o.now == nil {
		o.now = time.Now
	}
	var sub *subSocket
	err := c.ns.Do(func() (err error) {
		sub, err = subscribe(rtmgrpNeigh|rtmgrpLink, o.rcvbuf)
		return err
	})
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { sub.close() })
	defer func() {
		if stop() {
			sub.close()
		}
	}()

	w := &watcher{c: c, o: o, view: map[entryKey]Entry{}, hist: map[entryKey]*macHistory{}}
	events, err := w.sync(false)
	if err != nil {
		return err
	}
	if !o.ChangesOnly && len(events) > 0 {
		if err := emit(events); err != nil {
			return err
		}
	}
	for {
		var batch []Event
		err := sub.recv(func(typ uint16, payload []byte) {
			batch = w.message(batch, typ, payload)
		})
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errOverrun):
			if err := sub.drain(); err != nil {
				return fmt.Errorf("receiving neighbor events: %w", err)
			}
			if batch, err = w.sync(true); err != nil {
				return err
			}
		case err != nil:
			return err
		}
		if len(batch) > 0 {
			if err := emit(batch); err != nil {
				return err
			}
		}
	}
}

type entryKey struct {
	ifindex int
	ip      netip.Addr
}

// macHistory remembers an IP's MAC across changes and deletions.
type macHistory struct {
	cur, prev string
	changed   time.Time
}

// maxHistory bounds what watch remembers of IPs no longer in the table.
const maxHistory = 1 << 16

type watcher struct {
	c     *Client
	o     WatchOptions
	names map[int]string
	view  map[entryKey]Entry
	hist  map[entryKey]*macHistory
}

// sync reads a full dump and turns its differences from the view into
// events: at the start, EventPresent for everything; after an overrun,
// an EventResync and what changed meanwhile.
func (w *watcher) sync(resync bool) ([]Event, error) {
	names, err := w.c.linkNames()
	if err != nil {
		return nil, err
	}
	w.names = names
	if f := w.o.Filter.Interface; f != "" && !resync && !hasValue(names, f) {
		return nil, &InterfaceError{Name: f, NetNS: w.c.ns.Spec}
	}
	now := w.o.now()
	if !resync && w.o.ChangesOnly {
		// Nothing to report yet: the dump goes straight into the view,
		// without an entry list or an event per entry on the way, which a
		// large table would otherwise pay for once more at the start.
		err = retryDump(func() error {
			clear(w.view)
			clear(w.hist)
			return w.c.conn.neighbors(w.o.Filter.Family.af(), func(m []byte) {
				if e, ok := w.entry(m); ok {
					k := entryKey{e.IfIndex, e.IP}
					w.view[k] = e
					w.remember(k, e.MAC, now)
				}
			})
		})
		if err != nil {
			return nil, fmt.Errorf("listing neighbors: %w", err)
		}
		return nil, nil
	}
	var col collector
	err = retryDump(func() error {
		col.reset()
		return w.c.conn.neighbors(w.o.Filter.Family.af(), func(m []byte) {
			if e, ok := w.entry(m); ok {
				col.add(e)
			}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing neighbors: %w", err)
	}
	entries := col.entries()
	SortEntries(entries)
	var events []Event
	if !resync {
		for _, e := range entries {
			w.view[entryKey{e.IfIndex, e.IP}] = e
			w.remember(entryKey{e.IfIndex, e.IP}, e.MAC, now)
			if w.o.Filter.Match(&e) {
				events = append(events, Event{Time: now, Kind: EventPresent, Entry: e})
			}
		}
		return events, nil
	}
	events = append(events, Event{Time: now, Kind: EventResync,
		Message: "neighbor events were lost (netlink socket overrun); resynchronised from a fresh dump"})
	seen := make(map[entryKey]bool, len(entries))
	for _, e := range entries {
		seen[entryKey{e.IfIndex, e.IP}] = true
		events = w.update(events, e, false, now)
	}
	for k, e := range w.view {
		if !seen[k] {
			events = w.update(events, e, true, now)
		}
	}
	return events, nil
}

// entry parses a neighbor message into an entry of the watched family.
func (w *watcher) entry(m []byte) (Entry, bool) {
	e, ok := parseNeigh(m, w.c.hz)
	if !ok || (w.o.Filter.Family != "" && e.Family != w.o.Filter.Family) {
		return Entry{}, false
	}
	e.Interface = w.names[e.IfIndex]
	if e.Interface == "" {
		e.Interface = fmt.Sprintf("if%d", e.IfIndex)
	}
	return e, true
}

// message handles one event message from the kernel.
func (w *watcher) message(events []Event, typ uint16, payload []byte) []Event {
	switch typ {
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		if l, ok := parseLink(payload); ok {
			if typ == unix.RTM_NEWLINK {
				w.names[l.index] = l.name
			} else {
				delete(w.names, l.index)
			}
		}
	case unix.RTM_NEWNEIGH, unix.RTM_DELNEIGH:
		if e, ok := w.entry(payload); ok {
			events = w.update(events, e, typ == unix.RTM_DELNEIGH, w.o.now())
		}
	}
	return events
}

// update applies one change to the view and appends the event it makes,
// if any: a change of flags, probes or ages alone makes none.
func (w *watcher) update(events []Event, e Entry, deleted bool, now time.Time) []Event {
	k := entryKey{e.IfIndex, e.IP}
	old, had := w.view[k]
	ev := Event{Time: now, Entry: e, OldState: old.State, HasOld: had}
	if deleted {
		if !had {
			return events
		}
		delete(w.view, k)
		ev.Kind, ev.Entry, ev.HasOld = EventDeleted, old, true
		return w.emit(events, ev, old, had)
	}
	w.view[k] = e
	h := w.hist[k]
	switch {
	case h != nil && e.MAC != "" && h.cur != "" && e.MAC != h.cur:
		ev.Kind, ev.OldMAC = EventMACChanged, h.cur
		if e.MAC == h.prev && now.Sub(h.changed) <= w.o.FlipWindow {
			ev.Kind = EventFlipFlop
		}
	case !had:
		ev.Kind = EventNew
	case old.State != e.State:
		ev.Kind = EventState
		// Deleting an entry that holds a MAC (ip neigh del, a flush), the
		// kernel first marks it FAILED, without having probed it, then
		// removes it: that is no neighbor failing to answer.
		adminFailed := e.State == Failed && e.Probes == 0 && old.State.HasMAC()
		if (e.State == Failed || e.State == Incomplete) && !adminFailed {
			ev.Kind = EventFailed
		}
	}
	w.remember(k, e.MAC, now)
	if ev.Kind == "" {
		return events
	}
	return w.emit(events, ev, old, had)
}

// remember records the MAC an IP maps to now.
func (w *watcher) remember(k entryKey, mac string, now time.Time) {
	if mac == "" {
		return
	}
	h := w.hist[k]
	switch {
	case h == nil:
		if len(w.hist) >= maxHistory {
			for hk := range w.hist {
				if _, live := w.view[hk]; !live {
					delete(w.hist, hk)
				}
			}
		}
		w.hist[k] = &macHistory{cur: mac, changed: now}
	case h.cur != mac:
		h.prev, h.cur, h.changed = h.cur, mac, now
	}
}

func (w *watcher) emit(events []Event, ev Event, old Entry, had bool) []Event {
	if w.o.Filter.Match(&ev.Entry) || (had && w.o.Filter.Match(&old)) {
		events = append(events, ev)
	}
	return events
}
