package neigh

import (
	"context"
	"errors"
)

// FlushOptions choose what Flush deletes.
type FlushOptions struct {
	// DryRun reports what would be deleted and deletes nothing.
	DryRun bool
	// IncludePermanent deletes PERMANENT and NOARP entries too; they are
	// set by hand or by the kernel for good, and kept otherwise.
	IncludePermanent bool
	// OnlyWrong probes the selected entries first and deletes only those
	// found stale (mismatch) or dead (no_answer): good entries, and the
	// traffic using them, are left alone.
	OnlyWrong bool
	Probe     ProbeOptions
}

// FlushResult says what a flush did.
type FlushResult struct {
	DryRun bool `json:"dry_run"`
	// Deleted are the entries deleted (with DryRun, to be deleted).
	Deleted []Entry `json:"deleted"`
	Kept    []Kept  `json:"kept"`
	// Gone are entries that vanished between listing and deleting.
	Gone []Entry `json:"gone"`
	// Probed holds the probe results when OnlyWrong.
	Probed []ProbeResult `json:"-"`
}

// Kept is an entry a flush left alone, and why.
type Kept struct {
	Entry  Entry
	Reason string
}

// MarshalJSON writes the entry's object with a "reason" key added.
func (k Kept) MarshalJSON() ([]byte, error) {
	b := k.Entry.AppendJSON(nil)
	b = append(b[:len(b)-1], `,"reason":`...)
	b = appendJSONString(b, k.Reason)
	return append(b, '}'), nil
}

// Flush deletes the entries that match f, over netlink, like
// `ip neigh flush` but IPv4 and IPv6 alike and keeping PERMANENT and
// NOARP entries unless told. Deleting needs CAP_NET_ADMIN.
func (c *Client) Flush(ctx context.Context, f Filter, o FlushOptions) (FlushResult, error) {
	res := FlushResult{DryRun: o.DryRun, Deleted: []Entry{}, Kept: []Kept{}, Gone: []Entry{}}
	entries, err := c.List(f)
	if err != nil {
		return res, err
	}
	var candidates []Entry
	for _, e := range entries {
		if e.State&(Permanent|NoARP) != 0 && !o.IncludePermanent {
			res.Kept = append(res.Kept, Kept{e, e.State.String() + " (--include-permanent deletes it)"})
			continue
		}
		candidates = append(candidates, e)
	}
	if o.OnlyWrong && len(candidates) > 0 {
		probed, err := c.Probe(ctx, candidates, o.Probe)
		if err != nil {
			return res, err
		}
		res.Probed = probed
		candidates = candidates[:0]
		for _, r := range probed {
			switch {
			case r.Corrected():
				res.Kept = append(res.Kept, Kept{r.Entry, "mismatch, corrected by the kernel from the answer"})
			case r.Verdict == VerdictMismatch || r.Verdict == VerdictNoAnswer:
				candidates = append(candidates, r.Entry)
			default:
				res.Kept = append(res.Kept, Kept{r.Entry, "verdict " + string(r.Verdict)})
			}
		}
	}
	for _, e := range candidates {
		if o.DryRun {
			res.Deleted = append(res.Deleted, e)
			continue
		}
		switch err := c.Delete(e); {
		case errors.Is(err, ErrGone):
			res.Gone = append(res.Gone, e)
		case err != nil:
			return res, err
		default:
			res.Deleted = append(res.Deleted, e)
		}
	}
	return res, nil
}
