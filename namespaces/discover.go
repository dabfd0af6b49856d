package namespaces

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/arpdoctor/arpdoctor/internal/regfile"
	"golang.org/x/sys/unix"
)

// ID identifies a network namespace: the device and inode of its nsfs
// file. Two paths open the same namespace exactly when their IDs are equal.
type ID struct {
	Dev   uint64 `json:"dev"`
	Inode uint64 `json:"inode"`
}

// PathKind says where a namespace's Path comes from, from the most stable
// to the least.
type PathKind string

const (
	// PathNamed is a file under a named-namespace directory (/run/netns),
	// kept until someone deletes it: `ip netns add`, CNI's cni-* names.
	PathNamed PathKind = "named"
	// PathBindMount is a namespace bind-mounted on a file elsewhere, as
	// container runtimes keep a sandbox's namespace (/run/docker/netns).
	PathBindMount PathKind = "bind_mount"
	// PathProcess is /proc/PID/ns/net of a process in the namespace: it
	// opens the namespace only while that process lives (see
	// Namespace.Open).
	PathProcess PathKind = "process"
)

// Process is a process whose network namespace is the one it is listed in.
type Process struct {
	PID int `json:"pid"`
	// Comm is the command name as /proc/PID/comm has it (at most 15 bytes).
	Comm string `json:"comm"`
	// ContainerID is the container the process's cgroup names, if any.
	ContainerID string `json:"container_id,omitempty"`

	start uint64 // start time in clock ticks after boot
	attr  Attribution
}

// Namespace is one network namespace of the machine.
type Namespace struct {
	ID
	// Path opens the namespace: a named file if there is one, else a bind
	// mount, else /proc/PID/ns/net of its longest-lived process.
	Path     string   `json:"path"`
	PathKind PathKind `json:"path_kind"`
	// Name is the file name under a named-namespace directory, as
	// `ip netns list` shows it.
	Name string `json:"name,omitempty"`
	// Initial is true for the machine's own namespace, the one the
	// kernel's threads and PID 1 live in: kthreadd's, or where kernel
	// threads are not to be seen (ProcRoot of a PID namespace), PID 1's.
	// It is never attributed to a container, though host-network
	// containers and pods share it.
	Initial bool `json:"initial"`
	// Processes are the processes in the namespace, by PID; kernel
	// threads are left out.
	Processes []Process `json:"processes,omitempty"`
	// Attribution is that of the namespace's oldest process in a
	// container: for a pod, the sandbox (pause) container that made it.
	Attribution

	procRoot string
}

// Label is a short, stable key for the namespace, for metrics labels and
// messages: the pod UID, else the container ID, else the name, else
// "netns:[inode]" as the kernel writes it.
func (n Namespace) Label() string {
	switch {
	case n.PodUID != "":
		return n.PodUID
	case n.ContainerID != "":
		return n.ContainerID
	case n.Name != "":
		return n.Name
	}
	return fmt.Sprintf("netns:[%d]", n.Inode)
}

// Reason says why something was left out of a discovery.
type Reason string

const (
	// ReasonPermission counts files the process may not read: without
	// root, the namespaces of other users' processes.
	ReasonPermission Reason = "permission"
	// ReasonExited counts processes that exited while they were read.
	ReasonExited Reason = "exited"
	// ReasonVanished counts namespace files that were listed but gone
	// when read: a namespace deleted meanwhile.
	ReasonVanished Reason = "vanished"
	// ReasonNotNetNS counts files in a namespace directory that are no
	// network namespace, such as the empty file a failed `ip netns add`
	// leaves.
	ReasonNotNetNS Reason = "not_netns"
	// ReasonInitialUnknown says neither PID 1's namespace nor a kernel
	// thread's could be read, so no namespace is marked Initial.
	ReasonInitialUnknown Reason = "initial_unknown"
	// ReasonError counts files that failed to read for any other reason.
	ReasonError Reason = "error"
)

// Note tells what a discovery could not see, and how much of it.
type Note struct {
	Reason Reason `json:"reason"`
	Count  int    `json:"count"`
	// Example is the first path concerned.
	Example string `json:"example,omitempty"`
	// Error is the first error's text, for ReasonError.
	Error string `json:"error,omitempty"`
}

// Result is what Discover found.
type Result struct {
	// Namespaces are ordered with the initial namespace first, then by
	// inode (roughly their age).
	Namespaces []Namespace `json:"namespaces"`
	// Processes is how many processes were read, kernel threads left out.
	Processes int `json:"processes"`
	// Notes are what could not be seen; none is an error.
	Notes []Note `json:"notes,omitempty"`
}

// Options says where to look. The zero value looks where a host keeps its
// namespaces.
type Options struct {
	// ProcRoot is the proc filesystem whose processes are read: "/proc",
	// or the node's when running in a container (a hostPath at /host/proc
	// in a pod with hostPID). Paths in the result are under it, so they
	// open from where the reader is; the node's named namespaces are then
	// found through PID 1's mount table, as ProcRoot/1/root/run/netns/NAME,
	// unless NamedDirs points at the node's /run/netns.
	ProcRoot string
	// NamedDirs hold named namespaces; nil means /run/netns and
	// /var/run/netns, an empty slice none.
	NamedDirs []string
	// BindDirs hold runtimes' bind-mounted namespaces; nil means
	// /run/docker/netns and /var/run/docker/netns, an empty slice none.
	BindDirs []string
	// SkipMounts leaves out the mount tables, which find nsfs bind mounts
	// wherever a runtime put them: this process's own, and PID 1's under
	// ProcRoot (reached through ProcRoot/1/root, so a containerised reader
	// can open them).
	SkipMounts bool
	// Concurrency bounds how many processes are read at once; 0 means 4.
	Concurrency int
}

// Default directories.
var (
	DefaultNamedDirs = []string{"/run/netns", "/var/run/netns"}
	DefaultBindDirs  = []string{"/run/docker/netns", "/var/run/docker/netns"}
)

// system is the boundary to the kernel: identifying a namespace file, and
// where this process's own proc directory is.
type system struct {
	// netnsID identifies the network namespace at path, or returns
	// errNotNetNS. trusted is set for the files of /proc/PID/ns, which
	// are what their names say, so a stat will do (and identifies a
	// namespace of any type).
	netnsID func(path string, trusted bool) (ID, error)
	// self is this process's own /proc/self, whose mount table has paths
	// this process can open as they are.
	self string
}

var errNotNetNS = errors.New("not a network namespace")

var realSystem = system{netnsID: statNetNS, self: "/proc/self"}

// Discover finds every network namespace of the machine, each once. A
// process or namespace that goes away while it is read is left out (and
// counted in the notes), as is what this process may not read: without
// root, the namespaces of other users' processes. Only an unreadable
// ProcRoot or a cancelled ctx fail it.
//
// It reads three small files of each process (stat, ns/net, cgroup), at
// most Options.Concurrency at a time, and opens nothing it keeps: the
// result is a snapshot, and a namespace in it may be gone by the time it
// is used (Namespace.Open says so). A namespace that only a thread holds
// (one that called setns(2) on its own, as neigh.NetNS.Do does) is not
// seen unless it is also named or mounted: /proc/PID shows a process's
// main thread.
func Discover(ctx context.Context, opts Options) (Result, error) {
	return discover(ctx, opts, realSystem)
}

// pathRank orders the ways of reaching a namespace, most stable first.
var pathRank = map[PathKind]int{PathNamed: 0, PathBindMount: 1, PathProcess: 2}

type entry struct {
	ns    Namespace
	procs []Process
}

type discovery struct {
	sys      system
	procRoot string
	byID     map[ID]*entry
	notes    map[Reason]*Note
	// mounted maps this process's nsfs mount points to their namespaces.
	mounted map[string]ID
}

func discover(ctx context.Context, opts Options, sys system) (Result, error) {
	if opts.ProcRoot == "" {
		opts.ProcRoot = "/proc"
	}
	if opts.NamedDirs == nil {
		opts.NamedDirs = DefaultNamedDirs
	}
	if opts.BindDirs == nil {
		opts.BindDirs = DefaultBindDirs
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	d := &discovery{sys: sys, procRoot: opts.ProcRoot, byID: map[ID]*entry{}, notes: map[Reason]*Note{}}

	// Processes first: a missing ProcRoot is the one fatal error, and
	// better found before anything else is read.
	procs, err := d.readProcesses(ctx, opts.ProcRoot, opts.Concurrency)
	if err != nil {
		return Result{}, err
	}
	var own, initMounts []nsMount
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if !opts.SkipMounts {
		own = d.readMounts(filepath.Join(sys.self, "mountinfo"))
		// PID 1's table is the same as ours when we share its mount
		// namespace (a reader on the host): a node's can hold thousands
		// of mounts, so it is read only when it can differ.
		selfMnt, err1 := sys.netnsID(filepath.Join(sys.self, "ns", "mnt"), true)
		initMnt, err2 := sys.netnsID(filepath.Join(opts.ProcRoot, "1", "ns", "mnt"), true)
		if err1 != nil || err2 != nil || selfMnt != initMnt {
			initMounts = d.readMounts(filepath.Join(opts.ProcRoot, "1", "mountinfo"))
		}
	}
	// What this process's own table says needs no opening: a named
	// namespace is a bind mount, and the table names its namespace.
	d.mounted = make(map[string]ID, len(own))
	for _, m := range own {
		d.mounted[m.mountPoint] = m.id
	}
	scanned := map[string]bool{}
	for _, dir := range opts.NamedDirs {
		d.scanDir(dir, PathNamed, scanned)
	}
	for _, dir := range opts.BindDirs {
		d.scanDir(dir, PathBindMount, scanned)
	}
	d.addMounts(own, "")
	d.addMounts(initMounts, filepath.Join(opts.ProcRoot, "1", "root"))
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	return d.result(procs), nil
}

func (d *discovery) note(r Reason, path string, err error) {
	n := d.notes[r]
	if n == nil {
		n = &Note{Reason: r, Example: path}
		if r == ReasonError && err != nil {
			n.Error = err.Error()
		}
		d.notes[r] = n
	}
	n.Count++
}

// noteErr files err under its reason.
func (d *discovery) noteErr(path string, err error) {
	d.note(reasonOf(err), path, err)
}

func reasonOf(err error) Reason {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, unix.ESRCH):
		return ReasonVanished
	case errors.Is(err, fs.ErrPermission), errors.Is(err, unix.EPERM):
		return ReasonPermission
	case errors.Is(err, errNotNetNS):
		return ReasonNotNetNS
	}
	return ReasonError
}

// add records one way of reaching a namespace; the most stable one wins,
// and among equals the first found.
func (d *discovery) add(id ID, kind PathKind, path, name string) *entry {
	e := d.byID[id]
	if e == nil {
		e = &entry{ns: Namespace{ID: id, Path: path, PathKind: kind, Name: name, procRoot: d.procRoot}}
		d.byID[id] = e
		return e
	}
	if pathRank[kind] < pathRank[e.ns.PathKind] || e.ns.Path == "" && path != "" {
		e.ns.Path, e.ns.PathKind = path, kind
	}
	if e.ns.Name == "" {
		e.ns.Name = name
	}
	return e
}

// scanDir adds the namespace files in dir. A directory already scanned
// under another name (/var/run is mostly a link to /run) is skipped.
func (d *discovery) scanDir(dir string, kind PathKind, scanned map[string]bool) {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		if scanned[real] {
			return
		}
		scanned[real] = true
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.noteErr(dir, err)
		}
		return
	}
	for _, de := range ents {
		if de.IsDir() {
			continue
		}
		path := filepath.Join(dir, de.Name())
		id, ok := d.mounted[path]
		if !ok {
			if id, err = d.sys.netnsID(path, false); err != nil {
				d.noteErr(path, err)
				continue
			}
		}
		name := ""
		if kind == PathNamed {
			name = de.Name()
		}
		d.add(id, kind, path, name)
	}
}

// readMounts reads the network namespaces bound in a mount table.
func (d *discovery) readMounts(table string) []nsMount {
	var buf []byte
	b, err := readProcFile(table, &buf, maxMountTable)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			d.noteErr(table, err)
		}
		return nil
	}
	return parseNetNSMounts(string(b))
}

// addMounts adds bound namespaces, with root prefixed to their mount
// points ("" for this process's own table).
func (d *discovery) addMounts(ms []nsMount, root string) {
	top := make(map[string]int, len(ms))
	for i, m := range ms {
		top[m.mountPoint] = i
	}
	for i, m := range ms {
		if top[m.mountPoint] != i {
			// Mounted over since: the path opens the later mount.
			continue
		}
		kind, name := PathBindMount, ""
		if dir := filepath.Dir(m.mountPoint); slices.Contains(DefaultNamedDirs, dir) {
			kind, name = PathNamed, filepath.Base(m.mountPoint)
		}
		d.add(m.id, kind, root+m.mountPoint, name)
	}
}

// procInfo is what was read of one /proc/PID.
type procInfo struct {
	Process
	id      ID
	skip    bool   // a kernel thread, or gone
	kthread bool   // kthreadd, read for the initial namespace
	errPath string // where reading failed
	err     error
}

func (d *discovery) readProcesses(ctx context.Context, root string, workers int) ([]procInfo, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("reading processes in %s: %w", root, err)
	}
	var pids []int
	for _, de := range ents {
		if pid, err := strconv.Atoi(de.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	infos := make([]procInfo, len(pids))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, len(pids)) {
		wg.Go(func() {
			buf := make([]byte, 4096)
			for {
				i := int(next.Add(1) - 1)
				if i >= len(pids) || ctx.Err() != nil {
					return
				}
				infos[i] = d.readProcess(root, pids[i], &buf)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return infos, nil
}

// PF_KTHREAD in /proc/PID/stat's flags marks a kernel thread.
const pfKthread = 0x00200000

// readProcess reads what it needs of /proc/PID into buf, which it may grow.
func (d *discovery) readProcess(root string, pid int, buf *[]byte) procInfo {
	dir := filepath.Join(root, strconv.Itoa(pid))
	p := procInfo{Process: Process{PID: pid}}
	fail := func(path string, err error) procInfo {
		p.skip, p.errPath, p.err = true, path, err
		return p
	}
	statPath := filepath.Join(dir, "stat")
	b, err := readProcFile(statPath, buf, maxProcFile)
	if err != nil {
		return fail(statPath, err)
	}
	st, ok := parseStat(string(b))
	if !ok {
		return fail(statPath, fmt.Errorf("reading %s: unexpected format", statPath))
	}
	p.Comm, p.start = st.comm, st.start
	if st.flags&pfKthread != 0 {
		// Kernel threads all live in the initial namespace and belong
		// to nobody: only kthreadd (whose parent is 0) is read, to
		// know which namespace that is.
		if st.ppid != 0 {
			p.skip = true
			return p
		}
		p.kthread = true
	}
	nsPath := filepath.Join(dir, "ns", "net")
	if p.id, err = d.sys.netnsID(nsPath, true); err != nil {
		return fail(nsPath, err)
	}
	if p.kthread {
		return p
	}
	cgPath := filepath.Join(dir, "cgroup")
	if b, err = readProcFile(cgPath, buf, maxProcFile); err != nil {
		if reasonOf(err) == ReasonVanished {
			return fail(cgPath, err)
		}
		// The namespace is known; only its owner is not.
		p.errPath, p.err = cgPath, err
		return p
	}
	p.attr = ParseCgroup(string(b))
	p.ContainerID = p.attr.ContainerID
	return p
}

// maxProcFile bounds what is read of a process's stat or cgroup file: a
// few hundred bytes in practice, a few KiB with many cgroup v1 hierarchies.
// Anything longer is not what the kernel writes there.
const maxProcFile = 64 << 10

// maxMountTable bounds a mount table: a node with tens of thousands of
// mounts writes a few MiB.
const maxMountTable = 32 << 20

// Errors of readProcFile.
var (
	errNotRegular = regfile.ErrNotRegular
	errTooLarge   = regfile.ErrTooLarge
)

// readProcFile reads a small file of /proc into buf, with fewer system
// calls than os.ReadFile: on a node with thousands of processes they are
// most of the cost of a discovery. The result is valid until buf is reused.
//
// What lies under a proc root given on the command line is not trusted: a
// FIFO, /dev/zero or /proc/kmsg stand in for a file as easily (see
// regfile.Read).
func readProcFile(path string, buf *[]byte, limit int) ([]byte, error) {
	b, err := regfile.Read(path, *buf, limit, nil)
	if err != nil {
		*buf = (*buf)[:0]
		return nil, err
	}
	*buf = b
	return b, nil
}

type procStat struct {
	comm  string
	ppid  int
	flags uint64
	start uint64
}

// parseStat reads the fields of /proc/PID/stat it needs. The command name
// sits in parentheses and may itself hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStat(s string) (procStat, bool) {
	open := strings.IndexByte(s, '(')
	end := strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, false
	}
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state); ppid is field 4, flags 9, starttime 22.
	if len(f) < 20 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	flags, err2 := strconv.ParseUint(f[6], 10, 64)
	start, err3 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, false
	}
	return procStat{comm: s[open+1 : end], ppid: ppid, flags: flags, start: start}, true
}

func (d *discovery) result(procs []procInfo) Result {
	var res Result
	var initial, kthreadd *procInfo
	for i := range procs {
		p := &procs[i]
		if p.err != nil {
			if p.skip && reasonOf(p.err) == ReasonVanished {
				d.note(ReasonExited, p.errPath, p.err)
			} else {
				d.noteErr(p.errPath, p.err)
			}
		}
		if p.skip {
			continue
		}
		if p.kthread {
			// kthreadd never exits: its path is the initial
			// namespace's most stable one after a name.
			kthreadd = p
			d.add(p.id, PathProcess, filepath.Join(d.procRoot, strconv.Itoa(p.PID), "ns", "net"), "")
			continue
		}
		res.Processes++
		if p.PID == 1 {
			initial = p
		}
		e := d.add(p.id, PathProcess, "", "")
		e.procs = append(e.procs, p.Process)
		e.procs[len(e.procs)-1].attr = p.attr
	}
	var initialID *ID
	switch {
	case kthreadd != nil:
		initialID = &kthreadd.id
	case initial != nil:
		initialID = &initial.id
	default:
		d.note(ReasonInitialUnknown, filepath.Join(d.procRoot, "1", "ns", "net"), nil)
	}

	res.Namespaces = make([]Namespace, 0, len(d.byID))
	for _, e := range d.byID {
		ns := e.ns
		ns.Initial = initialID != nil && ns.ID == *initialID
		slices.SortFunc(e.procs, func(a, b Process) int { return cmp.Compare(a.PID, b.PID) })
		ns.Processes = e.procs
		oldest := oldestOf(e.procs, func(Process) bool { return true })
		if ns.Path == "" && oldest != nil {
			// The oldest process is the likeliest to outlive the
			// others: for a pod, the sandbox that holds the namespace.
			ns.Path = filepath.Join(d.procRoot, strconv.Itoa(oldest.PID), "ns", "net")
		}
		if !ns.Initial {
			ns.Attribution = ownerOf(e.procs)
		}
		res.Namespaces = append(res.Namespaces, ns)
	}
	slices.SortFunc(res.Namespaces, func(a, b Namespace) int {
		if a.Initial != b.Initial {
			if a.Initial {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Inode, b.Inode), cmp.Compare(a.Dev, b.Dev))
	})
	for _, r := range []Reason{ReasonPermission, ReasonExited, ReasonVanished, ReasonNotNetNS, ReasonInitialUnknown, ReasonError} {
		if n := d.notes[r]; n != nil {
			res.Notes = append(res.Notes, *n)
		}
	}
	return res
}

// ownerOf attributes a namespace to its oldest process in a container
// (monitors, which run outside their container, do not count), else to
// its oldest process in a pod.
func ownerOf(procs []Process) Attribution {
	if p := oldestOf(procs, func(p Process) bool { return p.attr.ContainerID != "" && !p.attr.Monitor }); p != nil {
		return p.attr
	}
	if p := oldestOf(procs, func(p Process) bool { return p.attr.PodUID != "" }); p != nil {
		return p.attr
	}
	return Attribution{}
}

func oldestOf(procs []Process, ok func(Process) bool) *Process {
	var best *Process
	for i := range procs {
		p := &procs[i]
		if ok(*p) && (best == nil || p.start < best.start || p.start == best.start && p.PID < best.PID) {
			best = p
		}
	}
	return best
}
