package commands

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/internal/words"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/spf13/cobra"
)

type verifyOptions struct {
	*globalOptions
	entryFilter
	Timeout          time.Duration
	Retries          int
	Fix              bool
	IncludePermanent bool

	filter neigh.Filter
}

func newVerifyCmd(g *globalOptions, runF func(context.Context, *verifyOptions) error) *cobra.Command {
	if runF == nil {
		runF = runVerify
	}
	o := &verifyOptions{globalOptions: g}
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Probe cached neighbors and prove which entries are wrong",
		Long: `Ask the network who owns the IP of each cached entry and compare the answer
with the cache: an ARP request broadcast for IPv4, a neighbor solicitation
for IPv6, as the kernel sends when it resolves an IP afresh. All entries are
probed at once, paced, so a /24 takes about as long as one dead entry.

Verdicts:
  ok         the owner answered from the cached MAC
  mismatch   another MAC answered: the entry is stale (the incident arpdoctor
             was made for: a reused IP cached with a dead instance's MAC)
  no_answer  nobody answered: the entry is dead
  duplicate  more than one MAC answered: two hosts claim the IP
  not_cached the cache holds no entry for an IP that --ip names: it is
             probed all the same, as arping would, on -i or the interface
             its route leaves by, to say who owns it (exit code 0), or
             that two hosts claim it (duplicate)

Entries without a MAC (INCOMPLETE, FAILED) are probed too, to say who
answers: one owner is ok, as the kernel learns the MAC when it asks next.
Entries on interfaces that cannot be probed (not Ethernet) are reported as
unprobed. The kernel learns from the answers as well and may correct a stale
entry on its own: the report shows each entry as it was before probing, and
-o wide or json as it is after.

Without --fix nothing in the cache is changed by arpdoctor, but probing
can heal: the kernel takes the MAC from a probe's answer once the entry
is old enough, so a stale entry may be corrected by the probe that proves
it stale; the report says so when it happens. With --fix, a mismatch the
kernel has not corrected is replaced by the MAC that answered and a dead
entry (no answer, whatever its state) is deleted, as 'flush --only-wrong'
deletes them; PERMANENT entries only with --include-permanent; duplicates
are left for a person to settle.

Exit code 1 when an entry is a mismatch or a duplicate, or gets no answer
while the kernel counts it usable (REACHABLE, STALE, DELAY, PROBE); with
--fix, 1 only when something is still wrong after fixing.
Probing needs CAP_NET_RAW, --fix CAP_NET_ADMIN.`,
		Example: `  arpdoctor verify
  arpdoctor verify --ip 192.0.2.50
  arpdoctor verify -i eth0 -4 --fix
  arpdoctor verify -o json | jq '.[] | select(.verdict != "ok")'`,
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
	f.DurationVar(&o.Timeout, "timeout", time.Second, "how long to wait for answers after an IP's last request")
	f.IntVar(&o.Retries, "retries", 2, "requests sent again, 200ms apart, to an IP that has not answered")
	f.BoolVar(&o.Fix, "fix", false, "replace stale entries with the MAC that answered, delete dead ones")
	f.BoolVar(&o.IncludePermanent, "include-permanent", false, "let --fix change PERMANENT entries too")
	return cmd
}

func (o *verifyOptions) validate() (err error) {
	if o.filter, err = o.entryFilter.filter(); err != nil {
		return err
	}
	// NOARP entries (multicast, broadcast, loopback) are not resolved by
	// asking: there is nothing to verify.
	if o.filter.States == neigh.DefaultStates {
		o.filter.States = neigh.AllStates &^ neigh.StateSet(neigh.NoARP) &^ neigh.NoneStates
	}
	o.filter.States &^= neigh.StateSet(neigh.NoARP)
	if o.filter.States == 0 {
		return flagErrorf("--state: NOARP entries are not resolved by asking the network: there is nothing to verify")
	}
	if err := probeFlags(o.Timeout, o.Retries); err != nil {
		return err
	}
	if o.IncludePermanent && !o.Fix {
		return flagErrorf("--include-permanent goes with --fix")
	}
	return nil
}

func runVerify(ctx context.Context, o *verifyOptions) error {
	if o.AllNetNS {
		return runVerifyAll(ctx, o)
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
	targets, notes, err := uncachedTargets(c, o.filter, entries)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(o.io.ErrOut, "arpdoctor: note: "+escape(n))
	}
	entries = append(entries, targets...)
	start := time.Now()
	results, err := c.Probe(ctx, entries, neigh.ProbeOptions{Timeout: o.Timeout, Retries: o.Retries})
	interrupted := err != nil && results != nil && ctx.Err() != nil
	if err != nil && !interrupted {
		return err
	}
	took := time.Since(start)
	if o.Fix && !interrupted {
		if err := c.Fix(results, o.IncludePermanent); err != nil {
			return err
		}
	}
	if o.Output == "json" {
		records := make([]diagnose.ProbeRecord, len(results))
		for i := range results {
			records[i] = diagnose.NewProbeRecord(&results[i])
		}
		if err := writeJSON(o.io.Out, records); err != nil {
			return err
		}
	} else {
		v := verifyView{results: results, took: took, wide: o.Output == "wide", fix: o.Fix, style: o.tableStyle(),
			netns: o.NetNS, suggest: o.suggest}
		notes := o.io.Out
		if !o.io.OutTTY {
			notes = o.io.ErrOut
		}
		if err := v.render(o.io.Out, notes); err != nil {
			return err
		}
	}
	if interrupted {
		proven := 0
		for i := range results {
			if results[i].Verdict != neigh.VerdictUnprobed {
				proven++
			}
		}
		return fmt.Errorf("interrupted: %d of %d entries probed to the end; nothing was fixed", proven, len(results))
	}
	for i := range results {
		r := &results[i]
		// After --fix, what is left wrong is what counts.
		if r.Problem() && (!o.Fix || !r.Fix.Fixed()) {
			return ErrProblems
		}
	}
	return nil
}

// uncachedTargets are the IPs that --ip names one by one and the cache
// holds no entry for: they are probed all the same, as arping would, on -i
// or the interface the route to them leaves by. notes say why an IP is
// not probed (behind a gateway, the host's own).
func uncachedTargets(c neighClient, f neigh.Filter, entries []neigh.Entry) (targets []neigh.Entry, notes []string, err error) {
	cached := map[netip.Addr]bool{}
	for _, e := range entries {
		cached[e.IP] = true
	}
	var ifs []neigh.Interface
	for _, p := range f.Prefixes {
		ip := p.Addr()
		if !p.IsSingleIP() || cached[ip] || (f.Family == neigh.Inet && !ip.Is4()) || (f.Family == neigh.Inet6 && ip.Is4()) {
			continue
		}
		if ifs == nil {
			if ifs, err = c.Interfaces(); err != nil {
				return nil, nil, err
			}
		}
		var ifi neigh.Interface
		if f.Interface != "" {
			i := slices.IndexFunc(ifs, func(x neigh.Interface) bool { return x.Name == f.Interface })
			if i < 0 {
				continue // List said so already
			}
			ifi = ifs[i]
		} else {
			r, err := c.RouteTo(ip)
			switch {
			case err != nil:
				return nil, nil, err
			case r.Local:
				notes = append(notes, fmt.Sprintf("%s is this host's own address: nothing to probe", ip))
				continue
			case r.Gateway.IsValid():
				notes = append(notes, fmt.Sprintf("%s is reached through the gateway %s, not on a link of this host: no neighbor entry is kept for it (verify --ip %s checks the gateway's)", ip, r.Gateway, r.Gateway))
				continue
			}
			i := slices.IndexFunc(ifs, func(x neigh.Interface) bool { return x.Index == r.IfIndex })
			if i < 0 {
				continue
			}
			ifi = ifs[i]
		}
		targets = append(targets, neigh.Uncached(ip, ifi))
	}
	return targets, notes, nil
}

type verifyView struct {
	results []neigh.ProbeResult
	took    time.Duration
	wide    bool
	fix     bool
	style   tableStyle
	netns   string
	// suggest puts sudo where the commands need it; nil leaves them.
	suggest func([]diagnose.Command) []diagnose.Command
}

// render writes the table to w and, under it, a note on each problem with
// the command to run next.
func (v verifyView) render(w, notes io.Writer) error {
	t := &table{header: []string{"IP", "INTERFACE", "STATE", "CACHED MAC", "ANSWERED", "VERDICT"}}
	if v.wide {
		t.header = append(t.header, "NOW")
	}
	if v.fix {
		t.header = append(t.header, "FIX")
	}
	t.paint = func(row, col int, cell string) string {
		if col != 5 {
			return cell
		}
		return paintWord(cell, func(s string) string { return v.verdict(&v.results[row], s) })
	}
	counts := map[neigh.Verdict]int{}
	for i := range v.results {
		r := &v.results[i]
		counts[r.Verdict]++
		row := []string{r.Entry.IP.String(), r.Entry.Interface, r.Entry.State.String(), r.Entry.MAC, strings.Join(r.Answered, ","), string(r.Verdict)}
		if v.wide {
			now := "gone"
			if r.After != nil {
				now = strings.TrimSpace(r.After.State.String() + " " + r.After.MAC)
			}
			row = append(row, now)
		}
		if v.fix {
			row = append(row, diagnose.FixText(r))
		}
		t.add(row...)
	}
	if len(v.results) > 0 {
		if err := t.render(w, v.style); err != nil {
			return err
		}
	}
	var parts []string
	for _, k := range []neigh.Verdict{neigh.VerdictOK, neigh.VerdictMismatch, neigh.VerdictNoAnswer, neigh.VerdictDuplicate, neigh.VerdictNotCached, neigh.VerdictUnprobed} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	summary := fmt.Sprintf("%s probed in %s", words.Count(len(v.results), "entry", "entries"), v.took.Round(10*time.Millisecond))
	if len(parts) > 0 {
		summary += ": " + strings.Join(parts, ", ")
	}
	p := v.style.p
	out := p.faint(summary) + "\n"
	for i := range v.results {
		r := &v.results[i]
		note, next := diagnose.ProbeNote(r, v.netns, v.fix)
		if note == "" {
			continue
		}
		if v.suggest != nil {
			next = v.suggest(next)
		}
		note = escape(note)
		if r.Problem() {
			note = p.red(note)
		}
		out += note + "\n"
		for _, n := range next {
			out += "  next: " + escape(n.String()) + "\n"
		}
		if r.Fix == neigh.FixKeptPermanent {
			out += "  kept: it is PERMANENT; --include-permanent lets --fix change it\n"
		}
	}
	_, err := io.WriteString(notes, out)
	return err
}

func (v verifyView) verdict(r *neigh.ProbeResult, s string) string {
	switch {
	case r.Problem():
		return v.style.p.red(s)
	case r.Verdict == neigh.VerdictOK:
		return v.style.p.green(s)
	}
	return s
}
