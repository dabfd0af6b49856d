package neigh

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/arpdoctor/arpdoctor/internal/words"
)

// Verdict says what probing found out about a cached entry.
type Verdict string

// Verdicts.
const (
	// VerdictOK: the owner of the IP answered from the cached MAC.
	VerdictOK Verdict = "ok"
	// VerdictMismatch: the IP answered from another MAC than the cached
	// one (or answered, where the cache has no MAC): the entry is stale.
	VerdictMismatch Verdict = "mismatch"
	// VerdictNoAnswer: nobody answered for the IP: the entry is dead.
	VerdictNoAnswer Verdict = "no_answer"
	// VerdictDuplicate: more than one MAC answered for the IP.
	VerdictDuplicate Verdict = "duplicate"
	// VerdictUnprobed: the entry could not be probed; Unprobed says why.
	VerdictUnprobed Verdict = "unprobed"
	// VerdictNotCached: the cache holds no entry for the IP (a target made
	// by Uncached); Answered says who owns it, if anyone. Several owners
	// make it VerdictDuplicate.
	VerdictNotCached Verdict = "not_cached"
)

// ProbeOptions pace the probes.
type ProbeOptions struct {
	// Timeout is how long to wait for answers after an entry's last
	// request; 0 means 1s.
	Timeout time.Duration
	// Retries is how many times a request is sent again to an IP that has
	// not answered, RetryInterval apart.
	Retries int
	// RetryInterval spaces the requests to one IP; 0 means 200ms.
	RetryInterval time.Duration
}

// ProbeResult is what probing one cached entry found.
type ProbeResult struct {
	// Entry is the cache entry as it was before probing.
	Entry Entry
	// Answered lists the MACs that answered, in the order they first did.
	Answered []string
	// After is the entry as the kernel holds it after probing, nil when it
	// is gone: the kernel learns from the answers too, and may already
	// have corrected a stale entry.
	After   *Entry
	Verdict Verdict
	// Unprobed says why the entry was not probed (VerdictUnprobed).
	Unprobed string
	// Fix says what Fix did to the entry; "" when Fix was not run.
	Fix FixOutcome
}

// FixOutcome says what Fix did to one entry, and why.
type FixOutcome string

// What Fix does, entry by entry.
const (
	// FixNothingWrong: the probe found nothing to fix (ok, or not probed).
	FixNothingWrong FixOutcome = "nothing_wrong"
	// FixReplaced: a stale entry now holds the MAC that answered.
	FixReplaced FixOutcome = "replaced"
	// FixDeleted: a dead entry was deleted.
	FixDeleted FixOutcome = "deleted"
	// FixCorrectedByKernel: the kernel took the answering MAC itself, from
	// the probe's answer, before Fix ran: nothing left to do.
	FixCorrectedByKernel FixOutcome = "corrected_by_kernel"
	// FixAlreadyGone: the dead entry had left the table by itself.
	FixAlreadyGone FixOutcome = "already_gone"
	// FixKeptPermanent: a wrong PERMANENT entry, kept because the caller
	// did not include permanent entries.
	FixKeptPermanent FixOutcome = "kept_permanent"
	// FixKeptDuplicate: several MACs answer; which owner is right is for a
	// person to say.
	FixKeptDuplicate FixOutcome = "kept_duplicate"
)

// Fixed reports whether, after Fix, the entry is no longer wrong: it was
// fine, or it was replaced, deleted or corrected.
func (o FixOutcome) Fixed() bool {
	switch o {
	case FixNothingWrong, FixReplaced, FixDeleted, FixCorrectedByKernel, FixAlreadyGone:
		return true
	}
	return false
}

// Problem reports whether the verdict is a problem: a stale or contested
// entry, or a dead one that the kernel still counts as usable.
func (r *ProbeResult) Problem() bool {
	switch r.Verdict {
	case VerdictMismatch, VerdictDuplicate:
		return true
	case VerdictNoAnswer:
		return r.Entry.State&(Reachable|Stale|Delay|Probe) != 0
	}
	return false
}

// Corrected reports whether a stale entry was corrected by the kernel
// itself, from the answer to the probe: it now holds the MAC that answered,
// and not because Fix replaced it.
func (r *ProbeResult) Corrected() bool {
	return r.Verdict == VerdictMismatch && r.Fix != FixReplaced && r.After != nil && r.After.MAC == r.Answered[0]
}

// Probing paces: a new IP is started, and due repeats are sent, once per
// probeTick; at most maxInFlight IPs per interface await answers at once.
// After the first answer, further answers are awaited for dupWindow only:
// two owners answer a broadcast within milliseconds of each other.
const (
	probeTick   = time.Millisecond
	maxInFlight = 256
	dupWindow   = 250 * time.Millisecond
)

// prober sends requests for IPs of one family on one interface and hears
// the answers. The real ones speak ARP and NDP on the wire; tests give
// fakes that answer as they are told.
type prober interface {
	send(ip netip.Addr) error
	// answers delivers (IP, MAC) pairs until close, or until done is
	// closed.
	answers(out chan<- answer, done <-chan struct{})
	close() error
}

type answer struct {
	ip  netip.Addr
	mac string
}

// Probe asks the network who owns the IP of each entry, with an ARP request
// broadcast for IPv4 and a neighbor solicitation to the solicited-node
// multicast address for IPv6, as the kernel does when it resolves an IP
// afresh, and compares the answers with the cache. The probes of all
// entries run at once, paced, so that a /24 of entries, half of them
// dead, takes about as long as one dead entry. Entries without a MAC are
// probed too, to say who answers. Results come in the order of entries.
// When ctx ends first, Probe returns what was proven so far with ctx's
// error: the entries whose answers were not all in are VerdictUnprobed.
// Probing needs CAP_NET_RAW.
func (c *Client) Probe(ctx context.Context, entries []Entry, o ProbeOptions) ([]ProbeResult, error) {
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = 200 * time.Millisecond
	}
	results := make([]ProbeResult, len(entries))
	type group struct {
		ifindex int
		family  Family
	}
	groups := map[group][]int{}
	for i, e := range entries {
		results[i].Entry = e
		g := group{e.IfIndex, e.Family}
		groups[g] = append(groups[g], i)
	}
	links, err := c.links()
	if err != nil {
		return nil, err
	}
	addrs, err := c.addrs()
	if err != nil {
		return nil, err
	}
	// Open every prober before sending anything: a missing privilege
	// fails the whole run at once, while an interface that cannot be
	// probed (gone, not Ethernet, no IPv6) leaves its entries unprobed and
	// the others are probed all the same.
	type job struct {
		p    prober
		name string
		idx  []int
	}
	var jobs []job
	closeAll := func() {
		for _, j := range jobs {
			j.p.close()
		}
	}
	for g, idx := range groups {
		link, ok := links[g.ifindex]
		var p prober
		err := errors.New("the interface is gone")
		if ok {
			p, err = c.openProber(link, g.family, addrs[g.ifindex])
		}
		if err != nil {
			err = probeError(link.name, err)
			var pe *PrivilegeError
			if errors.As(err, &pe) {
				closeAll()
				return nil, err
			}
			for _, i := range idx {
				results[i].Verdict, results[i].Unprobed = VerdictUnprobed, words.OneLine(err.Error())
			}
			continue
		}
		jobs = append(jobs, job{p, link.name, idx})
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	finished := make([]bool, len(entries))
	for _, j := range jobs {
		wg.Go(func() {
			defer j.p.close()
			err := runProbes(ctx, j.p, entries, j.idx, results, finished, o)
			if err != nil && ctx.Err() == nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("probing on %s: %w", j.name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i := range results {
		switch r := &results[i]; {
		case r.Verdict == VerdictUnprobed:
		case !finished[i] && ctx.Err() != nil:
			// Stopped before its answers were in: what it proves is
			// nothing yet.
			r.Verdict, r.Unprobed, r.Answered = VerdictUnprobed, "interrupted before the answers were in", nil
		case r.Entry.State == NotCached && len(r.Answered) <= 1:
			r.Verdict = VerdictNotCached
		default:
			r.Verdict = verdict(r.Entry.MAC, r.Answered)
		}
	}
	if err := ctx.Err(); err != nil {
		// What was proven so far, and why the rest was not.
		return results, err
	}
	return results, c.fillAfter(results)
}

// runProbes sends the requests for the entries idx on one prober and
// collects the answers into results.
func runProbes(ctx context.Context, p prober, entries []Entry, idx []int, results []ProbeResult, finished []bool, o ProbeOptions) error {
	ans := make(chan answer, 256)
	done := make(chan struct{})
	defer close(done)
	go p.answers(ans, done)
	type state struct {
		i          int
		sent       int
		next, end  time.Time
		answeredAt time.Time
		macs       map[string]bool
	}
	active := map[netip.Addr]*state{}
	queue := idx
	tick := time.NewTicker(probeTick)
	defer tick.Stop()
	for len(queue) > 0 || len(active) > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case a := <-ans:
			st := active[a.ip]
			if st == nil || st.macs[a.mac] {
				continue
			}
			st.macs[a.mac] = true
			r := &results[st.i]
			r.Answered = append(r.Answered, a.mac)
			if st.answeredAt.IsZero() {
				st.answeredAt = time.Now()
				if end := st.answeredAt.Add(dupWindow); end.Before(st.end) {
					st.end = end
				}
			}
		case now := <-tick.C:
			if len(queue) > 0 && len(active) < maxInFlight {
				i := queue[0]
				queue = queue[1:]
				ip := entries[i].IP
				if _, dup := active[ip]; !dup {
					st := &state{i: i, next: now, macs: map[string]bool{},
						end: now.Add(time.Duration(o.Retries)*o.RetryInterval + o.Timeout)}
					active[ip] = st
				}
			}
			for ip, st := range active {
				if st.answeredAt.IsZero() && st.sent <= o.Retries && !now.Before(st.next) {
					if err := p.send(ip); err != nil {
						return err
					}
					st.sent++
					st.next = now.Add(o.RetryInterval)
				}
				if now.After(st.end) {
					finished[st.i] = true
					delete(active, ip)
				}
			}
		}
	}
	return nil
}

// verdict compares the answers with the cached MAC. An entry without a
// MAC (INCOMPLETE, FAILED) that one host answers for is ok: the kernel
// has nothing wrong cached, and learns the MAC when it asks next.
func verdict(cached string, answered []string) Verdict {
	switch {
	case len(answered) == 0:
		return VerdictNoAnswer
	case len(answered) > 1:
		return VerdictDuplicate
	case answered[0] == cached || cached == "":
		return VerdictOK
	}
	return VerdictMismatch
}

// fillAfter reads the table again and records each entry as it is now.
func (c *Client) fillAfter(results []ProbeResult) error {
	now, err := c.List(Filter{States: AllStates})
	if err != nil {
		return err
	}
	for i := range results {
		e := &results[i].Entry
		results[i].After = nil
		for j := range now {
			if now[j].IfIndex == e.IfIndex && now[j].IP == e.IP {
				results[i].After = &now[j]
				break
			}
		}
	}
	return nil
}

// Wrong reports whether probing proved the entry wrong: stale (another MAC
// answered, and the kernel has not taken it yet) or dead (nobody answered).
// Fix and a flush of wrong entries act on exactly these. A dead FAILED or
// INCOMPLETE entry is wrong without being a Problem: the kernel already
// knows nobody answers, but the entry is worth removing all the same.
func (r *ProbeResult) Wrong() bool {
	switch r.Verdict {
	case VerdictMismatch:
		return !r.Corrected()
	case VerdictNoAnswer:
		return true
	}
	return false
}

// Fix acts on the verdicts: a stale entry is replaced by the one MAC that
// answered (REACHABLE: it just answered), a dead entry is deleted. A
// duplicate is left alone: which owner is right is for a person to say.
// PERMANENT entries are changed only with includePermanent. Each result's
// Fix says what was done, and After what the entry is now. Fixing needs
// CAP_NET_ADMIN.
func (c *Client) Fix(results []ProbeResult, includePermanent bool) error {
	for i := range results {
		r := &results[i]
		e := r.Entry
		switch {
		case r.Verdict == VerdictDuplicate:
			r.Fix = FixKeptDuplicate
			continue
		case r.Corrected():
			r.Fix = FixCorrectedByKernel
			continue
		case !r.Wrong():
			r.Fix = FixNothingWrong
			continue
		case e.State == Permanent && !includePermanent:
			r.Fix = FixKeptPermanent
			continue
		}
		if r.Verdict == VerdictMismatch {
			state := Reachable
			if e.State == Permanent {
				state = Permanent
			}
			if err := c.Replace(e, r.Answered[0], state); err != nil {
				return err
			}
			r.Fix = FixReplaced
			continue
		}
		switch err := c.Delete(e); {
		case errors.Is(err, ErrGone):
			r.Fix = FixAlreadyGone
		case err != nil:
			return err
		default:
			r.Fix = FixDeleted
		}
	}
	return c.fillAfter(results)
}
