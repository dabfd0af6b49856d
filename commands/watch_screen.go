package commands

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/fatih/color"
	"github.com/mattn/go-runewidth"
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
	// rereadErr is why the last re-read of the table failed, "" when it
	// did not.
	rereadErr string
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

// reconcile brings the rows up to date with a dump of the table read at
// at: the kernel announces no event when it moves an entry from STALE or
// REACHABLE to DELAY, and ages are best read from the kernel. It makes no
// event: rows take the dumped entry, rows the dump lacks leave (their
// deleted event, if it was not applied yet, follows), and entries the
// view lacks are left to their new event, so that --changes-only keeps
// its meaning. Events applied later may carry an older state than the
// dump; the next event or dump puts it right.
func (s *watchScreen) reconcile(entries []neigh.Entry, at time.Time) {
	seen := make(map[watchKey]bool, len(entries))
	for _, e := range entries {
		k := watchKey{e.IfIndex, e.IP}
		seen[k] = true
		if r := s.rows[k]; r != nil {
			r.e, r.at = e, at
		}
	}
	for k := range s.rows {
		if !seen[k] {
			delete(s.rows, k)
		}
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
		head += " · netns " + escape(s.netns)
	}
	head += " · " + now.Format("15:04:05")
	if s.rereadErr != "" {
		head += " · re-reading the table failed: " + s.rereadErr
	}
	head += " · q quits"
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

// watchColumns are the table's columns. A narrow screen leaves out the
// ages first, then the interface; IP, MAC and state stay, cut with … if
// they must be, the state first: five cells still show STALE, DELAY and
// PROBE whole, and REAC… and FAIL… read.
var watchColumns = []watchColumn{
	{"IP", func(e *neigh.Entry) string { return e.IP.String() }, 0, 3, 8},
	{"MAC", func(e *neigh.Entry) string { return e.MAC }, 0, 2, 8},
	{"INTERFACE", func(e *neigh.Entry) string { return escape(e.Interface) }, 4, 0, 0},
	{"STATE", func(e *neigh.Entry) string { return e.State.String() }, 0, 1, 5},
	{"CONFIRMED", func(e *neigh.Entry) string { return e.ConfirmedAgo.String() }, 3, 0, 0},
	{"USED", func(e *neigh.Entry) string { return e.UsedAgo.String() }, 2, 0, 0},
	{"UPDATED", func(e *neigh.Entry) string { return e.UpdatedAgo.String() }, 1, 0, 0},
}

type watchColumn struct {
	title string
	cell  func(e *neigh.Entry) string
	// drop is the order in which a narrow screen leaves the column out,
	// 0 for never; shrink the order in which a kept column is cut, down
	// to minWidth cells, 0 for never.
	drop, shrink, minWidth int
}

// stateColumn is the index of STATE in watchColumns, the one colored.
const stateColumn = 3

// columnLayout chooses the columns that fit in width cells and their
// widths, 0 for a column left out: each row starts with a mark and a
// blank, and columns are two blanks apart.
func columnLayout(natural []int, width int) []int {
	w := slices.Clone(natural)
	total := func() int {
		n, cols := 2, 0
		for _, x := range w {
			if x > 0 {
				n += x
				cols++
			}
		}
		return n + 2*max(cols-1, 0)
	}
	for order := 1; total() > width; order++ {
		i := slices.IndexFunc(watchColumns, func(c watchColumn) bool { return c.drop == order })
		if i < 0 {
			break
		}
		w[i] = 0
	}
	for order := 1; total() > width; order++ {
		i := -1
		for j, c := range watchColumns {
			if c.shrink == order {
				i = j
			}
		}
		if i < 0 {
			break
		}
		w[i] -= min(total()-width, max(w[i]-watchColumns[i].minWidth, 0))
	}
	return w
}

// table renders the header and at most rows lines of entries.
func (s *watchScreen) table(entries []neigh.Entry, changed map[watchKey]bool, rows, width int) []string {
	cells := make([][]string, len(entries))
	natural := make([]int, len(watchColumns))
	for j, c := range watchColumns {
		natural[j] = runewidth.StringWidth(c.title)
	}
	for i := range entries {
		cells[i] = make([]string, len(watchColumns))
		for j, c := range watchColumns {
			cells[i][j] = c.cell(&entries[i])
			natural[j] = max(natural[j], runewidth.StringWidth(cells[i][j]))
		}
	}
	widths := columnLayout(natural, width)
	last := 0
	for j, w := range widths {
		if w > 0 {
			last = j
		}
	}
	// line lays out one row; the state cell is colored where the row fits
	// on the screen, and a row too wide for the narrowest layout is cut.
	line := func(mark string, cs []string, state func(string) string) string {
		var plain, colored strings.Builder
		plain.WriteString(mark + " ")
		colored.WriteString(mark + " ")
		first := true
		for j, c := range cs {
			if widths[j] == 0 {
				continue
			}
			if !first {
				plain.WriteString("  ")
				colored.WriteString("  ")
			}
			first = false
			c = fit(c, widths[j])
			pad := ""
			if j < last {
				pad = strings.Repeat(" ", widths[j]-runewidth.StringWidth(c))
			}
			plain.WriteString(c + pad)
			if j == stateColumn && state != nil {
				c = state(c)
			}
			colored.WriteString(c + pad)
		}
		p := strings.TrimRight(plain.String(), " ")
		if runewidth.StringWidth(p) > width {
			return fit(p, width)
		}
		return strings.TrimRight(colored.String(), " ")
	}
	titles := make([]string, len(watchColumns))
	for j, c := range watchColumns {
		titles[j] = c.title
	}
	out := []string{s.p.bold(line(" ", titles, nil))}
	shown := cells
	if rows < 1 {
		rows = 1
	}
	if len(cells) > rows {
		shown = cells[:rows-1]
	}
	for i, cs := range shown {
		mark := " "
		if changed[watchKey{entries[i].IfIndex, entries[i].IP}] {
			mark = "*"
		}
		st := entries[i].State
		l := line(mark, cs, func(text string) string { return stateColor(s.p, st, text) })
		if mark == "*" {
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
	// Interface names come from the kernel, and anyone who can make an
	// interface chooses them: escaped, or they would drive the terminal.
	return paint(fit(ev.Time.Format("15:04:05")+"  "+escape(text), width))
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
	case neigh.EventMACChanged, neigh.EventFlipFlop, neigh.EventFailed:
		// The problems are worded as the exporter words them; the note
		// starts with the IP, which has a column of its own here.
		note, _ := diagnose.EventNote(&ev, "")
		note = strings.TrimPrefix(note, e.IP.String()+": ")
		label, paint := "MAC CHANGED", alarm
		switch ev.Kind {
		case neigh.EventFlipFlop:
			label = "FLIP-FLOP"
		case neigh.EventFailed:
			label, paint = "failed", p.red
		}
		return line(label, note), paint
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

// fit cuts s to width cells of the terminal, marking the cut with …
func fit(s string, width int) string {
	if width <= 0 {
		return ""
	}
	return runewidth.Truncate(s, width, "…")
}
