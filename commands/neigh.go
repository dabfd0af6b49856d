package commands

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/spf13/cobra"
)

type neighOptions struct {
	*globalOptions
	entryFilter
	Resolve        bool
	ResolveTimeout time.Duration

	filter neigh.Filter
}

// newNeighCmd builds the neigh command; runF replaces the run function in
// tests of flag handling (nil runs it for real).
func newNeighCmd(g *globalOptions, runF func(context.Context, *neighOptions) error) *cobra.Command {
	if runF == nil {
		runF = runNeigh
	}
	o := &neighOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:     "neigh",
		Aliases: []string{"neighbor", "arp"},
		Short:   "Show the neighbor table (ARP and NDP), like arp -a or ip neigh",
		Long: `Show the kernel's neighbor table: which MAC each IP maps to, on which
interface, in which state, and how long ago the kernel last confirmed,
used and updated the entry.

Like 'ip neigh show', NOARP and NONE entries (multicast mappings and the
like) are hidden unless --state names them or is "all". Entries are sorted
by interface, then numerically by IP.

On a terminal, a line under the table counts the entries by state and shows
the garbage-collection thresholds gc_thresh1/2/3: below gc_thresh1 the
kernel never removes stale entries. When stdout is not a terminal the table
is tab-separated, without header or colors; use -o json for scripts (the
schema is in docs/json.md).

Reading the table needs no privilege; --netns NAME needs CAP_SYS_ADMIN.`,
		Example: `  arpdoctor neigh
  arpdoctor neigh -i eth0 -4 --state stale,failed
  arpdoctor neigh --ip 192.0.2.0/24 -o json
  arpdoctor --netns blue neigh --state all`,
		Args:        cobra.NoArgs,
		Annotations: allNetNS(outputs("table", "wide", "json")),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.validate(); err != nil {
				return err
			}
			return runF(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	o.entryFilter.register(f)
	f.BoolVar(&o.Resolve, "resolve", false, "add reverse-DNS names (bounded by --resolve-timeout)")
	f.DurationVar(&o.ResolveTimeout, "resolve-timeout", 2*time.Second, "longest time --resolve may take in all")
	return cmd
}

// validate checks the flags.
func (o *neighOptions) validate() (err error) {
	if o.filter, err = o.entryFilter.filter(); err != nil {
		return err
	}
	if err := inRange("--resolve-timeout", o.ResolveTimeout, time.Millisecond, time.Minute); err != nil {
		return err
	}
	return nil
}

func runNeigh(ctx context.Context, o *neighOptions) error {
	if o.AllNetNS {
		return runNeighAll(ctx, o)
	}
	c, err := o.openNeigh(o.NetNS)
	if err != nil {
		return err
	}
	defer c.Close()
	entries, err := c.List(o.filter)
	if err != nil {
		return err
	}
	if o.Resolve {
		rctx, cancel := context.WithTimeout(ctx, o.ResolveTimeout)
		neigh.ResolveNames(rctx, net.DefaultResolver, entries)
		cancel()
	}
	if o.Output == "json" {
		return writeJSONArray(o.io.Out, entries)
	}
	var tables []neigh.Table
	if o.io.OutTTY {
		// Context for the summary line only: without it the line is
		// shorter, the listing no less true.
		tables, _ = c.Tables(o.filter.Family)
	}
	v := neighView{
		entries: entries,
		tables:  tables,
		wide:    o.Output == "wide",
		names:   o.Resolve,
		tty:     o.io.OutTTY,
		style:   o.tableStyle(),
	}
	return v.render(o.io.Out)
}

// neighView renders entries as a table.
type neighView struct {
	entries []neigh.Entry
	tables  []neigh.Table
	wide    bool // add FLAGS
	names   bool // add NAME
	tty     bool // add the summary line
	style   tableStyle
}

func (v neighView) render(w io.Writer) error {
	t := &table{header: []string{"IP"}}
	if v.names {
		t.header = append(t.header, "NAME")
	}
	t.header = append(t.header, "MAC", "INTERFACE", "STATE")
	if v.wide {
		t.header = append(t.header, "FLAGS")
	}
	t.header = append(t.header, "CONFIRMED", "USED", "UPDATED")
	stateCol := len(t.header) - 4
	if v.wide {
		stateCol--
	}
	t.paint = func(row, col int, cell string) string {
		if col != stateCol {
			return cell
		}
		return paintWord(cell, func(s string) string { return stateColor(v.style.p, v.entries[row].State, s) })
	}
	for _, e := range v.entries {
		row := []string{e.IP.String()}
		if v.names {
			row = append(row, e.Name)
		}
		row = append(row, e.MAC, e.Interface, e.State.String())
		if v.wide {
			row = append(row, e.Flags.String())
		}
		row = append(row, e.ConfirmedAgo.String(), e.UsedAgo.String(), e.UpdatedAgo.String())
		t.add(row...)
	}
	if err := t.render(w, v.style); err != nil || !v.tty {
		return err
	}
	_, err := fmt.Fprintln(w, v.style.p.faint(diagnose.TableSummary(v.entries, v.tables)))
	return err
}
