package exporter

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/arpdoctor/arpdoctor/internal/words"
)

// DefaultMaxInterfaces is how many interfaces keep series of their own in
// each metric; the others are counted under interface="other". With it,
// one scrape stays well under a thousand series however many interfaces
// and entries the host has.
const DefaultMaxInterfaces = 16

// OtherInterface is the interface label that the interfaces past the
// budget share.
const OtherInterface = "other"

// keptInterfaces picks, for a gauge, the interfaces that keep their own
// series in this scrape: the max with the most entries (ties by name).
// max < 0 keeps all.
func keptInterfaces(counts map[string]int, max int) map[string]bool {
	names := make([]string, 0, len(counts))
	for n := range counts {
		names = append(names, n)
	}
	if max >= 0 && len(names) > max {
		slices.SortFunc(names, func(a, b string) int {
			if c := cmp.Compare(counts[b], counts[a]); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		names = names[:max]
	}
	kept := make(map[string]bool, len(names))
	for _, n := range names {
		kept[n] = true
	}
	return kept
}

// interfaceBudget gives a counter's interfaces their labels: the first
// max interfaces seen keep their names, the rest are "other". Unlike a
// gauge's per-scrape choice, this never moves an interface between series
// while it exists, so every series only ever grows, as a counter must. An
// interface that no longer exists gives its name back (release): its
// series go, and the next interface seen takes the slot. What "other"
// counted stays there: a counter never gives anything back.
type interfaceBudget struct {
	max  int // < 0: no limit
	now  func() time.Time
	mu   sync.Mutex
	seen map[string]time.Time // the interfaces with a name of their own: when last seen
}

func newInterfaceBudget(max int) *interfaceBudget {
	return &interfaceBudget{max: max, now: time.Now, seen: map[string]time.Time{}}
}

func (b *interfaceBudget) label(ifname string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.seen[ifname]; ok {
		b.seen[ifname] = b.now()
		return ifname
	}
	if b.max >= 0 && len(b.seen) >= b.max {
		return OtherInterface
	}
	b.seen[ifname] = b.now()
	return ifname
}

// release frees the names of the interfaces that are not present and have
// not been seen since before cutoff, and returns them.
func (b *interfaceBudget) release(present map[string]bool, cutoff time.Time) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var gone []string
	for name, at := range b.seen {
		// An interface named "other" shares its series with those past
		// the budget: dropping it would take back what they counted.
		if name != OtherInterface && !present[name] && at.Before(cutoff) {
			delete(b.seen, name)
			gone = append(gone, name)
		}
	}
	slices.Sort(gone)
	return gone
}

// labelValue is a name from outside (an interface's, a namespace's) as a
// label value. Linux takes any bytes but '/' and NUL in an interface name
// (and /run/netns any in a namespace's), where a label value must be
// UTF-8: client_golang panics on anything else. Invalid bytes and control
// characters are written as Go escapes, as arpdoctor prints such names
// everywhere, so that neither a scrape nor a terminal that shows it is
// at the mercy of a name.
func labelValue(s string) string { return words.Escape(s) }
