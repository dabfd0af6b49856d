package neigh

import (
	"fmt"
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Entry is one neighbor-table entry as the kernel reports it.
type Entry struct {
	IP     netip.Addr `json:"ip"`
	Family Family     `json:"family"`
	// MAC is the link-layer address in lower-case colon form, "" when the
	// kernel has none (INCOMPLETE, FAILED, NONE).
	MAC       string `json:"mac"`
	Interface string `json:"interface"`
	IfIndex   int    `json:"ifindex"`
	State     State  `json:"state"`
	Flags     Flags  `json:"flags"`
	// Probes counts the solicitations sent since the entry was last
	// confirmed: non-zero in PROBE or INCOMPLETE means nobody answers.
	Probes uint32 `json:"probes"`
	// The three ages from NDA_CACHEINFO: since the neighbor was last
	// confirmed reachable, since the entry was last used to send, and since
	// the entry last changed.
	ConfirmedAgo Age `json:"confirmed_ago_s"`
	UsedAgo      Age `json:"used_ago_s"`
	UpdatedAgo   Age `json:"updated_ago_s"`
	// Name is the reverse-DNS name, filled only by ResolveNames.
	Name string `json:"name,omitempty"`
}

// Family is an address family, named as ip(8) names it.
type Family string

// The two families of the neighbor table.
const (
	Inet  Family = "inet"  // IPv4, ARP
	Inet6 Family = "inet6" // IPv6, NDP
)

// State is a NUD (neighbor unreachability detection) state bit set, as in
// ndm_state. Almost always exactly one bit is set; 0 is NONE.
type State uint16

// NUD states, from include/uapi/linux/neighbour.h.
const (
	Incomplete State = 0x01
	Reachable  State = 0x02
	Stale      State = 0x04
	Delay      State = 0x08
	Probe      State = 0x10
	Failed     State = 0x20
	NoARP      State = 0x40
	Permanent  State = 0x80
	None       State = 0x00
)

// NotCached is no kernel state: it marks a probe target for an IP the
// cache holds no entry for (see Uncached).
const NotCached State = 0x8000

// Uncached is the target for probing an IP that the cache holds no entry
// for, on interface ifi, as arping asks: who owns it, and is it claimed
// twice? Its probe's verdict is VerdictNotCached, or VerdictDuplicate.
func Uncached(ip netip.Addr, ifi Interface) Entry {
	fam := Inet
	if ip.Is6() && !ip.Is4In6() {
		fam = Inet6
	}
	return Entry{IP: ip.Unmap(), Family: fam, Interface: ifi.Name, IfIndex: ifi.Index, State: NotCached}
}

var stateNames = [...]struct {
	s    State
	name string
}{
	{Incomplete, "INCOMPLETE"},
	{Reachable, "REACHABLE"},
	{Stale, "STALE"},
	{Delay, "DELAY"},
	{Probe, "PROBE"},
	{Failed, "FAILED"},
	{NoARP, "NOARP"},
	{Permanent, "PERMANENT"},
}

// StateNames lists every state name that ParseState accepts, in the order
// the kernel numbers them, NONE last.
func StateNames() []string {
	names := make([]string, 0, len(stateNames)+1)
	for _, n := range stateNames {
		names = append(names, n.name)
	}
	return append(names, "NONE")
}

// String names the state as the kernel and ip(8) do; several bits are
// joined with ",".
func (s State) String() string {
	switch s {
	case None:
		return "NONE"
	case NotCached:
		return "NOT_CACHED"
	}
	if bits.OnesCount16(uint16(s)) == 1 {
		for _, n := range stateNames {
			if n.s == s {
				return n.name
			}
		}
	}
	var parts []string
	for _, n := range stateNames {
		if s&n.s != 0 {
			parts = append(parts, n.name)
			s &^= n.s
		}
	}
	if s != 0 {
		parts = append(parts, "0x"+strconv.FormatUint(uint64(s), 16))
	}
	return strings.Join(parts, ",")
}

// MarshalText makes the JSON form the state's name.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a name as ParseState does.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseState reads one state name, in any case.
func ParseState(name string) (State, error) {
	up := strings.ToUpper(strings.TrimSpace(name))
	if up == "NONE" {
		return None, nil
	}
	for _, n := range stateNames {
		if n.name == up {
			return n.s, nil
		}
	}
	return 0, fmt.Errorf("unknown neighbor state %q (want one of %s, or all)", name, strings.Join(StateNames(), ", "))
}

// HasMAC reports whether the kernel keeps a usable link-layer address in
// this state (NUD_VALID).
func (s State) HasMAC() bool {
	return s&(Permanent|NoARP|Reachable|Probe|Stale|Delay) != 0
}

// Flags are an entry's NTF_* flags (ndm_flags) and NTF_EXT_* flags
// (NDA_FLAGS_EXT), the latter shifted left by 8.
type Flags uint64

// Entry flags. The names are those ip(8) prints.
const (
	FlagUse        Flags = 0x01
	FlagSelf       Flags = 0x02
	FlagMaster     Flags = 0x04
	FlagProxy      Flags = 0x08
	FlagExtLearned Flags = 0x10
	FlagOffloaded  Flags = 0x20
	FlagSticky     Flags = 0x40
	FlagRouter     Flags = 0x80
	FlagExtManaged Flags = 0x01 << flagExtShift
	FlagExtLocked  Flags = 0x02 << flagExtShift

	flagExtShift = 8
)

var flagNames = [...]struct {
	f    Flags
	name string
}{
	{FlagUse, "use"},
	{FlagSelf, "self"},
	{FlagMaster, "master"},
	{FlagProxy, "proxy"},
	{FlagExtLearned, "extern_learn"},
	{FlagOffloaded, "offload"},
	{FlagSticky, "sticky"},
	{FlagRouter, "router"},
	{FlagExtManaged, "managed"},
	{FlagExtLocked, "locked"},
}

// Names lists the flags that are set, by name.
func (f Flags) Names() []string {
	names := []string{}
	for _, n := range flagNames {
		if f&n.f != 0 {
			names = append(names, n.name)
			f &^= n.f
		}
	}
	if f != 0 {
		names = append(names, "0x"+strconv.FormatUint(uint64(f), 16))
	}
	return names
}

// String joins the flag names with ",".
func (f Flags) String() string { return strings.Join(f.Names(), ",") }

// Age is a time since an event, from the kernel's clock ticks.
type Age time.Duration

// Duration returns the age as a time.Duration.
func (a Age) Duration() time.Duration { return time.Duration(a) }

// String is the age for people: 3s, 14m, 2h5m, 3d4h.
func (a Age) String() string { return HumanDuration(time.Duration(a)) }

// HumanDuration writes d as people read ages: seconds up to two minutes,
// minutes and seconds up to ten, minutes up to an hour, then hours and
// minutes, then days and hours. Whole units only; a zero part is left out.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	pair := func(a int64, ua string, b int64, ub string) string {
		if b == 0 {
			return strconv.FormatInt(a, 10) + ua
		}
		return strconv.FormatInt(a, 10) + ua + strconv.FormatInt(b, 10) + ub
	}
	switch {
	case s < 120:
		return strconv.FormatInt(s, 10) + "s"
	case s < 600:
		return pair(s/60, "m", s%60, "s")
	case s < 3600:
		return strconv.FormatInt(s/60, 10) + "m"
	case s < 86400:
		return pair(s/3600, "h", s%3600/60, "m")
	}
	return pair(s/86400, "d", s%86400/3600, "h")
}
