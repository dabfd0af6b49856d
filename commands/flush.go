package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/arpdoctor/arpdoctor/internal/words"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/spf13/cobra"
)

type flushOptions struct {
	*globalOptions
	entryFilter
	All              bool
	IncludePermanent bool
	DryRun           bool
	Verbose          bool
	OnlyWrong        bool
	Every            time.Duration
	Timeout          time.Duration
	Retries          int

	filter neigh.Filter
}

func newFlushCmd(g *globalOptions, runF func(context.Context, *flushOptions) error) *cobra.Command {
	if runF == nil {
		runF = runFlush
	}
	o := &flushOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "flush",
		Short: "Delete neighbor entries, safely",
		Long: `Delete neighbor entries over netlink: the cron one-liner

  ip neigh | awk '{print $1}' | xargs -IX arp -v -i eth0 -d X

without net-tools, for IPv4 and IPv6 alike, and with care. Like
'ip neigh flush' it refuses to run without a selector: -i, --ip, --state,
--only-wrong, or --all. PERMANENT and NOARP entries (set by hand, or by the kernel for good)
are kept unless --include-permanent is given. An entry that vanished between
listing and deleting is reported as gone, not as an error.

--only-wrong probes the selected entries (all of them when it is the only
selector) first, as 'arpdoctor verify' does, and deletes only what the
probes proved wrong: stale (mismatch) and dead (no_answer) entries; the
traffic using good entries is left alone. Probing can heal: the kernel
takes the MAC from a probe's answer once the entry is old enough, and such
an entry is kept, corrected. With --dry-run the probes still go out, so
even a dry run may let the kernel correct entries.

--every repeats the flush until Ctrl-C or SIGTERM, a pass per period,
logging each pass on stderr (or a JSON line per pass with -o json): a
replacement for the cron job. A periodic flush treats the symptom; setting
net.ipv4.neigh.default.gc_thresh1 to 0 lets the kernel's own garbage
collector retire stale entries ('arpdoctor sysctl check' explains).

Deleting needs CAP_NET_ADMIN; --dry-run needs nothing.`,
		Example: `  arpdoctor flush --ip 192.0.2.50
  arpdoctor flush -i eth0 --state stale,failed --dry-run
  arpdoctor flush --all --only-wrong
  arpdoctor flush -i eth0 --only-wrong --every 5m`,
		Args:        cobra.NoArgs,
		Annotations: allNetNS(outputs("table", "json")),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	o.entryFilter.register(f)
	f.BoolVar(&o.All, "all", false, "select every entry (still keeping PERMANENT and NOARP ones)")
	f.BoolVar(&o.IncludePermanent, "include-permanent", false, "delete PERMANENT and NOARP entries too")
	f.BoolVar(&o.DryRun, "dry-run", false, "show what would be deleted, delete nothing")
	f.BoolVarP(&o.Verbose, "verbose", "v", false, "print each deleted entry")
	f.BoolVar(&o.OnlyWrong, "only-wrong", false, "probe first; delete only stale (mismatch) and dead (no_answer) entries")
	f.DurationVar(&o.Every, "every", 0, "repeat every DURATION until Ctrl-C or SIGTERM")
	f.DurationVar(&o.Timeout, "timeout", time.Second, "with --only-wrong: how long to wait for answers")
	f.IntVar(&o.Retries, "retries", 2, "with --only-wrong: requests sent again to an IP that has not answered")
	return cmd
}

func (o *flushOptions) validate() (err error) {
	if o.filter, err = o.entryFilter.filter(); err != nil {
		return err
	}
	if !o.All && !o.OnlyWrong && o.Interface == "" && len(o.IPs) == 0 && o.States == "" {
		return flagErrorf("flush needs a selector: -i IF, --ip IP|CIDR, --state STATE, --only-wrong, or --all")
	}
	if o.filter.States == neigh.DefaultStates {
		// Select every state; Flush itself keeps PERMANENT and NOARP.
		o.filter.States = neigh.AllStates
	}
	if o.Every != 0 {
		if err := inRange("--every", o.Every, time.Second, 24*time.Hour); err != nil {
			return err
		}
	}
	if err := probeFlags(o.Timeout, o.Retries); err != nil {
		return err
	}
	return nil
}

func runFlush(ctx context.Context, o *flushOptions) error {
	if o.DryRun && o.OnlyWrong {
		fmt.Fprintln(o.io.ErrOut, "dry run: nothing will be deleted, but the probes are real: the kernel may take a new MAC from their answers and so correct a stale entry itself")
	}
	fo := neigh.FlushOptions{DryRun: o.DryRun, IncludePermanent: o.IncludePermanent, OnlyWrong: o.OnlyWrong,
		Probe: neigh.ProbeOptions{Timeout: o.Timeout, Retries: o.Retries}}
	if o.AllNetNS {
		if o.Every > 0 {
			return flagErrorf("--every with --all-netns: run it per namespace, or from cron")
		}
		return runFlushAll(ctx, o, fo)
	}
	c, err := o.openNeigh(o.NetNS)
	if err != nil {
		return err
	}
	defer c.Close()
	if o.Every == 0 {
		res, err := c.Flush(ctx, o.filter, fo)
		if err != nil {
			return err
		}
		if o.Output == "json" {
			return writeJSON(o.io.Out, res)
		}
		return flushView{res: res, verbose: o.Verbose, style: o.tableStyle()}.render(o.io.Out, o.summaryOut())
	}
	// Repeat until told to stop; a pass that fails is logged and the next
	// one tried, as cron would, unless the failure cannot mend itself.
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	log := bufio.NewWriter(o.io.ErrOut)
	for {
		res, err := c.Flush(ctx, o.filter, fo)
		now := time.Now().Format(time.RFC3339)
		var pe *neigh.PrivilegeError
		var ie *neigh.InterfaceError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &pe), errors.As(err, &ie):
			return err // no later pass will do better
		case err != nil:
			fmt.Fprintf(log, "%s flush: %s\n", now, words.OneLine(err.Error()))
		case o.Output == "json":
			if err := writeJSON(o.io.Out, flushPass{Time: now, FlushResult: res}); err != nil {
				return err
			}
		default:
			if o.Verbose {
				flushView{res: res, verbose: true}.deleted(log)
			}
			fmt.Fprintf(log, "%s flush: %s\n", now, flushSummary(res))
		}
		log.Flush()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// flushPass is one pass of flush --every as a JSON line.
type flushPass struct {
	Time string `json:"time"`
	neigh.FlushResult
}

type flushView struct {
	res     neigh.FlushResult
	verbose bool
	style   tableStyle
}

// render writes the table of entries to w, and the summary line to
// summary (stderr in a pipe, so that w holds only rows).
func (v flushView) render(w, summary io.Writer) error {
	if t := v.table(); (v.verbose || v.res.DryRun) && len(t.rows) > 0 {
		if err := t.render(w, v.style); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(summary, v.style.p.faint(flushSummary(v.res)))
	return err
}

// table lists what the flush deleted and, verbose, what it kept and found
// gone, one entry a row.
func (v flushView) table() *table {
	t := &table{header: []string{"ACTION", "IP", "MAC", "INTERFACE", "STATE", "WHY"}}
	verb := "deleted"
	if v.res.DryRun {
		verb = "would-delete"
	}
	// With OnlyWrong, what the probe proved is why an entry went.
	proven := map[netip.Addr]*neigh.ProbeResult{}
	for i := range v.res.Probed {
		proven[v.res.Probed[i].Entry.IP] = &v.res.Probed[i]
	}
	for _, e := range v.res.Deleted {
		why := ""
		if r := proven[e.IP]; r != nil {
			why = string(r.Verdict)
			if len(r.Answered) > 0 {
				why += ": " + r.Answered[0] + " answers"
			}
		}
		t.add(verb, e.IP.String(), e.MAC, e.Interface, e.State.String(), why)
	}
	if !v.verbose {
		return t
	}
	for _, k := range v.res.Kept {
		why := keepText(k)
		if k.Reason == neigh.KeptPermanent {
			why = "set by hand or by the kernel for good (--include-permanent deletes it)"
		}
		t.add("kept", k.IP.String(), k.MAC, k.Interface, k.State.String(), why)
	}
	for _, e := range v.res.Gone {
		t.add("gone", e.IP.String(), e.MAC, e.Interface, e.State.String(), "already deleted")
	}
	return t
}

// deleted logs the deleted entries, one line each, as the one-liner's
// arp -v did.
func (v flushView) deleted(w io.Writer) {
	verb := "deleted"
	if v.res.DryRun {
		verb = "would delete"
	}
	for _, e := range v.res.Deleted {
		mac := e.MAC
		if mac == "" {
			mac = placeholder
		}
		fmt.Fprintf(w, "%s %s %s %s %s\n", verb, e.IP, mac, escape(e.Interface), e.State)
	}
}

// flushSummary counts what was deleted, kept (and why) and gone.
func flushSummary(r neigh.FlushResult) string {
	reasons := map[string]int{}
	var order []string
	for _, k := range r.Kept {
		why := keepText(k)
		if reasons[why] == 0 {
			order = append(order, why)
		}
		reasons[why]++
	}
	var kept []string
	for _, why := range order {
		kept = append(kept, fmt.Sprintf("%d %s", reasons[why], why))
	}
	s := fmt.Sprintf("deleted %d, kept %d", len(r.Deleted), len(r.Kept))
	if r.DryRun {
		s = fmt.Sprintf("dry run: would delete %d, keep %d", len(r.Deleted), len(r.Kept))
	}
	if len(kept) > 0 {
		s += " (" + strings.Join(kept, "; ") + ")"
	}
	return s + fmt.Sprintf(", already gone %d", len(r.Gone))
}

// keepText says in a few words why an entry was kept.
func keepText(k neigh.Kept) string {
	switch k.Reason {
	case neigh.KeptPermanent:
		return k.State.String()
	case neigh.KeptCorrected:
		return "mismatch, corrected by the kernel from the answer"
	case neigh.KeptNotWrong:
		return "verdict " + string(k.Verdict)
	}
	return string(k.Reason)
}
