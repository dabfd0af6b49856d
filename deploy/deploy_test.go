package deploy_test

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite kubernetes/prometheus-operator/prometheusrule.yaml from prometheus/alerts.yml")

const (
	alertsFile         = "prometheus/alerts.yml"
	alertsTestFile     = "prometheus/alerts_test.yml"
	prometheusRuleFile = "kubernetes/prometheus-operator/prometheusrule.yaml"
	dashboardFile      = "grafana/arpdoctor.json"
	exporterDoc        = "../docs/exporter.md"
)

// run runs a command and fails the test, showing its output, when it does
// not succeed.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool := neightest.RequireCommand(t, "promtool")
	out := run(t, promtool, "check", "rules", alertsFile)
	// promtool reports lint problems (such as duplicate rules) as warnings
	// without failing.
	if !strings.Contains(out, "SUCCESS") || strings.Contains(strings.ToLower(out), "warning") {
		t.Errorf("promtool check rules %s:\n%s", alertsFile, out)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	promtool := neightest.RequireCommand(t, "promtool")
	run(t, promtool, "test", "rules", alertsTestFile)
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type ruleGroups struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

func readYAML(t *testing.T, name string, v any) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("parsing %s: %v", name, err)
	}
	return b
}

func readAlerts(t *testing.T) []rule {
	t.Helper()
	var g ruleGroups
	readYAML(t, alertsFile, &g)
	var rules []rule
	for _, grp := range g.Groups {
		rules = append(rules, grp.Rules...)
	}
	if len(rules) == 0 {
		t.Fatalf("%s holds no rules", alertsFile)
	}
	return rules
}

// Each alert names the node in its summary and tells, in its description,
// which arpdoctor command to run there.
func TestAlertsNameNodeAndCommand(t *testing.T) {
	for _, r := range readAlerts(t) {
		if r.Alert == "" {
			t.Errorf("%s: a recording rule (%q); only alerts belong here", alertsFile, r.Expr)
			continue
		}
		if !strings.Contains(r.Annotations["summary"], "{{ $labels.instance }}") {
			t.Errorf("%s: summary %q does not name the node ({{ $labels.instance }})", r.Alert, r.Annotations["summary"])
		}
		if !strings.Contains(r.Annotations["description"], "`arpdoctor ") {
			t.Errorf("%s: description %q names no arpdoctor command to run", r.Alert, r.Annotations["description"])
		}
		if !slices.Contains([]string{"critical", "warning", "info"}, r.Labels["severity"]) {
			t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
		}
	}
}

// alerts_test.yml shows every alert both firing and not firing.
func TestAlertsTestedFiringAndNot(t *testing.T) {
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, alertsTestFile, &tests)
	firing := map[string]bool{}
	silent := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, at := range tc.AlertRuleTest {
			if len(at.ExpAlerts) > 0 {
				firing[at.Alertname] = true
			} else {
				silent[at.Alertname] = true
			}
		}
	}
	for _, r := range readAlerts(t) {
		if !firing[r.Alert] {
			t.Errorf("%s has no test in %s where it fires", r.Alert, alertsTestFile)
		}
		if !silent[r.Alert] {
			t.Errorf("%s has no test in %s where it does not fire", r.Alert, alertsTestFile)
		}
	}
}

// prometheusRule returns the PrometheusRule resource holding alerts.yml's
// groups. The rules are copied as text, indented under spec, so that the
// comments explaining them stay with them.
func prometheusRule(alerts []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`# Generated from deploy/prometheus/alerts.yml by
# go test ./deploy -run TestPrometheusRule -update; do not edit.
# The Prometheus Operator's Prometheus resource picks rules by label
# (ruleSelector): kube-prometheus-stack wants release: <its release name>.
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: arpdoctor
  namespace: arpdoctor
  labels:
    app.kubernetes.io/name: arpdoctor
    app.kubernetes.io/component: exporter
spec:
`)
	// Skip the file's own header: everything before the groups key.
	text := string(alerts)
	if i := strings.Index(text, "\ngroups:"); i >= 0 {
		text = text[i+1:]
	}
	for _, line := range strings.SplitAfter(text, "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	return b.Bytes()
}

// kubernetes/prometheus-operator/prometheusrule.yaml is what alerts.yml generates, and holds
// the same rules.
func TestPrometheusRule(t *testing.T) {
	alerts, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	want := prometheusRule(alerts)
	if *update {
		if err := os.WriteFile(prometheusRuleFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(prometheusRuleFile)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Fatalf("%s is not what %s generates; run go test ./deploy -run TestPrometheusRule -update (-want +got):\n%s", prometheusRuleFile, alertsFile, diff)
	}

	var fromAlerts ruleGroups
	readYAML(t, alertsFile, &fromAlerts)
	var resource struct {
		APIVersion string     `yaml:"apiVersion"`
		Kind       string     `yaml:"kind"`
		Spec       ruleGroups `yaml:"spec"`
	}
	readYAML(t, prometheusRuleFile, &resource)
	if resource.Kind != "PrometheusRule" || resource.APIVersion != "monitoring.coreos.com/v1" {
		t.Errorf("%s: %s %s, want monitoring.coreos.com/v1 PrometheusRule", prometheusRuleFile, resource.APIVersion, resource.Kind)
	}
	if diff := cmp.Diff(fromAlerts, resource.Spec); diff != "" {
		t.Errorf("%s spec differs from %s (-alerts +resource):\n%s", prometheusRuleFile, alertsFile, diff)
	}
}

var metricName = regexp.MustCompile(`\barpdoctor_[a-zA-Z0-9_]+`)

// documentedMetrics returns the first column of the metric table under
// "## Metrics" in docs/exporter.md.
func documentedMetrics(t *testing.T) []string {
	t.Helper()
	section := docSection(t, "## Metrics")
	cell := regexp.MustCompile("^\\| `(arpdoctor_[a-zA-Z0-9_]+)` \\|")
	var names []string
	for _, line := range strings.Split(section, "\n") {
		if m := cell.FindStringSubmatch(line); m != nil {
			names = append(names, m[1])
		}
	}
	if len(names) == 0 {
		t.Fatalf("%s: no metric table under \"## Metrics\"", exporterDoc)
	}
	return names
}

// usedMetrics returns the arpdoctor_* names in the alerts' expressions and
// the dashboard's queries, each with where it is used.
func usedMetrics(t *testing.T) map[string][]string {
	t.Helper()
	used := map[string][]string{}
	for _, r := range readAlerts(t) {
		for _, m := range metricName.FindAllString(r.Expr, -1) {
			used[m] = append(used[m], alertsFile+" "+r.Alert)
		}
	}
	for _, q := range dashboardQueries(t) {
		for _, m := range metricName.FindAllString(q.Expr, -1) {
			used[m] = append(used[m], dashboardFile+" "+q.Where)
		}
	}
	return used
}

// Every metric the alerts and the dashboard use is in the metric table of
// docs/exporter.md, which lists what the exporter exports.
func TestMetricsDocumented(t *testing.T) {
	documented := map[string]bool{}
	for _, m := range documentedMetrics(t) {
		if documented[m] {
			t.Errorf("%s lists %s twice", exporterDoc, m)
		}
		documented[m] = true
	}
	used := usedMetrics(t)
	names := make([]string, 0, len(used))
	for m := range used {
		names = append(names, m)
	}
	sort.Strings(names)
	for _, m := range names {
		if !documented[m] {
			t.Errorf("%s (used in %s) is not in the metric table of %s", m, strings.Join(used[m], ", "), exporterDoc)
		}
	}
}

// docSection returns the text of docs/exporter.md under the heading, up
// to the next heading of the same level.
func docSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(exporterDoc)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no %q section", exporterDoc, heading)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	return section
}

// Every alert has a row in the alert table of docs/exporter.md, and the
// table names no alert that does not exist.
func TestAlertsDocumented(t *testing.T) {
	section := docSection(t, "## Alerts")
	rows := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(Arpdoctor\\w+)` \\|").FindAllStringSubmatch(section, -1) {
		rows[m[1]] = true
	}
	for _, r := range readAlerts(t) {
		if !rows[r.Alert] {
			t.Errorf("%s has no row in the alert table of %s", r.Alert, exporterDoc)
		}
		delete(rows, r.Alert)
	}
	for name := range rows {
		t.Errorf("%s documents %s, which %s does not define", exporterDoc, name, alertsFile)
	}
}

// yamllint, with the repository's .yamllint, passes every YAML file of
// deploy/ and the release configuration.
func TestYamllint(t *testing.T) {
	yamllint := neightest.RequireCommand(t, "yamllint")
	run(t, yamllint, "--strict", "--config-file", "../.yamllint", ".", "../.yamllint", "../.goreleaser.yaml")
}

// goreleaser check passes on the release configuration, whose packages
// install the systemd unit and whose image is the Containerfile. goreleaser
// is a developer tool (docs/release.md) that CI does not install, so this
// test runs only where it is.
func TestGoreleaserCheck(t *testing.T) {
	goreleaser, err := exec.LookPath("goreleaser")
	if err != nil {
		t.Skip("goreleaser is not installed (docs/release.md says how)")
	}
	cmd := exec.Command(goreleaser, "check")
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("goreleaser check: %v\n%s", err, out)
	}
	// Deprecated settings are reported without failing.
	if strings.Contains(string(out), "deprecat") || strings.Contains(string(out), "phased out") {
		t.Errorf("goreleaser check warns:\n%s", out)
	}
}
