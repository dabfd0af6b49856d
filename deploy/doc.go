// Package deploy holds what runs arpdoctor exporter in production, as files
// rather than code: Prometheus alerting rules with their promtool tests
// (prometheus/), a Grafana dashboard (grafana/), Kubernetes manifests
// (kubernetes/: the exporter in base/, the Prometheus Operator's resources
// in prometheus-operator/), a Prometheus configuration for Kubernetes
// without the Operator (prometheus/kubernetes.yml) and a systemd unit
// (systemd/). Its tests check those files with the tools that will read
// them (promtool, a real Prometheus, yamllint, systemd-analyze, kubectl
// kustomize) and against the metric table of docs/exporter.md.
//
// kubernetes/prometheus-operator/prometheusrule.yaml is generated from
// prometheus/alerts.yml:
//
//	go test ./deploy -run TestPrometheusRule -update
package deploy
