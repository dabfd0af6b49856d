// Package promtest runs a real Prometheus server for tests, as
// net/http/httptest runs an HTTP server: Start launches the prometheus binary
// (Debian's `prometheus` package) on 127.0.0.1 with a fresh storage directory,
// scrapes the given targets and evaluates the given rule files every second,
// and stops it and removes everything in t.Cleanup. The Server's methods read
// Prometheus's own HTTP API (/api/v1/alerts, /api/v1/query, /api/v1/targets)
// and wait, bounded, for an alert to fire or a query to return something.
//
// ExampleStart shows a test proving an alert end to end, as the exporter's
// own tests do: the exporter on 127.0.0.1 as the target, the repository's
// deploy/prometheus/alerts.yml as the rules, one scrape awaited before the
// incident is made (increase() needs a sample from before the change),
// then WaitAlertFiring.
//
// Prometheus runs in the test process's network namespace and scrapes
// 127.0.0.1 there. An exporter measuring a neightest lab must therefore
// listen outside the lab, in the test's own namespace: serve its HTTP
// handler from the test, with only its measurements made in the lab.
//
// When the prometheus binary is missing the test is skipped, or fails under
// ARPDOCTOR_REQUIRE_PRIVILEGED=1 (see neightest.RequireCommand), so CI always
// runs it. Everything stays on 127.0.0.1.
package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh/neightest"
)

// DefaultWait bounds the Wait methods when their context has no deadline.
// Prometheus scrapes and evaluates every second here, so anything that is
// going to happen happens within a few seconds; the bound only keeps a
// broken test from hanging until the go test timeout.
const DefaultWait = 2 * time.Minute

// Interval is how often the server scrapes its targets and evaluates its
// rules.
const Interval = time.Second

// Config says what the server scrapes and which rules it evaluates.
type Config struct {
	// Targets are the host:port addresses to scrape over plain HTTP, all in
	// one scrape job. Prometheus adds the labels job and instance
	// (instance is the address).
	Targets []string
	// Job names the scrape job: "arpdoctor" when empty.
	Job string
	// MetricsPath is the path scraped on each target: "/metrics" when empty.
	MetricsPath string
	// RuleFiles are rule files to load (relative to the test's working
	// directory, like every path in a test).
	RuleFiles []string
	// ScrapeOptions are more keys of the scrape job, in Prometheus's
	// configuration format, for an exporter behind --web.config.file:
	// {"scheme": "https", "tls_config": {"ca_file": ...},
	// "basic_auth": {"username": ..., "password": ...}}.
	ScrapeOptions map[string]any
}

// Server is a running Prometheus. Its methods may be called from several
// goroutines.
type Server struct {
	// URL is the base URL of the server's HTTP API, such as
	// "http://127.0.0.1:41234".
	URL string
	// Dir is the directory holding the configuration, the storage and the
	// log; it is removed when the test ends.
	Dir string

	client *http.Client
	log    *lockedBuffer
}

// Start runs prometheus for the rest of the test. It returns once the server
// answers /-/ready, having loaded the configuration and the rule files; it
// fails the test when the binary cannot start or never gets ready, and skips
// it when the binary is missing (see the package comment).
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	bin := neightest.RequireCommand(t, "prometheus")
	dir := t.TempDir()
	conf, err := writeConfig(dir, cfg)
	if err != nil {
		t.Fatalf("promtest: %v", err)
	}
	// A free port can be taken by someone else between our probe and
	// prometheus's bind; a new port settles that.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(t, bin, dir, conf)
		if err == nil {
			return s
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	t.Fatalf("promtest: %v", lastErr)
	return nil
}

var errAddrInUse = errors.New("address already in use")

func start(t testing.TB, bin, dir, conf string) (*Server, error) {
	t.Helper()
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	storage, err := os.MkdirTemp(dir, "data-")
	if err != nil {
		return nil, fmt.Errorf("making the storage directory: %w", err)
	}
	log := &lockedBuffer{}
	cmd := exec.Command(bin,
		"--config.file="+conf,
		"--storage.tsdb.path="+storage,
		"--web.listen-address="+addr,
		"--log.level=info",
	)
	cmd.Dir = dir
	cmd.Stdout = log
	cmd.Stderr = log
	// Should the test binary die without running its cleanups, the kernel
	// kills prometheus too. The parent-death signal follows the thread that
	// started the child, not the process, so that thread is held, locked,
	// for as long as prometheus runs (tests lock and discard threads when
	// they enter network namespaces).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	// exited is closed when prometheus has exited, with waitErr set.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		waitErr = cmd.Wait()
		close(exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}

	s := &Server{
		URL:    "http://" + addr,
		Dir:    dir,
		client: &http.Client{Timeout: 10 * time.Second},
		log:    log,
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", tail(log.String(), 60))
		}
	})

	if err := s.waitReady(exited, &waitErr); err != nil {
		stop()
		if strings.Contains(log.String(), "address already in use") {
			return nil, fmt.Errorf("prometheus on %s: %w", addr, errAddrInUse)
		}
		return nil, fmt.Errorf("%w; prometheus log:\n%s", err, tail(log.String(), 30))
	}
	return s, nil
}

// waitReady polls /-/ready until it answers 200, the process exits, or a
// minute passes.
func (s *Server) waitReady(exited <-chan struct{}, waitErr *error) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/-/ready", nil)
		if resp, err := s.client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("prometheus exited before it was ready: %v", *waitErr)
		case <-ctx.Done():
			return fmt.Errorf("waiting for prometheus to be ready: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// Log returns what prometheus has logged so far.
func (s *Server) Log() string { return s.log.String() }

// Alert is one entry of /api/v1/alerts.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// State is "pending" (the condition holds, its `for` has not passed)
	// or "firing".
	State    string    `json:"state"`
	ActiveAt time.Time `json:"activeAt"`
	// Value is the value of the expression's sample, as Prometheus
	// formats it ("1e+00").
	Value string `json:"value"`
}

// Name returns the alert's alertname label.
func (a Alert) Name() string { return a.Labels["alertname"] }

// Alerts returns the alerts that are pending or firing now.
func (s *Server) Alerts(ctx context.Context) ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	if err := s.get(ctx, "/api/v1/alerts", nil, &data); err != nil {
		return nil, err
	}
	return data.Alerts, nil
}

// Sample is one series of a query's result.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  float64           `json:"value"`
	Time   time.Time         `json:"time"`
}

// Query evaluates expr now (/api/v1/query) and returns the instant vector
// (or scalar, as one sample without labels) it yields. A bad expression is
// an error carrying Prometheus's message.
func (s *Server) Query(ctx context.Context, expr string) ([]Sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := s.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, fmt.Errorf("query %q: %w", expr, err)
	}
	switch data.ResultType {
	case "vector":
		var raw []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &raw); err != nil {
			return nil, fmt.Errorf("query %q: decoding the vector: %w", expr, err)
		}
		out := make([]Sample, 0, len(raw))
		for _, r := range raw {
			smp, err := parsePoint(r.Value)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", expr, err)
			}
			smp.Metric = r.Metric
			out = append(out, smp)
		}
		return out, nil
	case "scalar":
		var raw [2]any
		if err := json.Unmarshal(data.Result, &raw); err != nil {
			return nil, fmt.Errorf("query %q: decoding the scalar: %w", expr, err)
		}
		smp, err := parsePoint(raw)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", expr, err)
		}
		return []Sample{smp}, nil
	default:
		return nil, fmt.Errorf("query %q: result type %q is neither vector nor scalar", expr, data.ResultType)
	}
}

func parsePoint(p [2]any) (Sample, error) {
	ts, ok := p[0].(float64)
	str, ok2 := p[1].(string)
	if !ok || !ok2 {
		return Sample{}, fmt.Errorf("unexpected point %v", p)
	}
	v, err := strconv.ParseFloat(str, 64)
	if err != nil {
		return Sample{}, fmt.Errorf("parsing the value %q: %w", str, err)
	}
	sec := int64(ts)
	return Sample{Value: v, Time: time.Unix(sec, int64((ts-float64(sec))*1e9))}, nil
}

// Target is one active target of /api/v1/targets.
type Target struct {
	Labels     map[string]string `json:"labels"`
	ScrapePool string            `json:"scrapePool"`
	ScrapeURL  string            `json:"scrapeUrl"`
	// Health is "up", "down" or "unknown" (not scraped yet).
	Health     string    `json:"health"`
	LastError  string    `json:"lastError"`
	LastScrape time.Time `json:"lastScrape"`
}

// Targets returns the active scrape targets.
func (s *Server) Targets(ctx context.Context) ([]Target, error) {
	var data struct {
		ActiveTargets []Target `json:"activeTargets"`
	}
	if err := s.get(ctx, "/api/v1/targets", url.Values{"state": {"active"}}, &data); err != nil {
		return nil, err
	}
	return data.ActiveTargets, nil
}

// WaitAlertFiring waits until an alert named name is firing and returns it
// (the first one, if several series fire). It gives up when ctx ends, or
// after DefaultWait when ctx has no deadline, with an error listing the
// alerts seen last.
func (s *Server) WaitAlertFiring(ctx context.Context, name string) (Alert, error) {
	var found Alert
	var last []Alert
	err := s.poll(ctx, func(ctx context.Context) (bool, error) {
		alerts, err := s.Alerts(ctx)
		if err != nil {
			return false, err
		}
		last = alerts
		for _, a := range alerts {
			if a.Name() == name && a.State == "firing" {
				found = a
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return Alert{}, fmt.Errorf("waiting for alert %s to fire (alerts now: %s): %w", name, describeAlerts(last), err)
	}
	return found, nil
}

// WaitQuery waits until expr returns at least one sample and returns them:
// "the target was scraped" is WaitQuery(ctx, `up == 1`), "the counter
// moved" is WaitQuery(ctx, `some_total > 0`). Bounded like WaitAlertFiring.
// A bad expression ends the wait at once.
func (s *Server) WaitQuery(ctx context.Context, expr string) ([]Sample, error) {
	var out []Sample
	err := s.poll(ctx, func(ctx context.Context) (bool, error) {
		samples, err := s.Query(ctx, expr)
		if err != nil {
			var bad *APIError
			if errors.As(err, &bad) && bad.Type == "bad_data" {
				return false, permanent{err}
			}
			return false, err
		}
		out = samples
		return len(samples) > 0, nil
	})
	if err != nil {
		return nil, fmt.Errorf("waiting for %q to return samples: %w", expr, err)
	}
	return out, nil
}

// WaitTargetsUp waits until every active target has been scraped
// successfully and returns them. Bounded like WaitAlertFiring.
func (s *Server) WaitTargetsUp(ctx context.Context) ([]Target, error) {
	var last []Target
	err := s.poll(ctx, func(ctx context.Context) (bool, error) {
		targets, err := s.Targets(ctx)
		if err != nil {
			return false, err
		}
		last = targets
		if len(targets) == 0 {
			return false, nil
		}
		for _, tg := range targets {
			if tg.Health != "up" {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		var states []string
		for _, tg := range last {
			states = append(states, fmt.Sprintf("%s %s %s", tg.ScrapeURL, tg.Health, tg.LastError))
		}
		return nil, fmt.Errorf("waiting for targets to be up (now: %s): %w", strings.Join(states, "; "), err)
	}
	return last, nil
}

// permanent marks an error that ends a poll at once; any other error is
// taken as passing (a request that raced the server) and polled again.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// poll calls cond every 100 ms until it is done, returns a permanent error,
// or ctx (bounded by DefaultWait) ends; then the last error cond returned,
// if any, is wrapped in.
func (s *Server) poll(ctx context.Context, cond func(context.Context) (bool, error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		done, err := cond(ctx)
		if done {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return p.err
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// APIError is an error answer of Prometheus's HTTP API.
type APIError struct {
	// Type is Prometheus's errorType: "bad_data" for a bad query,
	// "execution", "timeout", ...
	Type    string
	Message string
}

func (e *APIError) Error() string { return e.Type + ": " + e.Message }

// get reads an API endpoint and decodes the data member of its answer.
func (s *Server) get(ctx context.Context, path string, params url.Values, data any) error {
	u := s.URL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("building the request for %s: %w", path, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("decoding %s (HTTP %d): %w", path, resp.StatusCode, err)
	}
	if env.Status != "success" {
		return &APIError{Type: env.ErrorType, Message: env.Error}
	}
	if err := json.Unmarshal(env.Data, data); err != nil {
		return fmt.Errorf("decoding the data of %s: %w", path, err)
	}
	return nil
}

// writeConfig writes prometheus.yml into dir. It is JSON, which the YAML
// loader reads as well, so that no value needs YAML quoting.
func writeConfig(dir string, cfg Config) (string, error) {
	job := cfg.Job
	if job == "" {
		job = "arpdoctor"
	}
	path := cfg.MetricsPath
	if path == "" {
		path = "/metrics"
	}
	rules := make([]string, 0, len(cfg.RuleFiles))
	for _, f := range cfg.RuleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return "", fmt.Errorf("resolving the rule file %s: %w", f, err)
		}
		rules = append(rules, abs)
	}
	targets := cfg.Targets
	if targets == nil {
		targets = []string{}
	}
	interval := Interval.String()
	scrape := map[string]any{}
	for k, v := range cfg.ScrapeOptions {
		scrape[k] = v
	}
	scrape["job_name"] = job
	scrape["metrics_path"] = path
	scrape["static_configs"] = []any{map[string]any{"targets": targets}}
	conf := map[string]any{
		"global": map[string]any{
			"scrape_interval":     interval,
			"scrape_timeout":      interval,
			"evaluation_interval": interval,
		},
		"rule_files":     rules,
		"scrape_configs": []any{scrape},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding the configuration: %w", err)
	}
	name := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(name, b, 0o644); err != nil {
		return "", fmt.Errorf("writing the configuration: %w", err)
	}
	return name, nil
}

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func describeAlerts(alerts []Alert) string {
	if len(alerts) == 0 {
		return "none"
	}
	var parts []string
	for _, a := range alerts {
		parts = append(parts, fmt.Sprintf("%s %s %v", a.Name(), a.State, a.Labels))
	}
	return strings.Join(parts, "; ")
}
