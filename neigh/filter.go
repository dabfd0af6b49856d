package neigh

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"
)

// Filter selects entries. The zero Filter selects what `ip neigh show`
// shows: every entry but NOARP and NONE ones.
type Filter struct {
	// Interface is an interface name; "" matches all.
	Interface string
	// Family is Inet or Inet6; "" matches both.
	Family Family
	// States is the set of states to show; see ParseStates.
	States StateSet
	// Prefixes keeps entries whose IP is in any of them; none keeps all.
	Prefixes []netip.Prefix
}

// StateSet is a set of NUD states, with NONE (the state 0) as a bit of its
// own. The zero set means the default: all but NOARP and NONE.
type StateSet uint32

const stateSetNone StateSet = 1 << 16

// Special state sets.
const (
	DefaultStates StateSet = 0
	AllStates     StateSet = 0xff | stateSetNone
	// NoneStates is the set holding only NONE.
	NoneStates StateSet = stateSetNone
)

// Has reports whether s is in the set; a state of several bits is in it
// when any of its bits is.
func (set StateSet) Has(s State) bool {
	if set == DefaultStates {
		set = AllStates &^ (StateSet(NoARP) | stateSetNone)
	}
	if s == None {
		return set&stateSetNone != 0
	}
	return set&StateSet(s) != 0
}

// ParseStates reads a comma-separated list of state names, in any case,
// or "all".
func ParseStates(list string) (StateSet, error) {
	var set StateSet
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if strings.EqualFold(name, "all") {
			set |= AllStates
			continue
		}
		s, err := ParseState(name)
		if err != nil {
			return 0, err
		}
		if s == None {
			set |= stateSetNone
		} else {
			set |= StateSet(s)
		}
	}
	if set == 0 {
		return 0, fmt.Errorf("empty state list")
	}
	return set, nil
}

// ParsePrefix reads an IP address (a one-address prefix) or a CIDR prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("invalid IP prefix %q: want an address or CIDR such as 192.0.2.0/24", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("invalid IP address %q: want an address or CIDR such as 192.0.2.0/24", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Match reports whether e passes the filter.
func (f *Filter) Match(e *Entry) bool {
	if f.Interface != "" && e.Interface != f.Interface {
		return false
	}
	if f.Family != "" && e.Family != f.Family {
		return false
	}
	if !f.States.Has(e.State) {
		return false
	}
	if len(f.Prefixes) == 0 {
		return true
	}
	for _, p := range f.Prefixes {
		if p.Contains(e.IP) {
			return true
		}
	}
	return false
}

func (f Family) af() int {
	switch f {
	case Inet:
		return unix.AF_INET
	case Inet6:
		return unix.AF_INET6
	}
	return unix.AF_UNSPEC
}
