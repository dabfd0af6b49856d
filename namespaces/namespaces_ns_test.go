package namespaces_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/arpdoctor/arpdoctor/namespaces"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
)

// netnsID is a namespace file's identity as Discover reports it.
func netnsID(t testing.TB, path string) namespaces.ID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return namespaces.ID{Dev: st.Dev, Inode: st.Ino}
}

// startInNewNetNS starts `sleep` in a network namespace of its own, held
// by nothing else, and kills it when the test ends (or when stop is called).
func startInNewNetNS(t testing.TB, setup func(pid int)) (pid int, stop func()) {
	t.Helper()
	sleep := neightest.RequireCommand(t, "sleep")
	cmd := exec.Command(sleep, "1000")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		if errors.Is(err, unix.EPERM) {
			neightest.Skip(t, "starting a process in a new network namespace needs CAP_SYS_ADMIN: %v", err)
		}
		t.Fatalf("starting sleep: %v", err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	if setup != nil {
		setup(cmd.Process.Pid)
	}
	return cmd.Process.Pid, stop
}

// bindMountNetNS keeps pid's namespace on an empty file under dir, as
// container runtimes keep a sandbox's, and unmounts it when the test ends.
func bindMountNetNS(t testing.TB, dir string, pid int, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("/proc/%d/ns/net", pid)
	if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
		if errors.Is(err, unix.EPERM) {
			neightest.Skip(t, "bind-mounting a namespace needs CAP_SYS_ADMIN: %v", err)
		}
		t.Fatalf("bind-mounting %s on %s: %v", src, path, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", path, err)
		}
	})
	return path
}

func discover(t testing.TB) namespaces.Result {
	t.Helper()
	res, err := namespaces.Discover(context.Background(), namespaces.Options{})
	if err != nil {
		t.Fatalf("Discover: %v", err)
	}
	return res
}

// initialID is the initial namespace's identity: kthreadd's, a kernel
// thread's, which lives there whatever PID 1 does.
func initialID(t testing.TB) namespaces.ID { return netnsID(t, "/proc/2/ns/net") }

// TestDiscoverLive makes 30 namespaces of the three kinds and finds each
// exactly once, with the path it is best reached by.
func TestDiscoverLive(t *testing.T) {
	selfBefore := netnsID(t, "/proc/self/ns/net")
	initBefore := initialID(t)

	type made struct {
		kind namespaces.PathKind
		path string
		name string
		pid  int // of the only process in it, for PathProcess
	}
	want := map[namespaces.ID]made{}
	var names, paths []string
	var pids []int

	// Registered first so that it runs last, after every other cleanup:
	// nothing the test made is left.
	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		for _, ns := range discover(t).Namespaces {
			if slices.Contains(names, ns.Name) || slices.Contains(paths, ns.Path) {
				t.Errorf("%s is still there after the test", ns.Path)
			}
			for _, p := range ns.Processes {
				if slices.Contains(pids, p.PID) {
					t.Errorf("process %d is still in %s after the test", p.PID, ns.Path)
				}
			}
		}
		if got := netnsID(t, "/proc/self/ns/net"); got != selfBefore {
			t.Errorf("the test process's namespace changed: %v, was %v", got, selfBefore)
		}
	})

	for i := range 10 {
		ns := neightest.NewNamespace(t, fmt.Sprintf("disc%d", i))
		path := filepath.Join(neigh.NamedNetNSDir, ns.Name)
		want[netnsID(t, path)] = made{kind: namespaces.PathNamed, path: path, name: ns.Name}
		names = append(names, ns.Name)
	}
	for range 10 {
		pid, _ := startInNewNetNS(t, nil)
		path := fmt.Sprintf("/proc/%d/ns/net", pid)
		want[netnsID(t, path)] = made{kind: namespaces.PathProcess, path: path, pid: pid}
		pids = append(pids, pid)
	}
	dir := t.TempDir()
	for i := range 10 {
		pid, stop := startInNewNetNS(t, nil)
		path := bindMountNetNS(t, dir, pid, fmt.Sprintf("ns%d", i))
		want[netnsID(t, path)] = made{kind: namespaces.PathBindMount, path: path}
		paths = append(paths, path)
		pids = append(pids, pid)
		// The mount alone holds the namespace now.
		stop()
	}
	if len(want) != 30 {
		t.Fatalf("made %d distinct namespaces, want 30", len(want))
	}

	res := discover(t)
	seen := map[namespaces.ID]int{}
	initials := 0
	for _, ns := range res.Namespaces {
		seen[ns.ID]++
		if ns.Initial {
			initials++
			if ns.ID != initBefore {
				t.Errorf("initial namespace is %v, want %v", ns.ID, initBefore)
			}
		}
		m, ok := want[ns.ID]
		if !ok {
			continue
		}
		if ns.PathKind != m.kind || ns.Path != m.path || ns.Name != m.name || ns.Initial {
			t.Errorf("namespace %v: got kind %s path %s name %q initial %v, want kind %s path %s name %q",
				ns.ID, ns.PathKind, ns.Path, ns.Name, ns.Initial, m.kind, m.path, m.name)
		}
		var gotPIDs []int
		for _, p := range ns.Processes {
			gotPIDs = append(gotPIDs, p.PID)
			if p.Comm != "sleep" {
				t.Errorf("process %d in %s: comm %q, want sleep", p.PID, ns.Path, p.Comm)
			}
		}
		var wantPIDs []int
		if m.pid != 0 {
			wantPIDs = []int{m.pid}
		}
		if !slices.Equal(gotPIDs, wantPIDs) {
			t.Errorf("processes in %s: %v, want %v", ns.Path, gotPIDs, wantPIDs)
		}
		if ns.Label() != m.name && ns.Label() != fmt.Sprintf("netns:[%d]", ns.Inode) {
			t.Errorf("label of %s: %q", ns.Path, ns.Label())
		}
	}
	for id, m := range want {
		if seen[id] != 1 {
			t.Errorf("%s (%s) found %d times, want once", m.path, m.kind, seen[id])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("namespace %v listed %d times", id, n)
		}
	}
	if initials != 1 {
		t.Errorf("%d namespaces marked initial, want 1", initials)
	}
	if t.Failed() {
		return
	}

	// Each kind opens, and what opens is the namespace discovered.
	for _, ns := range res.Namespaces {
		if _, ok := want[ns.ID]; !ok {
			continue
		}
		c, err := ns.Open()
		if err != nil {
			t.Errorf("opening %s: %v", ns.Path, err)
			continue
		}
		if got := fdID(t, c.NetNS().Fd()); got != ns.ID {
			t.Errorf("opening %s reached %v, want %v", ns.Path, got, ns.ID)
		}
		if c.NetNS().Spec != ns.Spec() {
			t.Errorf("client of %s has spec %q, want %q", ns.Path, c.NetNS().Spec, ns.Spec())
		}
		es, err := c.List(neigh.Filter{})
		if err != nil {
			t.Errorf("listing %s: %v", ns.Path, err)
		}
		if len(es) != 0 {
			t.Errorf("%s has %d neighbor entries, want none", ns.Path, len(es))
		}
		c.Close()
	}
}

func fdID(t testing.TB, fd int) namespaces.ID {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatalf("fstat: %v", err)
	}
	return namespaces.ID{Dev: st.Dev, Inode: st.Ino}
}

// TestOpenGone: a namespace held only by a process is gone with it, and
// Open says so rather than open whatever the path now leads to.
func TestOpenGone(t *testing.T) {
	pid, stop := startInNewNetNS(t, nil)
	id := netnsID(t, fmt.Sprintf("/proc/%d/ns/net", pid))
	var ns *namespaces.Namespace
	res := discover(t)
	for i := range res.Namespaces {
		if res.Namespaces[i].ID == id {
			ns = &res.Namespaces[i]
		}
	}
	if ns == nil {
		t.Fatalf("namespace of process %d not found", pid)
	}
	stop()
	if c, err := ns.Open(); !errors.Is(err, namespaces.ErrGone) {
		if c != nil {
			c.Close()
		}
		t.Errorf("Open after the process exited: %v, want ErrGone", err)
	}
	if n, err := ns.OpenNetNS(); !errors.Is(err, namespaces.ErrGone) {
		if n != nil {
			n.Close()
		}
		t.Errorf("OpenNetNS after the process exited: %v, want ErrGone", err)
	}
}

// cgroup2Root is where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup,
// or /sys/fs/cgroup/unified on a hybrid system.
func cgroup2Root() string {
	for _, dir := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return dir
		}
	}
	return ""
}

// TestDiscoverAttributesLive puts a process in a cgroup named as kubelet
// (systemd driver) and containerd name a burstable pod's container, under
// a parent of the test's own, and finds its namespace attributed to them.
func TestDiscoverAttributesLive(t *testing.T) {
	root := cgroup2Root()
	if root == "" {
		t.Skip("no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified (neither is cgroup2fs)")
	}
	b := make([]byte, 4+16+32)
	rand.Read(b)
	rnd, uidHex, idHex := hex.EncodeToString(b[:4]), hex.EncodeToString(b[4:20]), hex.EncodeToString(b[20:])
	uid := uidHex[:8] + "-" + uidHex[8:12] + "-" + uidHex[12:16] + "-" + uidHex[16:20] + "-" + uidHex[20:]
	dirs := []string{filepath.Join(root, "arpdt-"+rnd)}
	for _, c := range []string{
		"kubepods.slice",
		"kubepods-burstable.slice",
		"kubepods-burstable-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice",
		"cri-containerd-" + idHex + ".scope",
	} {
		dirs = append(dirs, filepath.Join(dirs[len(dirs)-1], c))
	}
	for i, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EROFS) {
				neightest.Skip(t, "making a cgroup needs root: %v", err)
			}
			t.Fatalf("making cgroup %s: %v", d, err)
		}
		if i == 0 {
			t.Cleanup(func() {
				for _, d := range slices.Backward(dirs) {
					if err := unix.Rmdir(d); err != nil && !errors.Is(err, unix.ENOENT) {
						t.Errorf("removing cgroup %s: %v", d, err)
					}
				}
			})
		}
	}
	leaf := dirs[len(dirs)-1]
	pid, _ := startInNewNetNS(t, func(pid int) {
		if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			t.Fatalf("moving process %d into %s: %v", pid, leaf, err)
		}
	})

	id := netnsID(t, fmt.Sprintf("/proc/%d/ns/net", pid))
	var got *namespaces.Namespace
	res := discover(t)
	for i := range res.Namespaces {
		if res.Namespaces[i].ID == id {
			got = &res.Namespaces[i]
		}
	}
	if got == nil {
		t.Fatalf("namespace of process %d not found", pid)
	}
	cgroup := strings.TrimPrefix(leaf, root)
	want := namespaces.Attribution{
		Runtime: namespaces.RuntimeContainerd, ContainerID: idHex,
		PodUID: uid, QoSClass: namespaces.QoSBurstable, Cgroup: cgroup,
	}
	if got.Attribution != want {
		t.Errorf("attribution:\n got %+v\nwant %+v", got.Attribution, want)
	}
	if got.Label() != uid {
		t.Errorf("label %q, want the pod UID %q", got.Label(), uid)
	}
	if len(got.Processes) != 1 || got.Processes[0].PID != pid || got.Processes[0].ContainerID != idHex {
		t.Errorf("processes %+v, want process %d in container %s", got.Processes, pid, idHex)
	}
}

// BenchmarkDiscover finds the machine's namespaces with 200 named ones of
// the benchmark's own (empty: no neighbor entries) among them.
func BenchmarkDiscover(b *testing.B) {
	for i := range 200 {
		neightest.NewNamespace(b, fmt.Sprintf("bench%d", i))
	}
	b.ResetTimer()
	var res namespaces.Result
	for b.Loop() {
		var err error
		if res, err = namespaces.Discover(context.Background(), namespaces.Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(res.Namespaces)), "namespaces")
	b.ReportMetric(float64(res.Processes), "processes")
}

// TestDiscoverWhileChurning runs discoveries while processes with
// namespaces of their own start and exit: every discovery succeeds, and
// what goes away meanwhile is counted, never an error.
func TestDiscoverWhileChurning(t *testing.T) {
	sleep := neightest.RequireCommand(t, "sleep")
	// One first, in the foreground, so a missing privilege skips cleanly.
	startInNewNetNS(t, nil)
	done := make(chan struct{})
	churned := make(chan int)
	go func() {
		n := 0
		defer func() { churned <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			cmd := exec.Command(sleep, "1000")
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
			if cmd.Start() != nil {
				return
			}
			cmd.Process.Kill()
			cmd.Wait()
			n++
		}
	}()
	for range 30 {
		res := discover(t)
		for _, n := range res.Notes {
			if n.Reason == namespaces.ReasonError {
				t.Errorf("note %+v", n)
			}
		}
	}
	close(done)
	if n := <-churned; n == 0 {
		t.Errorf("no process came and went during the discoveries")
	}
}

// TestDiscoverUnprivileged discovers as an ordinary user, in a copy of the
// test binary run as nobody: other users' namespaces may not be read, and
// that is counted, not fatal.
func TestDiscoverUnprivileged(t *testing.T) {
	if os.Getenv("ARPDOCTOR_NAMESPACES_CHILD") == "1" {
		res, err := namespaces.Discover(context.Background(), namespaces.Options{})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(3)
		}
		for _, n := range res.Notes {
			fmt.Printf("note %s %d\n", n.Reason, n.Count)
		}
		fmt.Printf("namespaces %d\n", len(res.Namespaces))
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		neightest.Skip(t, "running a process as another user needs root")
	}
	// Make a namespace held by a root process, which nobody may not read.
	startInNewNetNS(t, nil)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary's own directory may be closed to other users.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "namespaces.test")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestDiscoverUnprivileged$")
	cmd.Env = append(os.Environ(), "ARPDOCTOR_NAMESPACES_CHILD=1")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("discovering as nobody: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "note permission ") {
		t.Errorf("no permission note from a discovery as nobody:\n%s", out)
	}
	if strings.Contains(string(out), "note error ") {
		t.Errorf("errors from a discovery as nobody:\n%s", out)
	}
	t.Logf("as nobody:\n%s", out)
}
