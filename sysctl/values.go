package sysctl

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"golang.org/x/sys/unix"
)

// Sources of values, as reports name them.
const (
	SourceProc          = "/proc/sys"
	SourceNetlink       = "netlink"
	SourceKernelDefault = "kernel default"
)

// Mode says where a snapshot's values come from.
type Mode string

// The three ways to read values.
const (
	// ModeLive reads the running kernel's values.
	ModeLive Mode = "live"
	// ModeConfig reads what the config files under a root set at boot.
	ModeConfig Mode = "config"
	// ModeFiles reads what the files named set.
	ModeFiles Mode = "files"
)

// Value is a setting's value and where it was learned: SourceProc,
// SourceNetlink, SourceKernelDefault, or a config file's "path:line".
type Value struct {
	Key    Key    `json:"key"`
	Value  string `json:"value"`
	Source string `json:"source"`
}

// ipFamily ties a /proc/sys/net directory to its neighbor table.
type ipFamily struct {
	dir      string // "ipv4"
	name     string // "IPv4"
	family   neigh.Family
	table    string // the kernel's name for the table
	protocol string // what fills the table
}

var ipFamilies = []ipFamily{
	{"ipv4", "IPv4", neigh.Inet, "arp_cache", "ARP (IPv4)"},
	{"ipv6", "IPv6", neigh.Inet6, "ndisc_cache", "NDP (IPv6)"},
}

func familyOf(f neigh.Family) ipFamily {
	for _, x := range ipFamilies {
		if x.family == f {
			return x
		}
	}
	return ipFamily{dir: string(f), name: string(f), family: f, table: string(f), protocol: string(f)}
}

// Leaf names of the keys read.
var (
	// tableKeys exist only under neigh.default: they are the table's, not
	// an interface's.
	tableKeys = []string{"gc_thresh1", "gc_thresh2", "gc_thresh3", "gc_interval"}
	// interfaceNeighKeys exist per interface and under neigh.default,
	// which new interfaces copy.
	interfaceNeighKeys = []string{"gc_stale_time", "base_reachable_time_ms", "delay_first_probe_time",
		"ucast_solicit", "mcast_solicit", "mcast_resolicit", "locktime"}
	arpKeys = []string{"arp_notify", "arp_accept", "arp_ignore", "arp_announce"}
	// ndiscKeys are the NDP settings read under net.ipv6.conf.IF.
	ndiscKeys = []string{"ndisc_notify"}
)

// kernelDefault is the value the kernel starts with, for the keys this
// package reads (net/ipv4/arp.c and net/ipv6/ndisc.c tables, devinet
// defaults).
func kernelDefault(k Key) (string, bool) {
	c := k.components()
	switch {
	case len(c) == 5 && c[0] == "net" && c[2] == "neigh" && (c[1] == "ipv4" || c[1] == "ipv6"):
		switch c[4] {
		case "gc_thresh1":
			return "128", c[3] == "default"
		case "gc_thresh2":
			return "512", c[3] == "default"
		case "gc_thresh3":
			return "1024", c[3] == "default"
		case "gc_interval":
			return "30", c[3] == "default"
		case "gc_stale_time":
			return "60", true
		case "base_reachable_time_ms":
			return "30000", true
		case "delay_first_probe_time":
			return "5", true
		case "ucast_solicit", "mcast_solicit":
			return "3", true
		case "mcast_resolicit":
			return "0", true
		case "locktime":
			// USER_HZ ticks: one second for ARP, none for NDP.
			if c[1] == "ipv4" {
				return "100", true
			}
			return "0", true
		}
	case len(c) == 5 && c[0] == "net" && c[1] == "ipv4" && c[2] == "conf" && slices.Contains(arpKeys, c[4]):
		return "0", true
	case len(c) == 5 && c[0] == "net" && c[1] == "ipv6" && c[2] == "conf" && slices.Contains(ndiscKeys, c[4]):
		return "0", true
	}
	return "", false
}

// neighKey names net.FAMILY.neigh.IF.LEAF.
func neighKey(f ipFamily, ifname, leaf string) Key {
	return keyOf("net", f.dir, "neigh", ifname, leaf)
}

// confKey names net.ipv4.conf.IF.LEAF.
func confKey(ifname, leaf string) Key { return keyOf("net", "ipv4", "conf", ifname, leaf) }

// conf6Key names net.ipv6.conf.IF.LEAF.
func conf6Key(ifname, leaf string) Key { return keyOf("net", "ipv6", "conf", ifname, leaf) }

// isInterfaceKey reports whether k is one of the per-interface keys this
// package reads, for any interface.
func isInterfaceKey(k Key) bool {
	c := k.components()
	if len(c) != 5 || c[0] != "net" {
		return false
	}
	switch {
	case c[2] == "neigh" && (c[1] == "ipv4" || c[1] == "ipv6"):
		return slices.Contains(interfaceNeighKeys, c[4]) || c[3] == "default" && slices.Contains(tableKeys, c[4])
	case c[1] == "ipv4" && c[2] == "conf":
		return slices.Contains(arpKeys, c[4])
	case c[1] == "ipv6" && c[2] == "conf":
		return slices.Contains(ndiscKeys, c[4])
	}
	return false
}

// Snapshot is a set of values read one way, and what else the checks need
// to know about where they came from.
type Snapshot struct {
	Mode   Mode    `json:"mode"`
	Values []Value `json:"values"`
	// Interfaces are those with ARP settings of their own (the
	// directories of /proc/sys/net/ipv4/conf but all, default and lo);
	// live only.
	Interfaces []string `json:"interfaces,omitempty"`
	// IPv6Interfaces are those with IPv6 settings of their own (the
	// directories of /proc/sys/net/ipv6/conf but all, default and lo);
	// live only.
	IPv6Interfaces []string `json:"ipv6_interfaces,omitempty"`
	// Tables are the neighbor tables' counts and counters; live only,
	// and only when the kernel was asked.
	Tables []TableUse `json:"tables,omitempty"`
	// InitialNamespace says these are values of the initial network
	// namespace (or what config files set at boot, which is the same):
	// only there do config files restore values at boot.
	InitialNamespace bool `json:"initial_namespace"`
	// Notes say what could not be read, and what was read instead.
	Notes []string `json:"notes,omitempty"`

	index map[Key]int
	// unseen says, for keys looked for live that could not be read, why:
	// the kernel may have them all the same. A key looked for live that
	// is neither read nor unseen is one the kernel does not have here.
	unseen map[Key]string
	// noDefaults are the families whose /proc/sys lacks neigh.default, as
	// every network namespace's but the initial one's does; familiesOff
	// those with no /proc/sys/net directory at all.
	noDefaults, familiesOff []string
}

// TableUse is how full a neighbor table is and how often it was in
// trouble.
type TableUse struct {
	Family neigh.Family `json:"family"`
	// Name is the kernel's name for the table: arp_cache or ndisc_cache.
	Name string `json:"name"`
	// Entries counts the entries of the namespace read that are not
	// PERMANENT: the ones the garbage collector counts against the
	// thresholds. -1 when they could not be listed.
	Entries int `json:"entries"`
	// MachineEntries counts the entries of every namespace, PERMANENT ones
	// included: the table and gc_thresh3 are the machine's, and a host of
	// many small namespaces fills it while each looks empty.
	MachineEntries uint32 `json:"machine_entries"`
	// TableFulls and ForcedGCRuns count, machine-wide since boot, the
	// times the table refused a new entry and the times the kernel had to
	// force a collection.
	TableFulls   uint64 `json:"table_fulls"`
	ForcedGCRuns uint64 `json:"forced_gc_runs"`
}

// Lookup returns the value of key, if the snapshot has it.
func (s *Snapshot) Lookup(key Key) (Value, bool) {
	if i, ok := s.index[key]; ok {
		return s.Values[i], true
	}
	return Value{}, false
}

// Table returns the counts of a family's table, if the kernel reported it.
func (s *Snapshot) Table(f neigh.Family) (TableUse, bool) {
	for _, t := range s.Tables {
		if t.Family == f {
			return t, true
		}
	}
	return TableUse{}, false
}

func (s *Snapshot) add(v Value) {
	if s.index == nil {
		s.index = map[Key]int{}
	}
	if i, ok := s.index[v.Key]; ok {
		s.Values[i] = v
		return
	}
	s.index[v.Key] = len(s.Values)
	s.Values = append(s.Values, v)
}

// standardKeys are the keys every snapshot tries to have: the tables' and
// the defaults new interfaces get, and the ARP settings of all and
// default.
func standardKeys() []Key {
	var ks []Key
	for _, f := range ipFamilies {
		for _, leaf := range slices.Concat(tableKeys, interfaceNeighKeys) {
			ks = append(ks, neighKey(f, "default", leaf))
		}
	}
	for _, ifname := range []string{"all", "default"} {
		for _, leaf := range arpKeys {
			ks = append(ks, confKey(ifname, leaf))
		}
	}
	for _, ifname := range []string{"all", "default"} {
		for _, leaf := range ndiscKeys {
			ks = append(ks, conf6Key(ifname, leaf))
		}
	}
	return ks
}

// Values returns what the config sets at boot for the standard keys, for
// the per-interface keys it sets explicitly, and for extra. A glob in extra
// stands for every key an assignment sets that it matches, and for a glob
// assignment written the same way (which sets whatever the kernel has that
// matches). Keys it leaves unset take the kernel's default, where this
// package knows it; others are left out.
func (c *Config) Values(mode Mode, extra []Key) *Snapshot {
	s := &Snapshot{Mode: mode, InitialNamespace: true}
	keys := standardKeys()
	assignments := c.Assignments()
	for _, a := range assignments {
		if !a.Exclude && !a.Key.IsGlob() && isInterfaceKey(a.Key) {
			keys = append(keys, a.Key)
		}
	}
	for _, k := range extra {
		if !k.IsGlob() {
			keys = append(keys, k)
			continue
		}
		for _, a := range assignments {
			if a.Exclude || !k.Matches(a.Key) {
				continue
			}
			if a.Key.IsGlob() {
				if _, ok := s.Lookup(a.Key); !ok {
					s.add(Value{Key: a.Key, Value: a.Value, Source: a.Where()})
				}
				continue
			}
			keys = append(keys, a.Key)
		}
	}
	for _, k := range keys {
		if _, ok := s.Lookup(k); ok {
			continue
		}
		if a, ok := c.Lookup(k); ok {
			s.add(Value{Key: k, Value: a.Value, Source: a.Where()})
		} else if v, ok := kernelDefault(k); ok {
			s.add(Value{Key: k, Value: v, Source: SourceKernelDefault})
		}
	}
	s.reorder()
	return s
}

// Kernel is what a live check asks the kernel over netlink: the neighbor
// tables' parameters and counters, and how many entries the namespace
// holds. A *neigh.Client is one.
type Kernel interface {
	Tables(family neigh.Family) ([]neigh.Table, error)
	Census() ([]neigh.Group, error)
}

// Running says where the running kernel's values are read.
type Running struct {
	// Root is where /proc is: "/" on a running machine, or a tree, inside
	// which every path is resolved.
	Root string
	// Do runs f inside the network namespace to read, on a locked OS
	// thread: /proc/sys/net shows the namespace of the thread that reads
	// it. Nil reads the caller's namespace.
	Do func(f func() error) error
	// Kernel answers over netlink, in the same namespace; nil when there
	// is none to ask.
	Kernel Kernel
}

// NoProcSysError says there are no running values under a root: it has no
// /proc/sys/net, as a machine image's tree has not.
type NoProcSysError struct {
	Root string
}

func (e *NoProcSysError) Error() string {
	return fmt.Sprintf("no live values: there is no %s", filepath.Join(e.Root, "proc/sys/net"))
}

// ReadRunning reads the running values: the standard keys, every
// interface's, and extra; a glob in extra reads every key under /proc/sys
// it matches. Table-wide values missing from /proc/sys, as they are in
// every network namespace but the initial one, are taken from the
// kernel's neighbor-table parameters over netlink, and a note says so. A
// root without /proc/sys/net is a *NoProcSysError.
func ReadRunning(src Running, extra []Key) (*Snapshot, error) {
	t, err := openTree(src.Root)
	if err != nil {
		return nil, fmt.Errorf("reading live values: %w", err)
	}
	defer t.Close()
	s := &Snapshot{Mode: ModeLive}
	const procSys = "/proc/sys"
	do := src.Do
	if do == nil {
		do = func(f func() error) error { return f() }
	}
	var missingDefaults []ipFamily
	err = do(func() error {
		if _, err := t.stat(procSys + "/net"); errors.Is(err, fs.ErrNotExist) {
			return &NoProcSysError{Root: src.Root}
		} else if err != nil {
			return fmt.Errorf("reading live values: %w", err)
		}
		for _, f := range ipFamilies {
			if !t.isDir(path.Join(procSys, "net", f.dir)) {
				s.Notes = append(s.Notes, fmt.Sprintf("there is no /proc/sys/net/%s: %s is off on this machine", f.dir, f.name))
				s.familiesOff = append(s.familiesOff, f.dir)
				continue
			}
			dir := path.Join(procSys, "net", f.dir, "neigh")
			if t.isDir(path.Join(dir, "default")) {
				if f.dir == "ipv4" {
					s.InitialNamespace = true
				}
			} else {
				missingDefaults = append(missingDefaults, f)
				s.noDefaults = append(s.noDefaults, f.dir)
			}
			for _, leaf := range slices.Concat(tableKeys, interfaceNeighKeys) {
				s.readProc(t, neighKey(f, "default", leaf))
			}
			for _, ifname := range t.interfaceDirs(dir) {
				for _, leaf := range interfaceNeighKeys {
					s.readProc(t, neighKey(f, ifname, leaf))
				}
			}
		}
		s.Interfaces = t.interfaceDirs(path.Join(procSys, "net", "ipv4", "conf"))
		for _, ifname := range slices.Concat([]string{"all", "default"}, s.Interfaces) {
			for _, leaf := range arpKeys {
				s.readProc(t, confKey(ifname, leaf))
			}
		}
		s.IPv6Interfaces = t.interfaceDirs(path.Join(procSys, "net", "ipv6", "conf"))
		for _, ifname := range slices.Concat([]string{"all", "default"}, s.IPv6Interfaces) {
			for _, leaf := range ndiscKeys {
				s.readProc(t, conf6Key(ifname, leaf))
			}
		}
		for _, k := range extra {
			if k.IsGlob() {
				for _, m := range t.globProc(k) {
					if _, ok := s.Lookup(m); !ok {
						s.readProc(t, m)
					}
				}
			} else if _, ok := s.Lookup(k); !ok {
				s.readProc(t, k)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if src.Kernel != nil {
		s.askKernel(src.Kernel, missingDefaults)
		s.dropNoARP(src.Kernel)
	}
	for _, f := range missingDefaults {
		switch _, reported := s.Table(f.family); {
		case src.Kernel == nil:
			s.Notes = append(s.Notes, fmt.Sprintf("net.%s.neigh.default is not in /proc/sys and there is no kernel to ask over netlink: the table-wide values are not visible", f.dir))
		case !reported:
			s.Notes = append(s.Notes, fmt.Sprintf("net.%s.neigh.default is not in /proc/sys and the kernel reported no %s table over netlink: the table-wide values are not visible", f.dir, f.family))
		default:
			s.Notes = append(s.Notes, fmt.Sprintf("net.%s.neigh.default is not in /proc/sys: only the initial network namespace has it, so the table-wide values (machine-wide, as the table is) were read over netlink", f.dir))
		}
	}
	s.reorder()
	return s, nil
}

// ReadRunningWithBoot reads the running values as ReadRunning does and,
// when they are the initial network namespace's, what the config files
// under src.Root will set at boot: it sets opts.Boot and opts.ConfigFiles,
// so that Check can say when a value will not survive a reboot.
func ReadRunningWithBoot(src Running, extra []Key, opts *CheckOptions) (*Snapshot, error) {
	snap, err := ReadRunning(src, extra)
	if err != nil || !snap.InitialNamespace {
		return snap, err
	}
	cfg, err := LoadSystemConfig(src.Root)
	if err != nil {
		return nil, err
	}
	keys := make([]Key, 0, len(snap.Values))
	for _, v := range snap.Values {
		keys = append(keys, v.Key)
	}
	opts.Boot, opts.ConfigFiles = cfg.Values(ModeConfig, keys), cfg.Files
	return snap, nil
}

// maxValueLen bounds what is read of one /proc/sys file: the longest
// values, such as a port range list, are far shorter.
const maxValueLen = 64 << 10

// readProc reads one key under /proc/sys of the tree; a key that is not
// there is left out, a key that cannot be read gets a note, and is
// remembered as one the kernel may have.
func (s *Snapshot) readProc(t *treeRoot, k Key) {
	b, err := t.readValue(k)
	var special *SpecialFileError
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ENOTDIR),
		errors.As(err, &special) && special.Kind == "a directory":
		// No such file, a path through a file, or a directory of
		// settings: no such setting.
		return
	case err != nil:
		s.Notes = append(s.Notes, fmt.Sprintf("reading %s: %v", k, err))
		if s.unseen == nil {
			s.unseen = map[Key]string{}
		}
		s.unseen[k] = fmt.Sprintf("%s could not be read: %v", k, err)
		return
	}
	// Vectors such as ip_local_port_range are tab-separated; config files
	// write them with spaces.
	s.add(Value{Key: k, Value: strings.Join(strings.Fields(string(b)), " "), Source: SourceProc})
}

// readValue reads a key's file, which must be a regular file as every one
// of /proc/sys is: under a tree, a FIFO in its place would block.
func (t *treeRoot) readValue(k Key) ([]byte, error) {
	f, err := t.openRegular("/proc/sys/" + k.Path())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxValueLen))
}

// interfaceLister is a Kernel that can also list interfaces with their
// flags (*neigh.Client can).
type interfaceLister interface {
	Interfaces() ([]neigh.Interface, error)
}

// dropNoARP leaves out of the interfaces judged by ARP and NDP rules those
// that do not speak ARP (IFF_NOARP: tunnels, ifb, wireguard): their ARP
// and NDP settings mean nothing. Their values stay among those read.
func (s *Snapshot) dropNoARP(k Kernel) {
	il, ok := k.(interfaceLister)
	if !ok {
		return
	}
	ifs, err := il.Interfaces()
	if err != nil {
		return
	}
	noarp := map[string]bool{}
	for _, i := range ifs {
		if i.Flags&unix.IFF_NOARP != 0 {
			noarp[i.Name] = true
		}
	}
	// Neighbor discovery skips them too: their neighbors are NOARP.
	s.Interfaces = slices.DeleteFunc(s.Interfaces, func(n string) bool { return noarp[n] })
	s.IPv6Interfaces = slices.DeleteFunc(s.IPv6Interfaces, func(n string) bool { return noarp[n] })
}

// askKernel fills in the table-wide values /proc/sys lacked, and the
// tables' counts and counters.
func (s *Snapshot) askKernel(k Kernel, missingDefaults []ipFamily) {
	tables, err := k.Tables("")
	if err != nil {
		s.Notes = append(s.Notes, err.Error())
		return
	}
	// PERMANENT entries are exempt from the thresholds: they are not
	// counted against them.
	counts := map[neigh.Family]int{}
	groups, err := k.Census()
	if err != nil {
		s.Notes = append(s.Notes, err.Error())
		counts = nil
	}
	for _, g := range groups {
		if g.State&neigh.Permanent == 0 {
			counts[g.Family] += g.Entries
		}
	}
	for _, t := range tables {
		f := familyOf(t.Family)
		if slices.Contains(missingDefaults, f) {
			for leaf, v := range tableValues(t) {
				k := neighKey(f, "default", leaf)
				if _, ok := s.Lookup(k); !ok {
					s.add(Value{Key: k, Value: v, Source: SourceNetlink})
				}
			}
		}
		use := TableUse{Family: t.Family, Name: t.Name, Entries: -1, MachineEntries: t.Entries,
			TableFulls: t.Stats.TableFulls, ForcedGCRuns: t.Stats.ForcedGCRuns}
		if counts != nil {
			use.Entries = counts[t.Family]
		}
		if use.Name == "" {
			use.Name = f.table
		}
		s.Tables = append(s.Tables, use)
	}
}

// tableValues turns netlink's table parameters into the values and units
// /proc/sys shows.
func tableValues(t neigh.Table) map[string]string {
	d := t.Defaults
	u := func(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
	sec := func(m neigh.Millis) string { return strconv.FormatInt(int64(m.Duration()/time.Second), 10) }
	ms := func(m neigh.Millis) string { return strconv.FormatInt(m.Duration().Milliseconds(), 10) }
	// locktime is in USER_HZ ticks, a hundredth of a second.
	ticks := func(m neigh.Millis) string { return strconv.FormatInt(m.Duration().Milliseconds()/10, 10) }
	return map[string]string{
		"gc_thresh1":             u(t.Thresh1),
		"gc_thresh2":             u(t.Thresh2),
		"gc_thresh3":             u(t.Thresh3),
		"gc_interval":            sec(t.GCInterval),
		"gc_stale_time":          sec(d.GCStaleTime),
		"base_reachable_time_ms": ms(d.BaseReachableTime),
		"delay_first_probe_time": sec(d.DelayProbeTime),
		"ucast_solicit":          u(d.UcastProbes),
		"mcast_solicit":          u(d.McastProbes),
		"mcast_resolicit":        u(d.McastReprobes),
		"locktime":               ticks(d.Locktime),
	}
}

// reorder puts the values in the order reports list them: the standard
// keys first, then interfaces, then the rest as read.
func (s *Snapshot) reorder() {
	rank := map[Key]int{}
	for i, k := range standardKeys() {
		rank[k] = i + 1
	}
	slices.SortStableFunc(s.Values, func(a, b Value) int {
		ra, rb := rank[a.Key], rank[b.Key]
		switch {
		case ra != 0 && rb != 0:
			return ra - rb
		case ra != 0:
			return -1
		case rb != 0:
			return 1
		}
		return 0
	})
	s.index = map[Key]int{}
	for i, v := range s.Values {
		s.index[v.Key] = i
	}
}

// maxGlobMatches bounds the keys one glob reads: a pattern such as
// net.*.*.*.* over a host with thousands of interfaces would otherwise
// read tens of thousands of files.
const maxGlobMatches = 4096

// globProc lists the keys under /proc/sys of the tree that the glob k
// matches, a wildcard spanning no component, as systemd-sysctl globs them.
func (t *treeRoot) globProc(k Key) []Key {
	comps := k.components()
	paths := []string{"/proc/sys"}
	for i, c := range comps {
		last := i == len(comps)-1
		var next []string
		for _, dir := range paths {
			if !isGlob(c) {
				next = append(next, path.Join(dir, c))
				continue
			}
			ents, err := t.readDir(dir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				if ok, _ := path.Match(c, e.Name()); ok && (last || e.IsDir()) {
					next = append(next, path.Join(dir, e.Name()))
				}
			}
		}
		if len(next) > maxGlobMatches {
			next = next[:maxGlobMatches]
		}
		paths = next
	}
	var keys []Key
	for _, p := range paths {
		rel := strings.Split(strings.TrimPrefix(p, "/proc/sys/"), "/")
		keys = append(keys, keyOf(rel...))
	}
	return keys
}

// interfaceDirs lists the interfaces under a neigh or conf directory of
// the tree, but all, default and lo: loopback does no ARP or NDP.
func (t *treeRoot) interfaceDirs(dir string) []string {
	ents, err := t.readDir(dir)
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		switch n := e.Name(); n {
		case "all", "default", "lo":
		default:
			if e.IsDir() {
				names = append(names, n)
			}
		}
	}
	return names
}
