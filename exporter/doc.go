// Package exporter measures the neighbor cache continuously for Prometheus: collectors over the
// table, its settings and the kernel's events, and passive and active detectors of stale entries.
package exporter
