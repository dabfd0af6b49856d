package exporter

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
)

// exportable lists every metric family the exporter can export, with its
// labels, by describing an exporter with every collector on.
func exportable(t *testing.T) map[string]string {
	t.Helper()
	e := newExporter(Config{VerifyInterval: 1, AllNetNS: true}, sources{table: &fakeKernel{},
		traces: map[string]tracer{"eth0": func(context.Context, func(capture.Finding)) error { return nil }}, traceOrder: []string{"eth0"}})
	ch := make(chan *prometheus.Desc, 100)
	e.Describe(ch)
	close(ch)
	out := map[string]string{}
	for d := range ch {
		s := d.String()
		name := descName.FindStringSubmatch(s)
		labels := descLabels.FindStringSubmatch(s)
		if name == nil || labels == nil {
			t.Fatalf("cannot read %s", s)
		}
		ls := strings.Split(labels[1], ",")
		if labels[1] == "" {
			ls = nil
		}
		slices.Sort(ls)
		out[name[1]] = strings.Join(ls, ", ")
	}
	return out
}

// TestDocsMetricTable: the metric table of docs/exporter.md lists exactly
// the metrics the exporter can export, with their labels.
func TestDocsMetricTable(t *testing.T) {
	b, err := os.ReadFile("../docs/exporter.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `arpdoctor_") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 5 {
			t.Errorf("row %q: want | metric | type | labels | meaning |", line)
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		var ls []string
		for _, l := range strings.Split(cells[3], ",") {
			if l = strings.Trim(strings.TrimSpace(l), "`"); l != "" {
				ls = append(ls, l)
			}
		}
		slices.Sort(ls)
		if _, dup := documented[name]; dup {
			t.Errorf("%s is documented twice", name)
		}
		documented[name] = strings.Join(ls, ", ")
	}
	if diff := cmp.Diff(exportable(t), documented); diff != "" {
		t.Errorf("docs/exporter.md's metric table (-exported +documented):\n%s", diff)
	}
}
