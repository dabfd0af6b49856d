package commands

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/fatih/color"
)

// watchScreen is the terminal view of watch: the table as the events
// leave it, rows that just changed marked, and the recent events under it.
type watchScreen struct {
	p      palette
	netns  string
	filter neigh.Filter
	tables []neigh.Table
	// highlight is how long a changed row stays marked.
	highlight time.Duration
	rows      map[watchKey]*watchRow
	// events are the recent events worth a line, newest last.
	events []neigh.Event
}

type watchKey struct {
	ifindex int
	ip      netip.Addr
}

type watchRow struct {
	e neigh.Entry
	// at is when e (and its ages) was read; changed is when the entry
	// last changed, zero for entries present from the start.
	at, changed time.Time
}

// maxEvents bounds the events the screen remembers.
const maxEvents = 500

func newWatchScreen(p palette, netns string, f neigh.Filter) *watchScreen {
	return &watchScreen{p: p, netns: netns, filter: f, highlight: 3 * time.Second, rows: map[watchKey]*watchRow{}}
}

// apply updates the view with events.
func (s *watchScreen) apply(evs []neigh.Event) {
	for _, ev := range evs {
		k := watchKey{ev.Entry.IfIndex, ev.Entry.IP}
		switch ev.Kind {
		case neigh.EventResync:
		case neigh.EventDeleted:
			delete(s.rows, k)
		case neigh.EventPresent:
			s.rows[k] = &watchRow{e: ev.Entry, at: ev.Time}
			continue // the table shows them; the event pane need not
		default:
			s.rows[k] = &watchRow{e: ev.Entry, at: ev.Time, changed: ev.Time}
		}
		s.events = append(s.events, ev)
	}
	if n := len(s.events); n > maxEvents {
		s.events = append(s.events[:0], s.events[n-maxEvents:]...)
	}
}

// render lays the view out on a width×height screen.
func (s *watchScreen) render(now time.Time, width, height int) []string {
	var entries []neigh.Entry
	changed := map[watchKey]bool{}
	for k, r := range s.rows {
		if !s.filter.Match(&r.e) {
			continue
		}
		e := r.e
		since := neigh.Age(now.Sub(r.at))
		e.ConfirmedAgo += since
		e.UsedAgo += since
		e.UpdatedAgo += since
		entries = append(entries, e)
		if !r.changed.IsZero() && now.Sub(r.changed) < s.highlight {
			changed[k] = true
		}
	}
	neigh.SortEntries(entries)

	head := "arpdoctor watch"
	if s.netns != "" {
		head += " · netns " + s.netns
	}
	head += " · " + now.Format("15:04:05")
	lines := []string{s.p.bold(fit(head, width)), fit(diagnose.TableSummary(entries, s.tables), width), ""}

	// The event pane takes up to a third of the screen and the table the
	// rest, but a small screen shows a few rows of the table first.
	space := height - len(lines) - 1 // under the table's header
	pane := min(len(s.events), max(3, height/3))
	if pane > 0 && space-(pane+2) < min(len(entries), 3) {
		pane = max(0, space-min(len(entries), 3)-2)
	}
	tableRows := space
	if pane > 0 {
		tableRows -= pane + 2 // a blank line and the pane's title
	}
	lines = append(lines, s.table(entries, changed, tableRows, width)...)
	if pane > 0 {
		lines = append(lines, "", s.p.bold(fit("EVENTS", width)))
		for i := len(s.events) - 1; i >= len(s.events)-pane; i-- {
			lines = append(lines, s.eventLine(s.events[i], width))
		}
	}
	if len(lines) > height {
		lines = lines[:height]
	}
	return lines
}

// table renders the header and at most rows lines of entries.
func (s *watchScreen) table(entries []neigh.Entry, changed map[watchKey]bool, rows, width int) []string {
	header := []string{"", "IP", "MAC", "INTERFACE", "STATE", "CONFIRMED", "USED", "UPDATED"}
	cells := make([][]string, len(entries))
	widths := make([]int, len(header))
	for i, h := range header {
		widths[i] = len(h)
	}
	for i, e := range entries {
		mark := " "
		if changed[watchKey{e.IfIndex, e.IP}] {
			mark = "*"
		}
		cells[i] = []string{mark, e.IP.String(), e.MAC, e.Interface, e.State.String(),
			e.ConfirmedAgo.String(), e.UsedAgo.String(), e.UpdatedAgo.String()}
		for j, c := range cells[i] {
			widths[j] = max(widths[j], len(c))
		}
	}
	line := func(cs []string, state func(string) string) string {
		var b strings.Builder
		for j, c := range cs {
			if j > 1 {
				b.WriteString("  ")
			} else if j == 1 {
				b.WriteString(" ")
			}
			if j < len(cs)-1 {
				c += strings.Repeat(" ", widths[j]-len(c))
			}
			b.WriteString(c)
		}
		plain := strings.TrimRight(fit(b.String(), width), " ")
		if state == nil {
			return plain
		}
		// Color the state cell where it is, if it fits on the screen.
		at := widths[0] + 1
		for j := 1; j < 4; j++ {
			at += widths[j] + 2
		}
		if st := cs[4]; at+len(st) <= len(plain) {
			plain = plain[:at] + state(st) + plain[at+len(st):]
		}
		return plain
	}
	out := []string{s.p.bold(line(header, nil))}
	shown := cells
	if rows < 1 {
		rows = 1
	}
	if len(cells) > rows {
		shown = cells[:rows-1]
	}
	for i, cs := range shown {
		l := line(cs, func(st string) string { return stateColor(s.p, entries[i].State, st) })
		if cs[0] == "*" {
			l = s.p.paint(l, color.ReverseVideo)
		}
		out = append(out, l)
	}
	if len(shown) < len(cells) {
		out = append(out, fit(fmt.Sprintf("... %d more entries (narrow with -i, --ip or --state)", len(cells)-len(shown)), width))
	}
	return out
}

// eventLine is one line of the event pane.
func (s *watchScreen) eventLine(ev neigh.Event, width int) string {
	text, paint := describeEvent(s.p, ev)
	return paint(fit(ev.Time.Format("15:04:05")+"  "+text, width))
}

// describeEvent says what an event means, and how to color it: the
// event, the IP, then what changed, the interface and what it means, so
// that a narrow screen cuts the explanation first.
func describeEvent(p palette, ev neigh.Event) (string, func(string) string) {
	e := ev.Entry
	plain := func(s string) string { return s }
	alarm := func(s string) string { return p.paint(s, color.FgRed, color.Bold) }
	line := func(label, rest string) string { return fmt.Sprintf("%-11s  %s  %s", label, e.IP, rest) }
	switch ev.Kind {
	case neigh.EventNew:
		mac := e.MAC
		if mac == "" {
			mac = "no MAC yet"
		}
		return line("new", fmt.Sprintf("%s %s on %s", mac, e.State, e.Interface)), plain
	case neigh.EventState:
		return line("state", fmt.Sprintf("%s -> %s on %s", ev.OldState, e.State, e.Interface)), p.yellow
	case neigh.EventMACChanged:
		return line("MAC CHANGED", fmt.Sprintf("%s -> %s on %s: the IP now belongs to another host (a reused IP?)",
			ev.OldMAC, e.MAC, e.Interface)), alarm
	case neigh.EventFlipFlop:
		return line("FLIP-FLOP", fmt.Sprintf("%s -> %s and back on %s: two hosts claim this IP",
			ev.OldMAC, e.MAC, e.Interface)), alarm
	case neigh.EventFailed:
		return line("failed", fmt.Sprintf("%s on %s: nobody answers", e.State, e.Interface)), p.red
	case neigh.EventDeleted:
		return line("deleted", "from "+e.Interface), p.faint
	case neigh.EventResync:
		return fmt.Sprintf("%-11s  %s", "resync", ev.Message), p.yellow
	}
	return line(string(ev.Kind), e.Interface), plain
}

// stateColor colors a state's text by what it says about the neighbor.
func stateColor(p palette, s neigh.State, text string) string {
	switch s {
	case neigh.Failed, neigh.Incomplete:
		return p.red(text)
	case neigh.Stale, neigh.Delay, neigh.Probe:
		return p.yellow(text)
	case neigh.Reachable:
		return p.green(text)
	}
	return text
}

// fit cuts s to width cells; the text here is ASCII but for the
// middle dot of the header.
func fit(s string, width int) string {
	if width <= 0 {
		return ""
	}
	n := 0
	for i := range s {
		if n == width {
			return s[:i]
		}
		n++
	}
	return s
}
