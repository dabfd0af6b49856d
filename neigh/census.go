package neigh

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"

	"golang.org/x/sys/unix"
)

// A Group is how many entries of a table share a family, an interface and
// a state.
type Group struct {
	Family    Family `json:"family"`
	Interface string `json:"interface"`
	IfIndex   int    `json:"ifindex"`
	State     State  `json:"state"`
	Entries   int    `json:"entries"`
}

// Census counts the namespace's entries, every state, by family, interface
// and state, in that order of interface name, family and state. It is what
// a metric needs of a table: it reads the same dump as List but keeps no
// entry, so a 20,000-entry table costs a few groups, not 20,000 addresses
// and MACs. The entries counted are those List returns.
func (c *Client) Census() ([]Group, error) {
	names, err := c.linkNames()
	if err != nil {
		return nil, err
	}
	type key struct {
		family  Family
		ifindex int
		state   State
	}
	var counts map[key]int
	err = retryDump(func() error {
		counts = map[key]int{}
		return c.conn.neighbors(unix.AF_UNSPEC, func(m []byte) {
			if family, ifindex, state, ok := parseNeighHeader(m); ok {
				counts[key{family, ifindex, state}]++
			}
		})
	})
	if err != nil {
		return nil, fmt.Errorf("counting neighbors: %w", err)
	}
	out := make([]Group, 0, len(counts))
	for k, n := range counts {
		name := names[k.ifindex]
		if name == "" {
			name = fmt.Sprintf("if%d", k.ifindex)
		}
		out = append(out, Group{Family: k.family, Interface: name, IfIndex: k.ifindex, State: k.state, Entries: n})
	}
	sortGroups(out)
	return out, nil
}

// CensusOf counts entries as Census counts a table.
func CensusOf(entries []Entry) []Group {
	type key struct {
		family  Family
		ifname  string
		ifindex int
		state   State
	}
	counts := map[key]int{}
	for i := range entries {
		e := &entries[i]
		counts[key{e.Family, e.Interface, e.IfIndex, e.State}]++
	}
	out := make([]Group, 0, len(counts))
	for k, n := range counts {
		out = append(out, Group{Family: k.family, Interface: k.ifname, IfIndex: k.ifindex, State: k.state, Entries: n})
	}
	sortGroups(out)
	return out
}

func sortGroups(gs []Group) {
	slices.SortFunc(gs, func(a, b Group) int {
		return cmp.Or(cmp.Compare(a.Interface, b.Interface), cmp.Compare(a.Family, b.Family), cmp.Compare(a.State, b.State))
	})
}

// parseNeighHeader reads what Census needs of one RTM_NEWNEIGH payload,
// and whether parseNeigh would take it as an entry: an IPv4 or IPv6
// neighbor whose destination is an address of its family.
func parseNeighHeader(m []byte) (family Family, ifindex int, state State, ok bool) {
	if len(m) < sizeofNdmsg {
		return "", 0, 0, false
	}
	size := 0
	switch m[0] {
	case unix.AF_INET:
		family, size = Inet, 4
	case unix.AF_INET6:
		family, size = Inet6, 16
	default:
		return "", 0, 0, false
	}
	attrs(m[sizeofNdmsg:], func(typ uint16, v []byte) {
		if typ == ndaDst {
			ok = len(v) == size
		}
	})
	if !ok {
		return "", 0, 0, false
	}
	return family, int(int32(binary.NativeEndian.Uint32(m[4:]))), State(binary.NativeEndian.Uint16(m[8:])), true
}
