package commands

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/internal/words"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

type watchOptions struct {
	*globalOptions
	entryFilter
	FlipWindow  time.Duration
	Duration    time.Duration
	ChangesOnly bool

	filter neigh.Filter
}

func newWatchCmd(g *globalOptions, runF func(context.Context, *watchOptions) error) *cobra.Command {
	if runF == nil {
		runF = runWatch
	}
	o := &watchOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Watch the neighbor table change, live",
		Long: `Watch the kernel's neighbor table as it changes. Unlike 'watch -n 1 arp -a',
nothing happens in between polls because there are none: the kernel sends
each change as a netlink event, which arpdoctor shows within milliseconds,
and while nothing changes it costs nothing.

Events are named for what they mean:
  present      the entry was in the table when watching started
  new          the kernel created the entry
  state        the entry changed state (STALE -> REACHABLE, ...)
  mac_changed  the IP now maps to another MAC than it last did, even across
               a deletion: the signature of a reused IP
  flip_flop    the IP went back to its previous MAC within --flip-window:
               two hosts claim it
  failed       the entry became FAILED or INCOMPLETE: nobody answers
  deleted      the entry left the table
  resync       events were lost (the kernel's socket buffer overran); the
               view was rebuilt from a fresh dump and the differences follow

On a terminal, the table fills the screen and is redrawn on every change;
rows that just changed are marked with * (and highlighted), recent events
are listed under the table. Keys: q, Q, Esc or Ctrl-C quits and gives the
terminal back as it was; Ctrl-Z gives it back until fg.

Once a second the table is also read again from the kernel, because the
kernel announces no event when it moves an entry from STALE or REACHABLE
to DELAY (ip monitor misses it too): the rows then show the state and ages
the kernel holds, without a mark and without a line in the event list,
which lists only what the kernel announced. A narrow terminal leaves out
UPDATED, USED, CONFIRMED, then INTERFACE, and cuts what it still must
with "…".

When stdout is not a terminal, or with -o json, each event is one JSON
line (time, event, ip, interface, mac, old_mac, state, old_state), so that
'arpdoctor watch -o json > history.jsonl' keeps a history jq can read;
there is no re-read there: the lines are the kernel's events alone.

Exit code 1 when a mac_changed, flip_flop or failed event was reported.`,
		Example: `  arpdoctor watch
  arpdoctor watch -i eth0 -4
  arpdoctor watch -o json --changes-only >> neigh-history.jsonl
  arpdoctor watch --duration 10m --ip 192.0.2.0/24 -o json | jq 'select(.event == "mac_changed")'`,
		Args:        cobra.NoArgs,
		Annotations: allNetNS(outputs("table", "json")),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			if cmd.Flags().Changed("output") && o.Output == "table" && o.io.Term == nil {
				return flagErrorf("-o table is the full-screen view, for a terminal; in a pipe watch writes JSON lines (-o json)")
			}
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	o.entryFilter.register(f)
	f.DurationVar(&o.FlipWindow, "flip-window", neigh.DefaultFlipWindow, "an IP returning to its previous MAC within this time is a flip_flop")
	f.DurationVar(&o.Duration, "duration", 0, "stop after this long (default: until q, Ctrl-C or SIGTERM)")
	f.BoolVar(&o.ChangesOnly, "changes-only", false, "leave out the entries present at the start")
	return cmd
}

func (o *watchOptions) validate() (err error) {
	if o.filter, err = o.entryFilter.filter(); err != nil {
		return err
	}
	if err := inRange("--flip-window", o.FlipWindow, time.Millisecond, 24*time.Hour); err != nil {
		return err
	}
	if o.Duration < 0 {
		return flagErrorf("--duration must not be negative")
	}
	return nil
}

// problemEvent says whether an event is a finding: it makes the exit code 1.
func problemEvent(k neigh.EventKind) bool {
	return k == neigh.EventMACChanged || k == neigh.EventFlipFlop || k == neigh.EventFailed
}

func runWatch(ctx context.Context, o *watchOptions) error {
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	if o.AllNetNS {
		problems := false
		err := watchAll(ctx, o, neigh.WatchOptions{Filter: o.filter, FlipWindow: o.FlipWindow, ChangesOnly: o.ChangesOnly},
			func(evs []neigh.Event) {
				for _, ev := range evs {
					problems = problems || problemEvent(ev.Kind)
				}
			})
		if err == nil && problems {
			return ErrProblems
		}
		return err
	}
	c, err := o.openNeigh(o.NetNS)
	if err != nil {
		return err
	}
	defer c.Close()
	wo := neigh.WatchOptions{Filter: o.filter, FlipWindow: o.FlipWindow, ChangesOnly: o.ChangesOnly}
	var problems []neigh.Event
	note := func(evs []neigh.Event) {
		for _, ev := range evs {
			if problemEvent(ev.Kind) && len(problems) < maxRecalled {
				problems = append(problems, ev)
			}
		}
	}
	fullScreen := o.Output != "json" && o.io.Term != nil
	if fullScreen {
		err = watchFullScreen(ctx, c, wo, o, note)
	} else {
		err = watchLines(ctx, c, wo, o.io.Out, note)
	}
	if err != nil {
		return err
	}
	if len(problems) == 0 {
		return nil
	}
	if fullScreen {
		// The screen is gone with the view: what made the exit code 1
		// stays in the scrollback, with what to run next.
		o.recall(o.io.Out, problems)
	}
	return ErrProblems
}

// maxRecalled bounds the problem events kept for the summary at exit.
const maxRecalled = 20

// recall lists the problem events seen, and the commands to run about
// them, each once, once the full-screen view is gone.
func (o *watchOptions) recall(w io.Writer, evs []neigh.Event) {
	fmt.Fprintf(w, "watch saw %s:\n", words.Count(len(evs), "problem event", "problem events"))
	seen := map[string]bool{}
	for i := range evs {
		ev := &evs[i]
		note, next := diagnose.EventNote(ev, o.NetNS)
		fmt.Fprintln(w, escape(fmt.Sprintf("  %s %s %s", ev.Time.Local().Format("15:04:05"), ev.Kind, note)))
		for _, n := range o.suggest(next) {
			if s := n.String(); !seen[s] {
				seen[s] = true
				fmt.Fprintf(w, "    next: %s\n", escape(s))
			}
		}
	}
}

// watchLines writes one JSON line per event, each batch flushed at once.
func watchLines(ctx context.Context, c neighClient, wo neigh.WatchOptions, w io.Writer, note func([]neigh.Event)) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf []byte
	return c.Watch(ctx, wo, func(evs []neigh.Event) error {
		note(evs)
		for i := range evs {
			buf = append(evs[i].AppendJSON(buf[:0]), '\n')
			bw.Write(buf)
		}
		return bw.Flush()
	})
}

// watchFullScreen draws the view on the terminal's alternate screen until
// ctx ends or a quit key is typed, and gives the terminal back as it found
// it.
func watchFullScreen(ctx context.Context, c neighClient, wo neigh.WatchOptions, o *watchOptions, note func([]neigh.Event)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []neigh.Event, 64)
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- c.Watch(ctx, wo, func(evs []neigh.Event) error {
			select {
			case batches <- evs:
			case <-ctx.Done():
			}
			return nil
		})
	}()

	s := newWatchScreen(palette{on: o.color}, o.NetNS, o.filter)
	s.tables, _ = c.Tables(o.filter.Family) // the header's thresholds; without them it is shorter
	typed, stopKeys, err := o.io.Term.keys()
	if err != nil {
		return fmt.Errorf("setting up the terminal: %w", err)
	}
	out := bufio.NewWriterSize(o.io.Out, 64<<10)
	out.WriteString(enterFullScreen)
	var f frame
	// shown says the view holds the terminal; mu guards it and stopKeys,
	// since giveBack may run from the signal handler's goroutine.
	var mu sync.Mutex
	shown := true
	giveBack := func() {
		mu.Lock()
		defer mu.Unlock()
		if shown {
			shown = false
			io.WriteString(o.io.Out, leaveFullScreen)
			stopKeys()
		}
	}
	// takeBack puts the view on the terminal again after a suspension; the
	// next draw paints the whole screen.
	takeBack := func() error {
		t, stop, err := o.io.Term.keys()
		if err != nil {
			return fmt.Errorf("setting up the terminal: %w", err)
		}
		mu.Lock()
		defer mu.Unlock()
		typed, stopKeys, shown, f = t, stop, true, frame{}
		out.WriteString(enterFullScreen)
		return nil
	}
	// Whatever ends the process, the terminal is given back: a second
	// signal or a panic runs the cleanups.
	defer atExit(giveBack)()
	defer func() {
		out.Flush()
		giveBack()
	}()
	resized := make(chan os.Signal, 1)
	signal.Notify(resized, syscall.SIGWINCH)
	defer signal.Stop(resized)
	// Ctrl-Z gives the terminal back before the process stops, as top
	// does, and takes it again when the shell continues it.
	suspended := make(chan os.Signal, 1)
	signal.Notify(suspended, syscall.SIGTSTP)
	defer signal.Stop(suspended)
	// Ages move with time, and the kernel moves an entry to DELAY without
	// an event: once a second the table is read again and the screen
	// redrawn where it changed.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()

	draw := func() error {
		w, h, err := o.io.Term.size()
		if err != nil || w <= 0 || h <= 0 {
			w, h = 80, 24
		}
		if f.update(out, s.render(time.Now(), w, h), w, h) {
			return out.Flush()
		}
		return nil
	}
	reread := func() {
		entries, err := c.List(neigh.Filter{Family: o.filter.Family})
		if err != nil {
			s.rereadErr = words.OneLine(err.Error())
			return
		}
		s.rereadErr = ""
		s.reconcile(entries, time.Now())
	}
	// take applies a batch and says whether it holds a resync, after
	// which the thresholds are read again.
	take := func(evs []neigh.Event) (resync bool) {
		s.apply(evs)
		note(evs)
		for _, ev := range evs {
			resync = resync || ev.Kind == neigh.EventResync
		}
		return resync
	}
	if err := draw(); err != nil {
		return err
	}
	for {
		select {
		case evs := <-batches:
			resync := take(evs)
		more: // coalesce whatever else is waiting into one redraw
			for {
				select {
				case evs := <-batches:
					resync = take(evs) || resync
				default:
					break more
				}
			}
			if resync {
				s.tables, _ = c.Tables(o.filter.Family)
			}
		case <-resized:
		case <-tick.C:
			reread()
		case <-suspended:
			out.Flush()
			giveBack()
			stopHere()
			if err := takeBack(); err != nil {
				return err
			}
		case b := <-typed:
			if keyActions(b) == keyQuit {
				return nil
			}
			continue
		case err := <-watchErr:
			return err
		}
		if err := draw(); err != nil {
			return err
		}
	}
}

// frame is what the terminal shows, so that a redraw writes only the
// lines that changed: once a second the ages and the clock move, and
// nothing else.
type frame struct {
	lines         []string
	width, height int
}

// update writes what turns the screen into lines, and says whether it
// wrote anything. Each changed line is erased whole and then written: a
// line as wide as the screen leaves the cursor in its last cell, where
// erasing to the end of the line would take that cell too.
func (f *frame) update(w *bufio.Writer, lines []string, width, height int) bool {
	wrote := false
	if width != f.width || height != f.height {
		f.lines, f.width, f.height = nil, width, height
		w.WriteString(cursorHome + clearScreen)
		wrote = true
	}
	for i, l := range lines {
		if i < len(f.lines) && f.lines[i] == l {
			continue
		}
		fmt.Fprintf(w, "\x1b[%d;1H%s%s", i+1, eraseLine, l)
		wrote = true
	}
	if len(lines) < len(f.lines) {
		fmt.Fprintf(w, "\x1b[%d;1H%s", len(lines)+1, clearBelow)
		wrote = true
	}
	f.lines = lines
	return wrote
}

// stopHere stops the process as Ctrl-Z would have, and returns when it is
// continued. SIGSTOP goes to this very thread, as raise(3) sends it: sent
// to the process, another thread might take it while this one goes on and
// takes the terminal back before the process stops.
func stopHere() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	unix.Tgkill(unix.Getpid(), unix.Gettid(), unix.SIGSTOP)
}
