package commands

import (
	"fmt"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/spf13/pflag"
)

// entryFilter holds the flags that select neighbor entries, the same for
// every command that works on entries: -i, -4, -6, --state, --ip.
type entryFilter struct {
	Interface  string
	IPv4, IPv6 bool
	States     string
	IPs        []string
}

func (ef *entryFilter) register(f *pflag.FlagSet) {
	f.StringVarP(&ef.Interface, "interface", "i", "", "only entries on this interface")
	f.BoolVarP(&ef.IPv4, "ipv4", "4", false, "only IPv4 (ARP) entries")
	f.BoolVarP(&ef.IPv6, "ipv6", "6", false, "only IPv6 (NDP) entries")
	f.StringVar(&ef.States, "state", "", "only entries in these states, comma-separated (REACHABLE, STALE, DELAY, PROBE, FAILED, INCOMPLETE, PERMANENT, NOARP, NONE), or all")
	f.StringSliceVar(&ef.IPs, "ip", nil, "only entries for this IP or in this CIDR prefix (repeatable)")
}

// filter checks the flags and turns them into a neigh.Filter.
func (ef *entryFilter) filter() (neigh.Filter, error) {
	if ef.IPv4 && ef.IPv6 {
		return neigh.Filter{}, flagErrorf("-4 and -6 exclude each other; give neither for both families")
	}
	f := neigh.Filter{Interface: ef.Interface}
	switch {
	case ef.IPv4:
		f.Family = neigh.Inet
	case ef.IPv6:
		f.Family = neigh.Inet6
	}
	if ef.States != "" {
		s, err := neigh.ParseStates(ef.States)
		if err != nil {
			return neigh.Filter{}, &FlagError{Err: fmt.Errorf("--state: %w", err)}
		}
		f.States = s
	}
	for _, s := range ef.IPs {
		p, err := neigh.ParsePrefix(s)
		if err != nil {
			return neigh.Filter{}, &FlagError{Err: fmt.Errorf("--ip: %w", err)}
		}
		f.Prefixes = append(f.Prefixes, p)
	}
	return f, nil
}
