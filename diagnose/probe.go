package diagnose

import (
	"fmt"

	"github.com/arpdoctor/arpdoctor/neigh"
)

// ProbeRecord is a probe result as verify and doctor write it in JSON.
type ProbeRecord struct {
	IP           string   `json:"ip"`
	Interface    string   `json:"interface"`
	StateBefore  string   `json:"state_before"`
	CachedMAC    string   `json:"cached_mac"`
	AnsweredMACs []string `json:"answered_macs"`
	Verdict      string   `json:"verdict"`
	Problem      bool     `json:"problem"`
	// StateAfter and MACAfter are the entry after probing (and fixing):
	// "gone" when it left the table.
	StateAfter string `json:"state_after"`
	MACAfter   string `json:"mac_after"`
	// CorrectedByKernel says the kernel took the answering MAC from the
	// probe's answer itself.
	CorrectedByKernel bool `json:"corrected_by_kernel"`
	// Fix says what a fix did, when one ran.
	Fix      string `json:"fix,omitempty"`
	Unprobed string `json:"unprobed,omitempty"`
}

// NewProbeRecord flattens a probe result.
func NewProbeRecord(r *neigh.ProbeResult) ProbeRecord {
	v := ProbeRecord{IP: r.Entry.IP.String(), Interface: r.Entry.Interface, StateBefore: r.Entry.State.String(),
		CachedMAC: r.Entry.MAC, AnsweredMACs: r.Answered, Verdict: string(r.Verdict), Problem: r.Problem(),
		StateAfter: "gone", CorrectedByKernel: r.Corrected(), Fix: FixText(r), Unprobed: r.Unprobed}
	if v.AnsweredMACs == nil {
		v.AnsweredMACs = []string{}
	}
	switch {
	case r.After != nil:
		v.StateAfter, v.MACAfter = r.After.State.String(), r.After.MAC
	case r.Entry.State == neigh.NotCached:
		v.StateAfter = r.Entry.State.String() // still not cached
	}
	return v
}

// FixText says what a fix did to the entry, in the words of docs/json.md:
// "replaced: MAC", "deleted", "kept: ...", "none needed: ..."; "" when no
// fix ran.
func FixText(r *neigh.ProbeResult) string {
	switch r.Fix {
	case neigh.FixReplaced:
		return "replaced: " + r.Answered[0]
	case neigh.FixDeleted:
		return "deleted"
	case neigh.FixCorrectedByKernel:
		return "none needed: the kernel took " + r.Answered[0] + " from the probe's answer"
	case neigh.FixAlreadyGone:
		return "none needed: already gone"
	case neigh.FixNothingWrong:
		if r.Verdict == neigh.VerdictUnprobed {
			return "none: not probed"
		}
		return "none needed: " + string(r.Verdict)
	case neigh.FixKeptPermanent:
		return "kept: PERMANENT, set by hand"
	case neigh.FixKeptDuplicate:
		return fmt.Sprintf("kept: %d MACs answer; find out which host should own the IP", len(r.Answered))
	}
	return ""
}
