package deploy_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/internal/promtest"
)

type dashboardQuery struct {
	// Where names the panel or variable, for messages.
	Where string
	// Expr is PromQL with Grafana's variables in it, or, for a variable,
	// Grafana's label_values(METRIC, LABEL).
	Expr string
	// Variable marks a template variable's query.
	Variable bool
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		X int `json:"x"`
		W int `json:"w"`
	} `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("parsing %s: %v", dashboardFile, err)
	}
	return d
}

func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
	d := readDashboard(t)
	var qs []dashboardQuery
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			qs = append(qs, dashboardQuery{Where: fmt.Sprintf("panel %q", p.Title), Expr: tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		switch q := v.Query.(type) {
		case string:
			if v.Type == "query" {
				qs = append(qs, dashboardQuery{Where: "variable " + v.Name, Expr: q, Variable: true})
			}
		case map[string]any:
			if s, ok := q["query"].(string); ok {
				qs = append(qs, dashboardQuery{Where: "variable " + v.Name, Expr: s, Variable: true})
			}
		}
	}
	return qs
}

var selector = regexp.MustCompile(`\barpdoctor_[a-zA-Z0-9_]+(\{[^}]*\})?`)

// The dashboard has a node variable, and every panel's query keeps to the
// nodes chosen in it.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: want both", d.UID, d.Title)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["instance"] != "query" || vars["datasource"] != "datasource" {
		t.Errorf("variables %v: want instance (query) and datasource (datasource)", vars)
	}
	ids := map[int]string{}
	for _, p := range allPanels(d.Panels) {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q reaches past the grid's 24 columns", p.Title)
		}
		if p.Type != "row" && len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	for _, q := range dashboardQueries(t) {
		if q.Variable {
			continue
		}
		for _, m := range selector.FindAllStringSubmatch(q.Expr, -1) {
			if !strings.Contains(m[1], `instance=~"$instance"`) {
				t.Errorf("%s: %s does not keep to the chosen nodes (instance=~\"$instance\")", q.Where, m[0])
			}
		}
	}
}

// promQL turns a dashboard query into what Grafana would send, with every
// node chosen.
func promQL(q dashboardQuery) string {
	if q.Variable {
		// label_values(METRIC, LABEL): Grafana asks for METRIC's series.
		if m := regexp.MustCompile(`^label_values\((.+),\s*\w+\)$`).FindStringSubmatch(q.Expr); m != nil {
			return m[1]
		}
	}
	return strings.NewReplacer(
		"$instance", ".*",
		"$__rate_interval", "1m",
		"$__interval", "1m",
		"$__range", "1h",
	).Replace(q.Expr)
}

// Every query of the dashboard runs in a real Prometheus that scrapes an
// exporter serving every documented metric (testdata/exposition.prom), and
// returns series: the names and labels the dashboard asks for exist.
func TestDashboardQueriesInPrometheus(t *testing.T) {
	exposition, err := os.ReadFile("testdata/exposition.prom")
	if err != nil {
		t.Fatal(err)
	}
	exp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write(exposition)
	}))
	defer exp.Close()
	prom := promtest.Start(t, promtest.Config{
		Targets:   []string{strings.TrimPrefix(exp.URL, "http://")},
		RuleFiles: []string{alertsFile},
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// rate() over a window needs two samples in it.
	if _, err := prom.WaitQuery(ctx, `count_over_time(arpdoctor_build_info[1m]) >= 2`); err != nil {
		t.Fatal(err)
	}
	for _, q := range dashboardQueries(t) {
		expr := promQL(q)
		samples, err := prom.Query(ctx, expr)
		if err != nil {
			t.Errorf("%s: %v", q.Where, err)
			continue
		}
		if len(samples) == 0 {
			t.Errorf("%s: %s returns nothing", q.Where, expr)
		}
	}
}

// testdata/exposition.prom has every metric of docs/exporter.md, and no
// other, so the test above covers what the exporter serves.
func TestExpositionMatchesDocs(t *testing.T) {
	b, err := os.ReadFile("testdata/exposition.prom")
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^# TYPE (\S+) `).FindAllStringSubmatch(string(b), -1) {
		served[m[1]] = true
	}
	for _, m := range documentedMetrics(t) {
		if !served[m] {
			t.Errorf("testdata/exposition.prom lacks %s", m)
		}
		delete(served, m)
	}
	for m := range served {
		t.Errorf("testdata/exposition.prom has %s, which %s does not list", m, exporterDoc)
	}
}
