package namespaces

import "strings"

// Runtime names the container runtime a cgroup path belongs to.
type Runtime string

// The runtimes ParseCgroup tells apart. A Kubernetes container under the
// cgroupfs driver (/kubepods/burstable/pod<uid>/<id>) carries no runtime in
// its path, so its Runtime is empty while its ContainerID is set.
const (
	RuntimeDocker     Runtime = "docker"
	RuntimeContainerd Runtime = "containerd"
	RuntimeCRIO       Runtime = "cri-o"
	RuntimePodman     Runtime = "podman"
)

// QoSClass is a Kubernetes pod's quality of service class, as kubelet
// encodes it in the pod's cgroup parent.
type QoSClass string

// The classes, named as kubelet names its cgroups.
const (
	QoSGuaranteed QoSClass = "guaranteed"
	QoSBurstable  QoSClass = "burstable"
	QoSBestEffort QoSClass = "besteffort"
)

// Attribution says which container and pod a cgroup path belongs to. The
// zero value means the path names neither (a host process).
type Attribution struct {
	Runtime Runtime `json:"runtime,omitempty"`
	// ContainerID is the runtime's full container ID (64 hex digits).
	ContainerID string `json:"container_id,omitempty"`
	// Monitor is true for a runtime's per-container monitor (conmon of
	// podman and CRI-O): it carries the container's ID but runs outside
	// the container, in the host's namespaces.
	Monitor bool `json:"monitor,omitempty"`
	// PodUID is the Kubernetes pod's UID with dashes, as the API server
	// has it (the systemd driver writes it with underscores).
	PodUID   string   `json:"pod_uid,omitempty"`
	QoSClass QoSClass `json:"qos_class,omitempty"`
	// Cgroup is the path the attribution was read from.
	Cgroup string `json:"cgroup,omitempty"`
}

// score ranks attributions from different hierarchies of one process: the
// one that says most wins.
func (a Attribution) score() int {
	s := 0
	if a.ContainerID != "" && !a.Monitor {
		s += 4
	} else if a.ContainerID != "" {
		s++
	}
	if a.PodUID != "" {
		s += 2
	}
	return s
}

// ParseCgroup attributes a cgroup path to a container and pod. It takes a
// bare path ("/kubepods.slice/..."), one line of /proc/PID/cgroup
// ("0::/system.slice/docker-<id>.scope", "4:memory:/docker/<id>"), or the
// whole file, where it keeps the line that says most: under cgroup v1 the
// hierarchies may disagree, and the unified line of a hybrid system often
// names only a systemd service.
//
// The shapes it knows, with the systemd and the cgroupfs drivers:
//
//	docker      /system.slice/docker-<id>.scope, /docker/<id>
//	containerd  .../cri-containerd-<id>.scope, /<namespace>/<id>, nerdctl-<id>.scope
//	CRI-O       .../crio-<id>.scope, .../crio-<id>, crio-conmon-<id>.scope (monitor)
//	podman      /machine.slice/libpod-<id>.scope, libpod-conmon-<id>.scope (monitor),
//	            /libpod_parent/libpod-<id>
//	kubelet     /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/...
//	            /kubepods/besteffort/pod<uid>/<id>, /kubepods/pod<uid>/<id> (guaranteed)
//
// They are found at any depth, so a kubelet whose cgroup root is not / (a
// kind node, whose slices are named kubelet-kubepods-...) and nested
// containers are attributed too; the deepest container wins. Anything else
// gives the zero Attribution; no input makes it fail.
func ParseCgroup(s string) Attribution {
	var best Attribution
	bestScore := 0
	for line := range strings.SplitSeq(s, "\n") {
		path := cgroupPathOf(strings.TrimSpace(line))
		if path == "" {
			continue
		}
		a := parseCgroupPath(path)
		if sc := a.score(); sc > bestScore {
			best, bestScore = a, sc
		}
	}
	return best
}

// cgroupPathOf returns the path of a /proc/PID/cgroup line
// (hierarchy-ID:controllers:path), or the line itself when it is a path.
func cgroupPathOf(line string) string {
	if strings.HasPrefix(line, "/") {
		return line
	}
	parts := strings.SplitN(line, ":", 3)
	if len(parts) != 3 {
		return ""
	}
	return parts[2]
}

func parseCgroupPath(path string) Attribution {
	var a Attribution
	comps := strings.Split(path, "/")
	for i := 0; i < len(comps); i++ {
		c := comps[i]
		if c == "" {
			continue
		}
		// runc given a systemd-style cgroupsPath while driving cgroupfs
		// leaves the triple itself as a directory:
		// kubepods-burstable-pod<uid>.slice:cri-containerd:<id>.
		if slice, rest, ok := strings.Cut(c, ":"); ok {
			if prefix, id, ok := strings.Cut(rest, ":"); ok {
				if uid, qos, ok := systemdPod(slice); ok {
					a.setPod(uid, qos)
				}
				if rt, mon, ok := containerScope(prefix + "-" + id); ok {
					a.setContainer(rt, id, mon)
				}
			}
			continue
		}
		if uid, qos, ok := systemdPod(c); ok {
			a.setPod(uid, qos)
			continue
		}
		if uid, qos, ok := cgroupfsPod(comps[:i], c); ok {
			a.setPod(uid, qos)
			continue
		}
		if rt, mon, ok := containerScope(c); ok {
			id := strings.TrimSuffix(c, ".scope")
			a.setContainer(rt, id[len(id)-64:], mon)
			continue
		}
		if isContainerID(c) {
			var rt Runtime
			if i > 0 && comps[i-1] == "docker" {
				rt = RuntimeDocker
			}
			a.setContainer(rt, c, false)
		}
	}
	if a != (Attribution{}) {
		a.Cgroup = path
	}
	return a
}

func (a *Attribution) setPod(uid string, qos QoSClass) {
	// A pod inside a container (kubelet in a kind node) is the more
	// specific owner: the outer container is forgotten.
	*a = Attribution{PodUID: uid, QoSClass: qos}
}

func (a *Attribution) setContainer(rt Runtime, id string, monitor bool) {
	a.Runtime, a.ContainerID, a.Monitor = rt, id, monitor
}

// scopePrefixes are the unit name prefixes runtimes give a container's
// scope (systemd driver) or directory (CRI-O and podman under cgroupfs).
// Monitors come before the prefixes they extend.
var scopePrefixes = []struct {
	prefix  string
	runtime Runtime
	monitor bool
}{
	{"docker-", RuntimeDocker, false},
	{"cri-containerd-", RuntimeContainerd, false},
	{"nerdctl-", RuntimeContainerd, false},
	{"crio-conmon-", RuntimeCRIO, true},
	{"crio-", RuntimeCRIO, false},
	{"libpod-conmon-", RuntimePodman, true},
	{"libpod-", RuntimePodman, false},
}

// containerScope recognises "<prefix><64 hex>[.scope]".
func containerScope(c string) (Runtime, bool, bool) {
	base := strings.TrimSuffix(c, ".scope")
	for _, p := range scopePrefixes {
		if rest, ok := strings.CutPrefix(base, p.prefix); ok {
			if isContainerID(rest) {
				return p.runtime, p.monitor, true
			}
			return "", false, false
		}
	}
	return "", false, false
}

// systemdPod recognises kubelet's pod slice under the systemd driver:
// [<root>-]kubepods[-<qos>]-pod<uid with _>.slice. A pod slice right under
// kubepods.slice is a guaranteed pod.
func systemdPod(c string) (string, QoSClass, bool) {
	base, ok := strings.CutSuffix(c, ".slice")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(base, "kubepods-")
	if i < 0 || (i > 0 && base[i-1] != '-') {
		return "", "", false
	}
	rest := base[i+len("kubepods-"):]
	qos := QoSGuaranteed
	for _, q := range []QoSClass{QoSBurstable, QoSBestEffort} {
		if r, ok := strings.CutPrefix(rest, string(q)+"-"); ok {
			rest, qos = r, q
			break
		}
	}
	uid, ok := strings.CutPrefix(rest, "pod")
	if !ok {
		return "", "", false
	}
	uid = strings.ReplaceAll(uid, "_", "-")
	if !isPodUID(uid) {
		return "", "", false
	}
	return uid, qos, true
}

// cgroupfsPod recognises kubelet's pod directory under the cgroupfs driver:
// kubepods/[burstable|besteffort/]pod<uid>.
func cgroupfsPod(parents []string, c string) (string, QoSClass, bool) {
	uid, ok := strings.CutPrefix(c, "pod")
	if !ok || !isPodUID(uid) || len(parents) == 0 {
		return "", "", false
	}
	parent := parents[len(parents)-1]
	switch {
	case parent == "kubepods":
		return uid, QoSGuaranteed, true
	case (parent == string(QoSBurstable) || parent == string(QoSBestEffort)) &&
		len(parents) >= 2 && parents[len(parents)-2] == "kubepods":
		return uid, QoSClass(parent), true
	}
	return "", "", false
}

// isPodUID accepts what kubelet puts in a pod's cgroup name: a UUID from
// the API server, or the 32 hex digits of a static pod's config hash.
func isPodUID(s string) bool {
	if len(s) != 32 && len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLowerHex(c) && c != '-' {
			return false
		}
	}
	return true
}

// isContainerID accepts the IDs of docker, containerd, CRI-O and podman:
// 64 lowercase hex digits.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerHex(s[i]) {
			return false
		}
	}
	return true
}

func isLowerHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' }
