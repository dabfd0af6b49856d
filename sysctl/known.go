package sysctl

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// The kernel's leaves under net.ipv4.neigh.IF and net.ipv6.neigh.IF: the
// whole of neigh_sysctl_template (net/core/neighbour.c), the same for
// every kernel since 4.x but for interval_probe_time_ms (5.19).
var neighLeaves = []string{
	"anycast_delay", "app_solicit", "base_reachable_time", "base_reachable_time_ms",
	"delay_first_probe_time", "gc_interval", "gc_stale_time", "gc_thresh1", "gc_thresh2",
	"gc_thresh3", "interval_probe_time_ms", "locktime", "mcast_resolicit", "mcast_solicit",
	"proxy_delay", "proxy_qlen", "retrans_time", "retrans_time_ms", "ucast_solicit",
	"unres_qlen", "unres_qlen_bytes",
}

// arpLeaves are the kernel's ARP settings under net.ipv4.conf.IF
// (devinet_sysctl): the arp_ keys there are these and no others.
var arpLeaves = []string{"arp_accept", "arp_announce", "arp_evict_nocarrier", "arp_filter", "arp_ignore", "arp_notify"}

// ndiscLeaves are the kernel's NDP settings under net.ipv6.conf.IF
// (addrconf_sysctl): the ndisc_ keys there are these and no others
// (ndisc_tclass since 4.19, ndisc_evict_nocarrier since 5.18).
var ndiscLeaves = []string{"ndisc_evict_nocarrier", "ndisc_notify", "ndisc_tclass"}

// UnknownKeyError says a key names a setting no kernel has, in a part of
// /proc/sys this package knows whole: the neighbor parameters
// (net.ipv4.neigh, net.ipv6.neigh), the ARP settings of net.ipv4.conf and
// the ndisc_ settings of net.ipv6.conf. A key elsewhere is never unknown:
// the package cannot tell a misspelling there from a setting of a module
// that is not loaded, so only the kernel can: a live check of a rule of the
// user's that does not find the key says there is no such setting.
type UnknownKeyError struct {
	Key Key
	// Reason says what is wrong with it.
	Reason string
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("unknown key %s: %s", e.Key, e.Reason)
}

// Known reports whether the package knows every setting k can name, and
// returns an *UnknownKeyError when k is in a part of /proc/sys the package
// knows whole but names no setting there. A key outside those parts is
// neither: known is false and err nil.
func Known(k Key) (known bool, err error) {
	c := k.components()
	switch {
	case len(c) >= 3 && c[0] == "net" && (c[1] == "ipv4" || c[1] == "ipv6") && c[2] == "neigh":
		if len(c) != 5 {
			return false, &UnknownKeyError{Key: k, Reason: fmt.Sprintf("the neighbor keys are net.%s.neigh.INTERFACE.NAME", c[1])}
		}
		leaf := c[4]
		var matches []string
		for _, l := range neighLeaves {
			if ok, _ := path.Match(leaf, l); ok {
				matches = append(matches, l)
			}
		}
		if len(matches) == 0 {
			return false, &UnknownKeyError{Key: k, Reason: "no kernel has " + leaf + " under neigh" + suggest(leaf, neighLeaves)}
		}
		if ok, _ := path.Match(c[3], "default"); !ok && !slices.ContainsFunc(matches, func(l string) bool { return !slices.Contains(tableKeys, l) }) {
			return false, &UnknownKeyError{Key: k, Reason: leaf + " is the table's, not an interface's: only net." + c[1] + ".neigh.default has it"}
		}
		return true, nil
	case len(c) == 5 && c[0] == "net" && c[1] == "ipv4" && c[2] == "conf" && strings.HasPrefix(c[4], "arp_"):
		if !slices.ContainsFunc(arpLeaves, func(l string) bool { ok, _ := path.Match(c[4], l); return ok }) {
			return false, &UnknownKeyError{Key: k, Reason: "no kernel has " + c[4] + " under net.ipv4.conf" + suggest(c[4], arpLeaves)}
		}
		return true, nil
	case len(c) == 5 && c[0] == "net" && c[1] == "ipv6" && c[2] == "conf" && strings.HasPrefix(c[4], "ndisc_"):
		if !slices.ContainsFunc(ndiscLeaves, func(l string) bool { ok, _ := path.Match(c[4], l); return ok }) {
			return false, &UnknownKeyError{Key: k, Reason: "no kernel has " + c[4] + " under net.ipv6.conf" + suggest(c[4], ndiscLeaves)}
		}
		return true, nil
	}
	return false, nil
}

// suggest names the closest of names to s, when one is close.
func suggest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" {
		return ""
	}
	return " (did you mean " + best + "?)"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
