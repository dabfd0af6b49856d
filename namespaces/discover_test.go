package namespaces

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"
)

// fixtureNetNSID stands in for stat(2) on nsfs: a fixture's namespace file
// holds "net:[inode]" as readlink(2) shows it, or the name of the error
// reading it should give (ENOENT for a process that exited, EACCES for
// another user's). Every namespace is on device 4, as nsfs usually is.
func fixtureNetNSID(path string, trusted bool) (ID, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ID{}, err
	}
	s := strings.TrimSpace(string(b))
	if errno, ok := map[string]unix.Errno{"ENOENT": unix.ENOENT, "ESRCH": unix.ESRCH, "EACCES": unix.EACCES, "EIO": unix.EIO}[s]; ok {
		return ID{}, &fs.PathError{Op: "stat", Path: path, Err: errno}
	}
	if rest, ok := strings.CutPrefix(s, "mnt:"); ok && strings.HasSuffix(path, "/ns/mnt") {
		// A mount namespace, read only to compare two.
		s = "net:" + rest
	}
	ino, ok := netNSInode(s)
	if !ok {
		return ID{}, &fs.PathError{Op: "open", Path: path, Err: errNotNetNS}
	}
	return ID{Dev: 4, Inode: ino}, nil
}

const (
	fixSandbox = "9a3e0c1d8b7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918a7b6c5d"
	fixK8sFS   = "34dc0b5e626f2c5c4c5170e34b10e7654ce36f0fcd532739f4445baabea03376"
	fixPodman  = "c04e0a88a1de067f25bece337d4dbb897396e0b623c2a65330850fc9823f1903"
	fixUID2    = "74c13223-5a00-11e9-b385-42010a80018d"
	fixUID3    = "045b1e35-7f13-11e7-ac42-0050568ffca0"
)

func discoverFixture(t *testing.T, dir string) Result {
	t.Helper()
	opts := Options{
		ProcRoot:    dir + "/proc",
		NamedDirs:   []string{dir + "/run/netns", dir + "/var/run/netns"},
		BindDirs:    []string{dir + "/run/docker/netns"},
		Concurrency: 3,
	}
	res, err := discover(context.Background(), opts, system{netnsID: fixtureNetNSID, self: dir + "/proc/self"})
	if err != nil {
		t.Fatalf("discover: %v", err)
	}
	return res
}

// TestDiscoverNode reads a node's /proc with a container of each runtime,
// Kubernetes pods under both cgroup drivers, named and bind-mounted
// namespaces, and processes that exit or may not be read.
func TestDiscoverNode(t *testing.T) {
	const d = "testdata/node"
	got := discoverFixture(t, d)
	kp := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSystemd + ".slice/"
	want := Result{
		Processes: 14,
		Namespaces: []Namespace{
			{
				ID: ID{4, 4026531840}, Path: d + "/run/docker/netns/default", PathKind: PathBindMount, Initial: true,
				Processes: []Process{
					{PID: 1, Comm: "systemd"},
					{PID: 100, Comm: "sshd"},
					{PID: 200, Comm: "dockerd"},
					{PID: 4000, Comm: "conmon", ContainerID: id2},
					{PID: 5000, Comm: "conmon", ContainerID: fixPodman},
				},
			},
			{
				ID: ID{4, 4026532300}, Path: d + "/run/docker/netns/0a1b2c3d4e5f", PathKind: PathBindMount,
				Processes:   []Process{{PID: 1000, Comm: "nginx", ContainerID: id1}, {PID: 1001, Comm: "nginx", ContainerID: id1}},
				Attribution: Attribution{Runtime: RuntimeDocker, ContainerID: id1, Cgroup: "/system.slice/docker-" + id1 + ".scope"},
			},
			{
				ID: ID{4, 4026532400}, Path: d + "/run/netns/cni-8e3b2a64-1f3c-4d1e-9c0b-5a9d6f1e2c3b", PathKind: PathNamed,
				Name:      "cni-8e3b2a64-1f3c-4d1e-9c0b-5a9d6f1e2c3b",
				Processes: []Process{{PID: 2000, Comm: "pause", ContainerID: fixSandbox}, {PID: 2050, Comm: "redis-server", ContainerID: id3}},
				Attribution: Attribution{Runtime: RuntimeContainerd, ContainerID: fixSandbox, PodUID: uid, QoSClass: QoSBurstable,
					Cgroup: kp + "cri-containerd-" + fixSandbox + ".scope"},
			},
			{
				// The pause container started first; the app's PID is
				// smaller only because PIDs wrapped.
				ID: ID{4, 4026532500}, Path: d + "/proc/3000/ns/net", PathKind: PathProcess,
				Processes:   []Process{{PID: 2999, Comm: "app", ContainerID: id2}, {PID: 3000, Comm: "pause", ContainerID: fixK8sFS}},
				Attribution: Attribution{ContainerID: fixK8sFS, PodUID: fixUID2, QoSClass: QoSBestEffort, Cgroup: "/kubepods/besteffort/pod" + fixUID2 + "/" + fixK8sFS},
			},
			{
				ID: ID{4, 4026532600}, Path: d + "/proc/4001/ns/net", PathKind: PathProcess,
				Processes: []Process{{PID: 4001, Comm: "pause", ContainerID: id2}},
				Attribution: Attribution{Runtime: RuntimeCRIO, ContainerID: id2, PodUID: fixUID3, QoSClass: QoSGuaranteed,
					Cgroup: "/kubepods.slice/kubepods-pod" + strings.ReplaceAll(fixUID3, "-", "_") + ".slice/crio-" + id2 + ".scope"},
			},
			{
				ID: ID{4, 4026532700}, Path: d + "/proc/5001/ns/net", PathKind: PathProcess,
				Processes:   []Process{{PID: 5001, Comm: "httpd", ContainerID: fixPodman}},
				Attribution: Attribution{Runtime: RuntimePodman, ContainerID: fixPodman, Cgroup: "/machine.slice/libpod-" + fixPodman + ".scope/container"},
			},
			{
				ID: ID{4, 4026532800}, Path: d + "/proc/7000/ns/net", PathKind: PathProcess,
				Processes: []Process{{PID: 7000, Comm: "my (odd) name"}},
			},
			{ID: ID{4, 4026532900}, Path: d + "/run/netns/lab", PathKind: PathNamed, Name: "lab"},
			{ID: ID{4, 4026533000}, Path: "/var/lib/fw/netns/edge", PathKind: PathBindMount},
			{ID: ID{4, 4026533100}, Path: "/tmp/with space", PathKind: PathBindMount},
			{ID: ID{4, 4026533200}, Path: d + "/proc/1/root/run/containerd/netns/abc", PathKind: PathBindMount},
			{ID: ID{4, 4026533300}, Path: d + "/proc/1/root/run/netns/hidden", PathKind: PathNamed, Name: "hidden"},
			// Mounted over 4026533500, which no path reaches any more.
			{ID: ID{4, 4026533600}, Path: "/var/lib/fw/netns/stacked", PathKind: PathBindMount},
		},
		Notes: []Note{
			{Reason: ReasonPermission, Count: 1, Example: d + "/proc/6002/ns/net"},
			{Reason: ReasonExited, Count: 3, Example: d + "/proc/6000/ns/net"},
			{Reason: ReasonNotNetNS, Count: 1, Example: d + "/run/netns/broken"},
		},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Namespace{}, Process{})); diff != "" {
		t.Errorf("discover mismatch (-want +got):\n%s", diff)
	}

	var labels []string
	for _, ns := range got.Namespaces {
		labels = append(labels, ns.Label())
	}
	wantLabels := []string{
		"netns:[4026531840]", id1, uid, fixUID2, fixUID3, fixPodman, "netns:[4026532800]",
		"lab", "netns:[4026533000]", "netns:[4026533100]", "netns:[4026533200]", "hidden", "netns:[4026533600]",
	}
	if diff := cmp.Diff(wantLabels, labels); diff != "" {
		t.Errorf("labels mismatch (-want +got):\n%s", diff)
	}
}

// TestDiscoverJSON pins the JSON names people and the commands read.
func TestDiscoverJSON(t *testing.T) {
	res := discoverFixture(t, "testdata/node")
	b, err := json.MarshalIndent(struct {
		Namespace Namespace `json:"namespace"`
		Notes     []Note    `json:"notes"`
	}{res.Namespaces[2], res.Notes[:1]}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "namespace": {
    "dev": 4,
    "inode": 4026532400,
    "path": "testdata/node/run/netns/cni-8e3b2a64-1f3c-4d1e-9c0b-5a9d6f1e2c3b",
    "path_kind": "named",
    "name": "cni-8e3b2a64-1f3c-4d1e-9c0b-5a9d6f1e2c3b",
    "initial": false,
    "processes": [
      {
        "pid": 2000,
        "comm": "pause",
        "container_id": "9a3e0c1d8b7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918a7b6c5d"
      },
      {
        "pid": 2050,
        "comm": "redis-server",
        "container_id": "f45298cd514d1930c4fe3afc4412e59547f7e3148fddd22ca33cefce046eb830"
      }
    ],
    "runtime": "containerd",
    "container_id": "9a3e0c1d8b7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918a7b6c5d",
    "pod_uid": "dd1bf9d1-241d-47f5-8e25-12de83135812",
    "qos_class": "burstable",
    "cgroup": "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-poddd1bf9d1_241d_47f5_8e25_12de83135812.slice/cri-containerd-9a3e0c1d8b7f6e5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a2918a7b6c5d.scope"
  },
  "notes": [
    {
      "reason": "permission",
      "count": 1,
      "example": "testdata/node/proc/6002/ns/net"
    }
  ]
}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("JSON mismatch (-want +got):\n%s", diff)
	}
}

// TestDiscoverOptions checks what the options leave out, and that the only
// failures are an unreadable proc root and a cancelled context.
func TestDiscoverOptions(t *testing.T) {
	sys := system{netnsID: fixtureNetNSID, self: "testdata/node/proc/self"}
	res, err := discover(context.Background(), Options{
		ProcRoot: "testdata/node/proc", NamedDirs: []string{}, BindDirs: []string{}, SkipMounts: true,
	}, sys)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ns := range res.Namespaces {
		kinds = append(kinds, ns.Path)
	}
	want := []string{
		"testdata/node/proc/2/ns/net", // kthreadd: the initial namespace's steadiest process path
		"testdata/node/proc/1000/ns/net",
		"testdata/node/proc/2000/ns/net",
		"testdata/node/proc/3000/ns/net",
		"testdata/node/proc/4001/ns/net",
		"testdata/node/proc/5001/ns/net",
		"testdata/node/proc/7000/ns/net",
	}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("paths without named dirs, bind dirs or mounts (-want +got):\n%s", diff)
	}

	_, err = discover(context.Background(), Options{ProcRoot: "testdata/nonexistent"}, sys)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("discover in a missing proc root: got %v, want a not-exist error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = discover(ctx, Options{ProcRoot: "testdata/node/proc"}, sys)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("discover with a cancelled context: got %v, want context.Canceled", err)
	}
}

// TestDiscoverInitialUnknown: without PID 1's namespace or kthreadd's (an
// unprivileged reader in a container), nothing is marked initial, and the
// notes say so.
func TestDiscoverInitialUnknown(t *testing.T) {
	sys := system{netnsID: func(path string, trusted bool) (ID, error) {
		if strings.HasSuffix(path, "/1/ns/net") || strings.HasSuffix(path, "/2/ns/net") {
			return ID{}, &fs.PathError{Op: "stat", Path: path, Err: unix.EACCES}
		}
		return fixtureNetNSID(path, trusted)
	}, self: "testdata/node/proc/self"}
	res, err := discover(context.Background(), Options{ProcRoot: "testdata/node/proc", NamedDirs: []string{}, BindDirs: []string{}, SkipMounts: true}, sys)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range res.Namespaces {
		if ns.Initial {
			t.Errorf("%s marked initial", ns.Path)
		}
	}
	want := []Note{
		{Reason: ReasonPermission, Count: 3, Example: "testdata/node/proc/1/ns/net"},
		{Reason: ReasonExited, Count: 3, Example: "testdata/node/proc/6000/ns/net"},
		{Reason: ReasonInitialUnknown, Count: 1, Example: "testdata/node/proc/1/ns/net"},
	}
	if diff := cmp.Diff(want, res.Notes); diff != "" {
		t.Errorf("notes mismatch (-want +got):\n%s", diff)
	}
	// Host processes, kept out of every namespace, are no longer counted.
	if res.Processes != 13 {
		t.Errorf("processes = %d, want 13", res.Processes)
	}
}

func TestLabelAndSpec(t *testing.T) {
	tests := []struct {
		ns          Namespace
		label, spec string
	}{
		{Namespace{ID: ID{4, 1}, Path: "/run/netns/cni-1", Name: "cni-1", Attribution: Attribution{PodUID: uid, ContainerID: id1}}, uid, "cni-1"},
		{Namespace{ID: ID{4, 2}, Path: "/run/docker/netns/abc", Attribution: Attribution{ContainerID: id1}}, id1, "/run/docker/netns/abc"},
		{Namespace{ID: ID{4, 3}, Path: "/var/run/netns/lab", Name: "lab"}, "lab", "/var/run/netns/lab"},
		{Namespace{ID: ID{4, 4}, Path: "/proc/42/ns/net"}, "netns:[4]", "/proc/42/ns/net"},
	}
	for _, tt := range tests {
		if got := tt.ns.Label(); got != tt.label {
			t.Errorf("Label() of %s = %q, want %q", tt.ns.Path, got, tt.label)
		}
		if got := tt.ns.Spec(); got != tt.spec {
			t.Errorf("Spec() of %s = %q, want %q", tt.ns.Path, got, tt.spec)
		}
	}
}

// TestDiscoverSharedMountNamespace: sharing PID 1's mount namespace, its
// mount table is ours, and not read again.
func TestDiscoverSharedMountNamespace(t *testing.T) {
	sys := system{netnsID: func(path string, trusted bool) (ID, error) {
		if strings.HasSuffix(path, "/ns/mnt") {
			return ID{4, 4026531841}, nil
		}
		return fixtureNetNSID(path, trusted)
	}, self: "testdata/node/proc/self"}
	res, err := discover(context.Background(), Options{ProcRoot: "testdata/node/proc", NamedDirs: []string{}, BindDirs: []string{}}, sys)
	if err != nil {
		t.Fatal(err)
	}
	var mounted []string
	for _, ns := range res.Namespaces {
		if ns.PathKind != PathProcess {
			mounted = append(mounted, ns.Path)
		}
	}
	want := []string{"/run/docker/netns/0a1b2c3d4e5f", "/run/netns/lab", "/var/lib/fw/netns/edge", "/tmp/with space", "/var/lib/fw/netns/stacked"}
	if diff := cmp.Diff(want, mounted); diff != "" {
		t.Errorf("mounted namespaces (-want +got):\n%s", diff)
	}
}

// TestDiscoverInitialFromKthreadd: kernel threads live in the initial
// namespace whatever PID 1 does, so kthreadd's says which it is.
func TestDiscoverInitialFromKthreadd(t *testing.T) {
	sys := system{netnsID: func(path string, trusted bool) (ID, error) {
		if strings.HasSuffix(path, "proc/1/ns/net") {
			return ID{4, 4026532800}, nil
		}
		return fixtureNetNSID(path, trusted)
	}, self: "testdata/node/proc/self"}
	res, err := discover(context.Background(), Options{ProcRoot: "testdata/node/proc", NamedDirs: []string{}, BindDirs: []string{}, SkipMounts: true}, sys)
	if err != nil {
		t.Fatal(err)
	}
	var initial []string
	for _, ns := range res.Namespaces {
		if ns.Initial {
			initial = append(initial, ns.Label()+" "+ns.Path)
		}
	}
	if diff := cmp.Diff([]string{"netns:[4026531840] testdata/node/proc/2/ns/net"}, initial); diff != "" {
		t.Errorf("initial namespaces (-want +got):\n%s", diff)
	}
}
