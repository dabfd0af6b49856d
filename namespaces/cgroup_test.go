package namespaces

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Container IDs and pod UIDs in the shapes runtimes and kubelet write them.
const (
	id1 = "4f797c539e6c745de61a93ca3ff892358ecbcaccd8414d5db545c38428142970"
	id2 = "b5b6f2da8008be266864f896f93789762b2ce50792114a5c5f2cc3315af0bc70"
	id3 = "f45298cd514d1930c4fe3afc4412e59547f7e3148fddd22ca33cefce046eb830"
	// uid is a pod UID as the API server has it; uidSystemd as the
	// systemd driver writes it in a slice name.
	uid        = "dd1bf9d1-241d-47f5-8e25-12de83135812"
	uidSystemd = "dd1bf9d1_241d_47f5_8e25_12de83135812"
	// staticUID is a static pod's UID: its config hash.
	staticUID = "0f8aa19a0d93a5a5bc2f9c2ab6a5a2bc"
)

func TestParseCgroup(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Attribution
	}{
		// Hosts.
		{"empty", "", Attribution{}},
		{"v2 root", "0::/", Attribution{}},
		{"v2 service", "0::/system.slice/sshd.service", Attribution{}},
		{"v2 user session", "0::/user.slice/user-1000.slice/session-3.scope", Attribution{}},
		{"containerd itself", "0::/system.slice/containerd.service", Attribution{}},
		{"kubelet's own slices", "0::/kubepods.slice/kubepods-burstable.slice", Attribution{}},

		// docker.
		{"docker systemd v2", "0::/system.slice/docker-" + id1 + ".scope",
			Attribution{Runtime: RuntimeDocker, ContainerID: id1, Cgroup: "/system.slice/docker-" + id1 + ".scope"}},
		{"docker cgroupfs v1", "4:memory:/docker/" + id1,
			Attribution{Runtime: RuntimeDocker, ContainerID: id1, Cgroup: "/docker/" + id1}},
		{"docker in docker", "0::/docker/" + id1 + "/docker/" + id2,
			Attribution{Runtime: RuntimeDocker, ContainerID: id2, Cgroup: "/docker/" + id1 + "/docker/" + id2}},
		{"docker sub-cgroup", "0::/system.slice/docker-" + id1 + ".scope/init.scope",
			Attribution{Runtime: RuntimeDocker, ContainerID: id1, Cgroup: "/system.slice/docker-" + id1 + ".scope/init.scope"}},
		{"rootless docker", "0::/user.slice/user-1000.slice/user@1000.service/app.slice/docker.service/docker/" + id1,
			Attribution{Runtime: RuntimeDocker, ContainerID: id1, Cgroup: "/user.slice/user-1000.slice/user@1000.service/app.slice/docker.service/docker/" + id1}},

		// Kubernetes, systemd driver.
		{"k8s systemd containerd burstable",
			"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSystemd + ".slice/cri-containerd-" + id3 + ".scope",
			Attribution{Runtime: RuntimeContainerd, ContainerID: id3, PodUID: uid, QoSClass: QoSBurstable,
				Cgroup: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSystemd + ".slice/cri-containerd-" + id3 + ".scope"}},
		{"k8s systemd containerd besteffort v1",
			"11:cpuset:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidSystemd + ".slice/cri-containerd-" + id3 + ".scope",
			Attribution{Runtime: RuntimeContainerd, ContainerID: id3, PodUID: uid, QoSClass: QoSBestEffort,
				Cgroup: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidSystemd + ".slice/cri-containerd-" + id3 + ".scope"}},
		{"k8s systemd guaranteed",
			"0::/kubepods.slice/kubepods-pod" + uidSystemd + ".slice/cri-containerd-" + id3 + ".scope",
			Attribution{Runtime: RuntimeContainerd, ContainerID: id3, PodUID: uid, QoSClass: QoSGuaranteed,
				Cgroup: "/kubepods.slice/kubepods-pod" + uidSystemd + ".slice/cri-containerd-" + id3 + ".scope"}},
		{"k8s systemd docker (dockershim)",
			"1:name=systemd:/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidSystemd + ".slice/docker-" + id2 + ".scope",
			Attribution{Runtime: RuntimeDocker, ContainerID: id2, PodUID: uid, QoSClass: QoSBestEffort,
				Cgroup: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidSystemd + ".slice/docker-" + id2 + ".scope"}},
		{"k8s static pod",
			"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + staticUID + ".slice/cri-containerd-" + id3 + ".scope",
			Attribution{Runtime: RuntimeContainerd, ContainerID: id3, PodUID: staticUID, QoSClass: QoSBurstable,
				Cgroup: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + staticUID + ".slice/cri-containerd-" + id3 + ".scope"}},
		{"k8s pod slice only",
			"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSystemd + ".slice",
			Attribution{PodUID: uid, QoSClass: QoSBurstable,
				Cgroup: "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSystemd + ".slice"}},
		{"kind node seen from the host",
			"0::/system.slice/docker-" + id1 + ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidSystemd + ".slice/cri-containerd-" + id3 + ".scope",
			Attribution{Runtime: RuntimeContainerd, ContainerID: id3, PodUID: uid, QoSClass: QoSBestEffort,
				Cgroup: "/system.slice/docker-" + id1 + ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidSystemd + ".slice/cri-containerd-" + id3 + ".scope"}},
		{"kind node's own processes",
			"0::/system.slice/docker-" + id1 + ".scope/system.slice/containerd.service",
			Attribution{Runtime: RuntimeDocker, ContainerID: id1, Cgroup: "/system.slice/docker-" + id1 + ".scope/system.slice/containerd.service"}},
		{"runc cgroupfs with a systemd cgroupsPath",
			"0::/kubepods-besteffort-pod" + uidSystemd + ".slice:cri-containerd:" + id3,
			Attribution{Runtime: RuntimeContainerd, ContainerID: id3, PodUID: uid, QoSClass: QoSBestEffort,
				Cgroup: "/kubepods-besteffort-pod" + uidSystemd + ".slice:cri-containerd:" + id3}},

		// Kubernetes, cgroupfs driver.
		{"k8s cgroupfs besteffort", "10:memory:/kubepods/besteffort/pod" + uid + "/" + id3,
			Attribution{ContainerID: id3, PodUID: uid, QoSClass: QoSBestEffort, Cgroup: "/kubepods/besteffort/pod" + uid + "/" + id3}},
		{"k8s cgroupfs burstable v2", "0::/kubepods/burstable/pod" + uid + "/" + id3,
			Attribution{ContainerID: id3, PodUID: uid, QoSClass: QoSBurstable, Cgroup: "/kubepods/burstable/pod" + uid + "/" + id3}},
		{"k8s cgroupfs guaranteed (k3s)", "0::/kubepods/pod" + uid + "/" + id3,
			Attribution{ContainerID: id3, PodUID: uid, QoSClass: QoSGuaranteed, Cgroup: "/kubepods/pod" + uid + "/" + id3}},
		{"k8s cgroupfs sub-cgroup of a container", "11:freezer:/kubepods/besteffort/pod" + uid + "/" + id3 + "/kube-proxy",
			Attribution{ContainerID: id3, PodUID: uid, QoSClass: QoSBestEffort, Cgroup: "/kubepods/besteffort/pod" + uid + "/" + id3 + "/kube-proxy"}},
		{"k8s cgroupfs cri-o", "0::/kubepods/burstable/pod" + uid + "/crio-" + id2,
			Attribution{Runtime: RuntimeCRIO, ContainerID: id2, PodUID: uid, QoSClass: QoSBurstable, Cgroup: "/kubepods/burstable/pod" + uid + "/crio-" + id2}},
		{"pod directory not under kubepods", "0::/somewhere/pod" + uid + "/" + id3,
			Attribution{ContainerID: id3, Cgroup: "/somewhere/pod" + uid + "/" + id3}},

		// CRI-O, systemd driver.
		{"cri-o container", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidSystemd + ".slice/crio-" + id2 + ".scope",
			Attribution{Runtime: RuntimeCRIO, ContainerID: id2, PodUID: uid, QoSClass: QoSBestEffort,
				Cgroup: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidSystemd + ".slice/crio-" + id2 + ".scope"}},
		{"cri-o conmon", "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidSystemd + ".slice/crio-conmon-" + id2 + ".scope",
			Attribution{Runtime: RuntimeCRIO, ContainerID: id2, Monitor: true, PodUID: uid, QoSClass: QoSBestEffort,
				Cgroup: "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidSystemd + ".slice/crio-conmon-" + id2 + ".scope"}},
		{"cri-o conmon in system.slice", "0::/system.slice/crio-conmon-" + id2 + ".scope",
			Attribution{Runtime: RuntimeCRIO, ContainerID: id2, Monitor: true, Cgroup: "/system.slice/crio-conmon-" + id2 + ".scope"}},

		// podman.
		{"podman root", "0::/machine.slice/libpod-" + id1 + ".scope",
			Attribution{Runtime: RuntimePodman, ContainerID: id1, Cgroup: "/machine.slice/libpod-" + id1 + ".scope"}},
		{"podman systemd inside", "0::/machine.slice/libpod-" + id1 + ".scope/container",
			Attribution{Runtime: RuntimePodman, ContainerID: id1, Cgroup: "/machine.slice/libpod-" + id1 + ".scope/container"}},
		{"podman conmon", "0::/machine.slice/libpod-conmon-" + id1 + ".scope",
			Attribution{Runtime: RuntimePodman, ContainerID: id1, Monitor: true, Cgroup: "/machine.slice/libpod-conmon-" + id1 + ".scope"}},
		{"podman rootless", "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id1 + ".scope",
			Attribution{Runtime: RuntimePodman, ContainerID: id1, Cgroup: "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + id1 + ".scope"}},
		{"podman pod", "0::/machine.slice/machine-libpod_pod_" + id2 + ".slice/libpod-" + id1 + ".scope",
			Attribution{Runtime: RuntimePodman, ContainerID: id1, Cgroup: "/machine.slice/machine-libpod_pod_" + id2 + ".slice/libpod-" + id1 + ".scope"}},
		{"podman cgroupfs", "0::/libpod_parent/libpod-" + id1,
			Attribution{Runtime: RuntimePodman, ContainerID: id1, Cgroup: "/libpod_parent/libpod-" + id1}},

		// containerd without Kubernetes.
		{"nerdctl systemd", "0::/system.slice/nerdctl-" + id3 + ".scope",
			Attribution{Runtime: RuntimeContainerd, ContainerID: id3, Cgroup: "/system.slice/nerdctl-" + id3 + ".scope"}},
		{"ECS task", "0::/ecs/8a1b2c3d4e5f60718293a4b5c6d7e8f9/" + id3,
			Attribution{ContainerID: id3, Cgroup: "/ecs/8a1b2c3d4e5f60718293a4b5c6d7e8f9/" + id3}},
		{"containerd namespace cgroupfs", "0::/default/" + id3,
			Attribution{ContainerID: id3, Cgroup: "/default/" + id3}},

		// Near misses.
		{"short id", "0::/system.slice/docker-4f797c539e6c.scope", Attribution{}},
		{"upper-case id", "0::/docker/" + strings.ToUpper(id1), Attribution{}},
		{"bad pod uid", "0::/kubepods.slice/kubepods-podnotauid.slice", Attribution{}},
		{"kubepods inside a word", "0::/xkubepods-pod" + uidSystemd + ".slice", Attribution{}},

		// Bare paths, and whole files.
		{"bare path", "/docker/" + id1, Attribution{Runtime: RuntimeDocker, ContainerID: id1, Cgroup: "/docker/" + id1}},
		{"v1 file, most telling line wins",
			"12:pids:/\n11:memory:/kubepods/besteffort/pod" + uid + "\n10:cpu:/kubepods/besteffort/pod" + uid + "/" + id3 + "\n0::/\n",
			Attribution{ContainerID: id3, PodUID: uid, QoSClass: QoSBestEffort, Cgroup: "/kubepods/besteffort/pod" + uid + "/" + id3}},
		{"hybrid file, unified line says nothing",
			"1:name=systemd:/system.slice/docker-" + id1 + ".scope\n0::/system.slice/docker.service\n",
			Attribution{Runtime: RuntimeDocker, ContainerID: id1, Cgroup: "/system.slice/docker-" + id1 + ".scope"}},
		{"CRLF and blank lines", "\r\n\n0::/docker/" + id1 + "\r\n",
			Attribution{Runtime: RuntimeDocker, ContainerID: id1, Cgroup: "/docker/" + id1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseCgroup(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseCgroup(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzParseCgroup(f *testing.F) {
	for _, s := range []string{
		"0::/",
		"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidSystemd + ".slice/cri-containerd-" + id3 + ".scope",
		"10:memory:/kubepods/besteffort/pod" + uid + "/" + id3,
		"0::/kubepods-besteffort-pod" + uidSystemd + ".slice:cri-containerd:" + id3,
		"0::/machine.slice/libpod-conmon-" + id1 + ".scope",
		"/docker/" + id1,
		"::", ":", "/", "kubepods-.slice", "pod",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := ParseCgroup(s)
		if a.ContainerID != "" && !isContainerID(a.ContainerID) {
			t.Errorf("container ID %q is not 64 hex digits", a.ContainerID)
		}
		if a.PodUID != "" && !isPodUID(a.PodUID) {
			t.Errorf("pod UID %q is no UID", a.PodUID)
		}
		if a != (Attribution{}) && !strings.Contains(s, a.Cgroup) {
			t.Errorf("cgroup %q is not in the input", a.Cgroup)
		}
	})
}
