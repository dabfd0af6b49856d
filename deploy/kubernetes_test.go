package deploy_test

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
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

const (
	daemonSetFile      = "kubernetes/base/daemonset.yaml"
	serviceFile        = "kubernetes/base/service.yaml"
	resourceQuotaFile  = "kubernetes/base/resourcequota.yaml"
	serviceMonitorFile = "kubernetes/prometheus-operator/servicemonitor.yaml"
	containerfile      = "../Containerfile"
)

type daemonSet struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Namespace string `yaml:"namespace"`
	} `yaml:"metadata"`
	Spec struct {
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				HostNetwork                  bool        `yaml:"hostNetwork"`
				HostPID                      bool        `yaml:"hostPID"`
				AutomountServiceAccountToken *bool       `yaml:"automountServiceAccountToken"`
				PriorityClassName            string      `yaml:"priorityClassName"`
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
	readYAML(t, daemonSetFile, &ds)
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
	// A named interface that some node lacks keeps the exporter from
	// starting there; auto is each node's default route's.
	if !slices.Contains(c.Args, "--trace-interface=auto") {
		t.Errorf("args %q, want --trace-interface=auto", c.Args)
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
	readYAML(t, daemonSetFile, &ds)
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
	readYAML(t, serviceFile, &svc)
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
	readYAML(t, serviceMonitorFile, &sm)
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Metadata.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s; the Service has %v", k, v, svc.Metadata.Labels)
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor endpoints %+v, want the Service's port, /metrics", sm.Spec.Endpoints)
	}
}

// Each kustomization lists every manifest of its directory: base/ the
// exporter, prometheus-operator/ the base and the Operator's resources,
// and the top directory the base alone, so that `kubectl apply -k
// deploy/kubernetes` needs no CRD.
func TestKustomization(t *testing.T) {
	for dir, bases := range map[string][]string{
		"kubernetes":                     {"base"},
		"kubernetes/base":                nil,
		"kubernetes/prometheus-operator": {"../base"},
	} {
		var k struct {
			Resources []string `yaml:"resources"`
		}
		readYAML(t, filepath.Join(dir, "kustomization.yaml"), &k)
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(bases)
		for _, f := range files {
			if base := filepath.Base(f); base != "kustomization.yaml" {
				want = append(want, base)
			}
		}
		sort.Strings(want)
		got := slices.Clone(k.Resources)
		sort.Strings(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s/kustomization.yaml resources differ from the manifests (-want +listed):\n%s", dir, diff)
		}
	}
}

// What kustomize builds: the base has no resource of the Prometheus
// Operator's API, so that it applies to any cluster, and the overlay has
// the base's and the Operator's. kubectl is not a test dependency (CI
// does not install it), so this runs only where it is.
func TestKustomizeBuild(t *testing.T) {
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Skip("kubectl is not installed")
	}
	kinds := func(dir string) []string {
		out := run(t, kubectl, "kustomize", dir)
		var kinds []string
		dec := yaml.NewDecoder(strings.NewReader(out))
		for {
			var r struct {
				APIVersion string `yaml:"apiVersion"`
				Kind       string `yaml:"kind"`
			}
			if err := dec.Decode(&r); err == io.EOF {
				break
			} else if err != nil {
				t.Fatalf("kubectl kustomize %s: %v", dir, err)
			}
			kinds = append(kinds, r.APIVersion+" "+r.Kind)
		}
		sort.Strings(kinds)
		return kinds
	}
	base := []string{"apps/v1 DaemonSet", "v1 Namespace", "v1 ResourceQuota", "v1 Service"}
	if diff := cmp.Diff(base, kinds("kubernetes")); diff != "" {
		t.Errorf("kubectl kustomize kubernetes (-want +got):\n%s", diff)
	}
	withOperator := append(slices.Clone(base), "monitoring.coreos.com/v1 PrometheusRule", "monitoring.coreos.com/v1 ServiceMonitor")
	sort.Strings(withOperator)
	if diff := cmp.Diff(withOperator, kinds("kubernetes/prometheus-operator")); diff != "" {
		t.Errorf("kubectl kustomize kubernetes/prometheus-operator (-want +got):\n%s", diff)
	}
}

// A pod of a critical priority class is admitted outside kube-system only
// in a namespace with a ResourceQuota scoped to that class (the Priority
// admission plugin's limitedResources, on by default on GKE).
func TestResourceQuotaForPriorityClass(t *testing.T) {
	var ds daemonSet
	readYAML(t, daemonSetFile, &ds)
	var q struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Namespace string `yaml:"namespace"`
		} `yaml:"metadata"`
		Spec struct {
			Hard          map[string]string `yaml:"hard"`
			ScopeSelector struct {
				MatchExpressions []struct {
					ScopeName string   `yaml:"scopeName"`
					Operator  string   `yaml:"operator"`
					Values    []string `yaml:"values"`
				} `yaml:"matchExpressions"`
			} `yaml:"scopeSelector"`
		} `yaml:"spec"`
	}
	readYAML(t, resourceQuotaFile, &q)
	if q.Kind != "ResourceQuota" || q.Metadata.Namespace != ds.Metadata.Namespace {
		t.Errorf("%s: %s in namespace %q, want a ResourceQuota in the DaemonSet's, %q", resourceQuotaFile, q.Kind, q.Metadata.Namespace, ds.Metadata.Namespace)
	}
	class := ds.Spec.Template.Spec.PriorityClassName
	exprs := q.Spec.ScopeSelector.MatchExpressions
	if len(exprs) != 1 || exprs[0].ScopeName != "PriorityClass" || exprs[0].Operator != "In" || !slices.Contains(exprs[0].Values, class) {
		t.Errorf("%s: scope %+v, want PriorityClass In [%s]", resourceQuotaFile, exprs, class)
	}
	if n, err := strconv.Atoi(q.Spec.Hard["pods"]); err != nil || n < 10000 {
		t.Errorf("%s: pods %q, want a limit no cluster reaches (one pod per node)", resourceQuotaFile, q.Spec.Hard["pods"])
	}
}

// The commands the alerts suggest run on Kubernetes from the exporter's
// image (kubectl debug node/NODE --image=IMAGE -- /arpdoctor ...): the
// binary must be where they say.
func TestImageBinaryPath(t *testing.T) {
	b, err := os.ReadFile(containerfile)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^COPY \S+ /arpdoctor$`).Match(b) || !strings.Contains(string(b), `ENTRYPOINT ["/arpdoctor"]`) {
		t.Fatalf("%s does not put the binary at /arpdoctor", containerfile)
	}
	for _, r := range readAlerts(t) {
		for _, m := range regexp.MustCompile(`--image=IMAGE -- (\S+)`).FindAllStringSubmatch(r.Annotations["description"], -1) {
			if m[1] != "/arpdoctor" {
				t.Errorf("%s: kubectl debug runs %s; the image has /arpdoctor", r.Alert, m[1])
			}
		}
	}
}

const kubernetesScrapeFile = "prometheus/kubernetes.yml"

// The configuration for Prometheus without the Operator finds the
// DaemonSet's pods, keeps their metrics port and names each target by its
// node, as the ServiceMonitor does: the alerts' kubectl debug node/INSTANCE
// needs the node's name.
func TestKubernetesScrapeConfig(t *testing.T) {
	var ds daemonSet
	readYAML(t, daemonSetFile, &ds)
	var cfg struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName             string `yaml:"job_name"`
			KubernetesSDConfigs []struct {
				Role       string `yaml:"role"`
				Namespaces struct {
					Names []string `yaml:"names"`
				} `yaml:"namespaces"`
				Selectors []struct {
					Role  string `yaml:"role"`
					Label string `yaml:"label"`
				} `yaml:"selectors"`
			} `yaml:"kubernetes_sd_configs"`
			RelabelConfigs []struct {
				SourceLabels []string `yaml:"source_labels"`
				Regex        string   `yaml:"regex"`
				TargetLabel  string   `yaml:"target_label"`
				Action       string   `yaml:"action"`
			} `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, kubernetesScrapeFile, &cfg)
	if !slices.Equal(cfg.RuleFiles, []string{"alerts.yml"}) {
		t.Errorf("%s: rule_files %q, want alerts.yml", kubernetesScrapeFile, cfg.RuleFiles)
	}
	if len(cfg.ScrapeConfigs) != 1 || len(cfg.ScrapeConfigs[0].KubernetesSDConfigs) != 1 {
		t.Fatalf("%s: want one scrape job with one kubernetes_sd_configs entry", kubernetesScrapeFile)
	}
	job := cfg.ScrapeConfigs[0]
	sd := job.KubernetesSDConfigs[0]
	if sd.Role != "pod" || !slices.Equal(sd.Namespaces.Names, []string{ds.Metadata.Namespace}) {
		t.Errorf("%s: role %s in %q, want role pod in the DaemonSet's namespace %q", kubernetesScrapeFile, sd.Role, sd.Namespaces.Names, ds.Metadata.Namespace)
	}
	podLabels := ds.Spec.Template.Metadata.Labels
	if len(sd.Selectors) != 1 || sd.Selectors[0].Role != "pod" {
		t.Fatalf("%s: selectors %+v, want one pod label selector", kubernetesScrapeFile, sd.Selectors)
	}
	for _, sel := range strings.Split(sd.Selectors[0].Label, ",") {
		k, v, _ := strings.Cut(sel, "=")
		if podLabels[k] != v {
			t.Errorf("%s selects %s; the pods have %v", kubernetesScrapeFile, sel, podLabels)
		}
	}
	var keepsPort, namesNode bool
	for _, r := range job.RelabelConfigs {
		switch {
		case r.Action == "keep" && slices.Equal(r.SourceLabels, []string{"__meta_kubernetes_pod_container_port_name"}):
			keepsPort = r.Regex == ds.Spec.Template.Spec.Containers[0].Ports[0].Name
		case r.TargetLabel == "instance":
			namesNode = slices.Equal(r.SourceLabels, []string{"__meta_kubernetes_pod_node_name"}) && (r.Action == "" || r.Action == "replace")
		}
	}
	if !keepsPort || !namesNode {
		t.Errorf("%s: keeps the metrics port %v, sets instance to the node's name %v; want both", kubernetesScrapeFile, keepsPort, namesNode)
	}
}

// promtool check config passes on the configuration, and on the rule file
// it loads. Debian's promtool is built without Kubernetes service
// discovery and cannot read it, so this runs where promtool can.
func TestPromtoolCheckKubernetesConfig(t *testing.T) {
	promtool := neightest.RequireCommand(t, "promtool")
	out, err := exec.Command(promtool, "check", "config", kubernetesScrapeFile).CombinedOutput()
	if strings.Contains(string(out), "field kubernetes_sd_configs not found") {
		t.Skipf("%s is built without Kubernetes service discovery", promtool)
	}
	if err != nil || strings.Contains(strings.ToLower(string(out)), "warning") {
		t.Fatalf("promtool check config %s: %v\n%s", kubernetesScrapeFile, err, out)
	}
}
