package deploy_test

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		Privileged               *bool `yaml:"privileged"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
			Add  []string `yaml:"add"`
		} `yaml:"capabilities"`
		SeccompProfile struct {
			Type string `yaml:"type"`
		} `yaml:"seccompProfile"`
	} `yaml:"securityContext"`
}

type daemonSet struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				HostNetwork                  bool        `yaml:"hostNetwork"`
				HostPID                      bool        `yaml:"hostPID"`
				AutomountServiceAccountToken *bool       `yaml:"automountServiceAccountToken"`
				Containers                   []container `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }

// The DaemonSet runs the exporter on the node's network with only the
// capabilities it uses, a read-only root and bounded resources.
func TestDaemonSet(t *testing.T) {
	var ds daemonSet
	readYAML(t, "kubernetes/daemonset.yaml", &ds)
	pod := ds.Spec.Template.Spec
	if ds.Kind != "DaemonSet" || !pod.HostNetwork || !isFalse(pod.AutomountServiceAccountToken) {
		t.Errorf("kind %s, hostNetwork %v, automountServiceAccountToken %v: want a DaemonSet on the host network without an API token",
			ds.Kind, pod.HostNetwork, pod.AutomountServiceAccountToken)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	if len(c.Args) == 0 || c.Args[0] != "exporter" {
		t.Errorf("args %q, want the exporter command first", c.Args)
	}
	// hostPID and SYS_ADMIN are there to reach the pods' namespaces.
	if !slices.Contains(c.Args, "--all-netns") || !pod.HostPID {
		t.Errorf("args %q, hostPID %v: want --all-netns, with hostPID", c.Args, pod.HostPID)
	}
	sc := c.SecurityContext
	if !isTrue(sc.ReadOnlyRootFilesystem) || !isFalse(sc.AllowPrivilegeEscalation) || !isFalse(sc.Privileged) || sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("securityContext %+v: want a read-only root, no privilege escalation, not privileged, RuntimeDefault seccomp", sc)
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("capabilities dropped %q, want ALL", sc.Capabilities.Drop)
	}
	allowed := []string{"NET_RAW", "SYS_ADMIN", "SYS_PTRACE"}
	for _, c := range sc.Capabilities.Add {
		if !slices.Contains(allowed, c) {
			t.Errorf("capability %s added; the exporter uses only %q", c, allowed)
		}
	}
	if !slices.Contains(sc.Capabilities.Add, "NET_RAW") {
		t.Errorf("capabilities %q lack NET_RAW, which probes and capture need", sc.Capabilities.Add)
	}
	for _, kind := range []string{"cpu", "memory"} {
		if c.Resources.Requests[kind] == "" || c.Resources.Limits[kind] == "" {
			t.Errorf("resources %+v: want requests and limits for %s", c.Resources, kind)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || c.Ports[0].ContainerPort != 9877 {
		t.Errorf("ports %+v, want metrics on 9877", c.Ports)
	}
}

// The Service selects the DaemonSet's pods, and the ServiceMonitor the
// Service and its port.
func TestServiceAndMonitor(t *testing.T) {
	var ds daemonSet
	readYAML(t, "kubernetes/daemonset.yaml", &ds)
	var svc struct {
		Metadata struct {
			Labels map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec struct {
			Selector map[string]string `yaml:"selector"`
			Ports    []struct {
				Name       string `yaml:"name"`
				Port       int    `yaml:"port"`
				TargetPort string `yaml:"targetPort"`
			} `yaml:"ports"`
		} `yaml:"spec"`
	}
	readYAML(t, "kubernetes/service.yaml", &svc)
	podLabels := ds.Spec.Template.Metadata.Labels
	for k, v := range svc.Spec.Selector {
		if podLabels[k] != v {
			t.Errorf("Service selects %s=%s; the pods have %v", k, v, podLabels)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort != "metrics" || svc.Spec.Ports[0].Port != 9877 {
		t.Errorf("Service ports %+v, want 9877 to the metrics port", svc.Spec.Ports)
	}

	var sm struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port string `yaml:"port"`
				Path string `yaml:"path"`
			} `yaml:"endpoints"`
		} `yaml:"spec"`
	}
	readYAML(t, "kubernetes/servicemonitor.yaml", &sm)
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Metadata.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s; the Service has %v", k, v, svc.Metadata.Labels)
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want the Service's port, /metrics", sm.Spec.Endpoints)
	}
}

// kustomization.yaml lists every manifest of the directory.
func TestKustomization(t *testing.T) {
	var k struct {
		Resources []string `yaml:"resources"`
	}
	readYAML(t, "kubernetes/kustomization.yaml", &k)
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range files {
		if base := filepath.Base(f); base != "kustomization.yaml" {
			want = append(want, base)
		}
	}
	got := slices.Clone(k.Resources)
	sort.Strings(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("kustomization.yaml resources differ from the manifests (-files +listed):\n%s", diff)
	}
	if _, err := os.Stat("kubernetes/prometheusrule.yaml"); err != nil {
		t.Error(err)
	}
}
