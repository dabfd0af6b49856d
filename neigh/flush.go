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
	Entry
	Reason KeepReason `json:"reason"`
	// Verdict is the probe's, when the flush probed (OnlyWrong).
	Verdict Verdict `json:"verdict,omitempty"`
}

// KeepReason says why a flush kept an entry.
type KeepReason string

// Why a flush keeps an entry.
const (
	// KeptPermanent: a PERMANENT or NOARP entry, set by hand or by the
	// kernel for good, and IncludePermanent was not given.
	KeptPermanent KeepReason = "permanent"
	// KeptCorrected: the probe proved it stale, and the kernel took the
	// answering MAC from the answer itself.
	KeptCorrected KeepReason = "corrected_by_kernel"
	// KeptNotWrong: the probe did not prove it wrong (OnlyWrong); Verdict
	// says what it found.
	KeptNotWrong KeepReason = "not_wrong"
)

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
			res.Kept = append(res.Kept, Kept{Entry: e, Reason: KeptPermanent})
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
				res.Kept = append(res.Kept, Kept{Entry: r.Entry, Reason: KeptCorrected, Verdict: r.Verdict})
			case r.Wrong():
				candidates = append(candidates, r.Entry)
			default:
				res.Kept = append(res.Kept, Kept{Entry: r.Entry, Reason: KeptNotWrong, Verdict: r.Verdict})
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
