package exporter

import (
	"net/netip"
	"strings"

	"github.com/arpdoctor/arpdoctor/neigh"
)

// verifyRepeats remembers the finding each entry's last verification made,
// so that an entry stuck in the same state (a dead entry the kernel keeps)
// is reported once rather than at every round: repeated, it would push
// every other finding out of the recent findings. An entry's finding is
// reported again once it changes (another verdict, another MAC), or once
// the entry verified fine, or left the table, and then fails again.
type verifyRepeats struct {
	last map[verifyEntry]string
}

// verifyEntry is an entry as verification names it.
type verifyEntry struct {
	ifname string
	ip     netip.Addr
}

// fresh says whether r is a finding to report: a problem, and not the one
// the entry's last verification reported.
func (v *verifyRepeats) fresh(r *neigh.ProbeResult) bool {
	if v.last == nil {
		v.last = map[verifyEntry]string{}
	}
	k := verifyEntry{r.Entry.Interface, r.Entry.IP}
	if !r.Problem() {
		delete(v.last, k)
		return false
	}
	sig := string(r.Verdict) + " " + r.Entry.MAC + " " + strings.Join(r.Answered, ",")
	if v.last[k] == sig {
		return false
	}
	if r.Corrected() {
		// The entry was put right by the round (the kernel took the
		// answering MAC): the same finding again is a new occurrence,
		// not a stuck entry.
		delete(v.last, k)
		return true
	}
	v.last[k] = sig
	return true
}

// keepOnly forgets the entries no longer in the table (of those that were
// to verify), so that one coming back is reported anew and the memory
// stays that of the table.
func (v *verifyRepeats) keepOnly(table []neigh.Entry) {
	if len(v.last) == 0 {
		return
	}
	in := make(map[verifyEntry]bool, len(table))
	for i := range table {
		in[verifyEntry{table[i].Interface, table[i].IP}] = true
	}
	for k := range v.last {
		if !in[k] {
			delete(v.last, k)
		}
	}
}
