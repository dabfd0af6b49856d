// Package deploy holds what runs arpdoctor exporter in production, as files
// rather than code: Prometheus alerting rules with their promtool tests
// (prometheus/), a Grafana dashboard (grafana/), Kubernetes manifests
// (kubernetes/) and a systemd unit (systemd/). Its tests check those files
// with the tools that will read them (promtool, a real Prometheus, yamllint,
// systemd-analyze) and against the metric table of docs/exporter.md.
//
// kubernetes/prometheusrule.yaml is generated from prometheus/alerts.yml:
//
//	go test ./deploy -run TestPrometheusRule -update
package deploy
