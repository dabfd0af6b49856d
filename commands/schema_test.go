package commands

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/capture/capturetest"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaDir holds the JSON Schemas of every command's output, published
// for the scripts that read them: the tests hold the code to them.
const schemaDir = "../docs/schema"

var schemas struct {
	once     sync.Once
	compiler *jsonschema.Compiler
	ids      map[string]string // file name -> $id
	err      error

	mu       sync.Mutex
	compiled map[string]*jsonschema.Schema
	used     map[string]bool
}

// loadSchemas adds every file of schemaDir to one compiler under its $id,
// so that the schemas reference each other (common.json) as they do when
// published.
func loadSchemas(t *testing.T) {
	t.Helper()
	schemas.once.Do(func() {
		schemas.compiler = jsonschema.NewCompiler()
		schemas.compiler.DefaultDraft(jsonschema.Draft2020)
		schemas.compiler.AssertFormat()
		schemas.ids = map[string]string{}
		schemas.compiled = map[string]*jsonschema.Schema{}
		schemas.used = map[string]bool{}
		files, err := filepath.Glob(filepath.Join(schemaDir, "*.json"))
		if err != nil || len(files) == 0 {
			schemas.err = err
			return
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				schemas.err = err
				return
			}
			doc, err := jsonschema.UnmarshalJSON(strings.NewReader(string(data)))
			if err != nil {
				schemas.err = err
				return
			}
			id, _ := doc.(map[string]any)["$id"].(string)
			if id == "" {
				id = "file://" + f
			}
			if err := schemas.compiler.AddResource(id, doc); err != nil {
				schemas.err = err
				return
			}
			schemas.ids[filepath.Base(f)] = id
		}
	})
	if schemas.err != nil {
		t.Fatalf("loading the schemas in %s: %v", schemaDir, schemas.err)
	}
}

// schema returns the compiled schema of a file in schemaDir, and counts
// it as used.
func schema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	loadSchemas(t)
	schemas.mu.Lock()
	defer schemas.mu.Unlock()
	schemas.used[name] = true
	if s := schemas.compiled[name]; s != nil {
		return s
	}
	id, ok := schemas.ids[name]
	if !ok {
		t.Fatalf("no schema %s in %s", name, schemaDir)
	}
	s, err := schemas.compiler.Compile(id)
	if err != nil {
		t.Fatalf("compiling %s: %v", name, err)
	}
	schemas.compiled[name] = s
	return s
}

// validateDoc checks that out is one JSON document that the schema name
// accepts.
func validateDoc(t *testing.T, name, out string) {
	t.Helper()
	sch := schema(t, name)
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("%s: output is not one JSON document: %v\n%s", name, err, out)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s rejects the output: %v\n%s", name, err, out)
	}
}

// validateLines checks that out is JSON lines, at least one, each of
// which the schema name accepts; it returns the lines.
func validateLines(t *testing.T, name, out string) []map[string]any {
	t.Helper()
	sch := schema(t, name)
	var docs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(line))
		if err != nil {
			t.Fatalf("%s: a line is not JSON: %v\n%s", name, err, line)
		}
		if err := sch.Validate(v); err != nil {
			t.Errorf("%s rejects a line: %v\n%s", name, err, line)
		}
		var m map[string]any
		json.Unmarshal([]byte(line), &m)
		docs = append(docs, m)
	}
	if len(docs) == 0 {
		t.Errorf("%s: no lines to validate", name)
	}
	return docs
}

// The schemas compile, each file has its own $id under the address the
// references use, and every one is exercised by a test below (directly or
// through a reference), so that none goes stale unnoticed.
func TestSchemasCompile(t *testing.T) {
	loadSchemas(t)
	for name, id := range schemas.ids {
		if want := "https://github.com/arpdoctor/arpdoctor/docs/schema/" + name; id != want {
			t.Errorf("%s: $id %q, want %q", name, id, want)
		}
		schema(t, name)
	}
}

// testedSchemas are the schemas that TestSchemaOutputs validates output
// against; common.json is used through their references.
var testedSchemas = []string{
	"neigh.json", "neigh-all-netns.json", "verify.json", "verify-all-netns.json",
	"flush.json", "flush-every.json", "flush-all-netns.json", "watch.json", "watch-all-netns.json",
	"trace.json", "sysctl-check.json", "sysctl-fix.json", "doctor.json", "doctor-all-netns.json",
	"version.json",
}

func TestSchemasAllTested(t *testing.T) {
	loadSchemas(t)
	for name := range schemas.ids {
		if name == "common.json" {
			continue
		}
		if !slices.Contains(testedSchemas, name) {
			t.Errorf("%s is validated by no test: add output to TestSchemaOutputs, or remove the schema", name)
		}
	}
	for _, name := range testedSchemas {
		if _, ok := schemas.ids[name]; !ok {
			t.Errorf("%s is listed as tested but %s has no such file", name, schemaDir)
		}
	}
	refs := 0
	for name := range schemas.ids {
		data, _ := os.ReadFile(filepath.Join(schemaDir, name))
		if strings.Contains(string(data), `"common.json#`) {
			refs++
		}
	}
	if refs == 0 {
		t.Error("no schema references common.json")
	}
}

// Every command's JSON output, run against fakes, is what its schema
// says; TestSchemaOutputs fails too when a schema goes unused.
func TestSchemaOutputs(t *testing.T) {
	verifyTable := func() *fakeNeigh {
		f := incidentTable()
		f.results[mustAddr("198.51.100.7")] = neigh.ProbeResult{Verdict: neigh.VerdictUnprobed, Unprobed: "the interface is down"}
		f.entries = append(f.entries, entry("203.0.113.4", "02:00:00:00:00:04", "eth0", neigh.Stale))
		f.results[mustAddr("203.0.113.4")] = neigh.ProbeResult{Answered: []string{"02:00:00:00:00:04", "02:00:00:00:00:05"},
			Verdict: neigh.VerdictDuplicate}
		f.entries[0].Flags = neigh.FlagRouter
		f.entries[0].Name = "gw.example"
		return f
	}
	flushTable := func() *fakeNeigh {
		f := incidentTable()
		f.flush = neigh.FlushResult{Deleted: []neigh.Entry{f.entries[1]},
			Kept: []neigh.Kept{{Entry: f.entries[3], Reason: neigh.KeptPermanent}, {Entry: f.entries[0], Reason: neigh.KeptNotWrong, Verdict: neigh.VerdictOK}},
			Gone: []neigh.Entry{f.entries[2]}}
		return f
	}
	pcap := incidentCapture(t).Pcap(capturetest.LinkEthernet)
	tracePath := writeFile(t, "server.pcap", pcap)
	sllPath := writeFile(t, "any.pcap", incidentCapture(t).Pcap(capturetest.LinkLinuxSLL2))

	docs := []struct {
		schema string
		f      *fakeNeigh
		pcap   []byte
		args   []string
	}{
		{"neigh.json", incidentTable(), nil, []string{"neigh", "-o", "json"}},
		{"neigh.json", verifyTable(), nil, []string{"neigh", "-o", "json", "--state", "all"}},
		{"neigh.json", &fakeNeigh{}, nil, []string{"neigh", "-o", "json"}},
		{"verify.json", verifyTable(), nil, []string{"verify", "-o", "json", "--state", "all"}},
		{"verify.json", verifyTable(), nil, []string{"verify", "--fix", "-o", "json", "--state", "all"}},
		{"verify.json", uncachedTable(), nil, []string{"verify", "--ip", "192.0.2.200", "-o", "json"}},
		{"flush.json", flushTable(), nil, []string{"flush", "--all", "-o", "json"}},
		{"flush.json", flushTable(), nil, []string{"flush", "--all", "--dry-run", "-o", "json"}},
		{"doctor.json", incidentTable(), nil, []string{"doctor", "--root", stockRoot, "-o", "json"}},
		{"doctor.json", incidentTable(), nil, []string{"--netns", "blue", "doctor", "--root", stockRoot, "-o", "json"}},
		{"doctor.json", incidentTable(), nil, []string{"doctor", "--root", stockRoot, "--passive", "-o", "json"}},
		{"doctor.json", incidentTable(), pcap, []string{"doctor", "--root", stockRoot, "--trace", "30s", "-o", "json"}},
		// Without the privilege to probe: verify is skipped.
		{"doctor.json", &fakeNeigh{entries: incidentTable().entries, tables: incidentTable().tables,
			probeErr: &neigh.PrivilegeError{Op: "probing", Cap: neigh.CapNetRaw}}, nil, []string{"doctor", "--root", stockRoot, "-o", "json"}},
		// Without the privilege to capture: the trace is incomplete.
		{"doctor.json", incidentTable(), nil, []string{"doctor", "--root", stockRoot, "--trace", "5s", "-o", "json"}},
		{"doctor.json", incidentTable(), nil, []string{"doctor", "--root", "../sysctl/testdata/drift", "-o", "json"}},
		{"sysctl-check.json", incidentTable(), nil, []string{"sysctl", "check", "--root", stockRoot, "-o", "json"}},
		{"sysctl-check.json", incidentTable(), nil, []string{"sysctl", "check", "--config", "--root", stockRoot, "-o", "json"}},
		{"version.json", nil, nil, []string{"version", "-o", "json"}},
	}
	for _, tt := range docs {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			f := tt.f
			if f == nil {
				f = &fakeNeigh{}
			}
			code, out, errOut := runWith(t, fakeSeams(f, tt.pcap), false, tt.args...)
			// An incomplete doctor report exits 2, and is still written.
			if code == ExitTrouble && out == "" {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			validateDoc(t, tt.schema, out)
			if tt.pcap != nil && !strings.Contains(out, `"name":"trace"`) {
				t.Errorf("no trace check to validate:\n%s", out)
			}
		})
	}

	t.Run("trace", func(t *testing.T) {
		for _, path := range []string{tracePath, sllPath} {
			code, out, errOut := runWith(t, fakeSeams(&fakeNeigh{}, nil), false, "trace", "-r", path, "-o", "json")
			if code == ExitTrouble {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			lines := validateLines(t, "trace.json", out)
			if last := lines[len(lines)-1]; last["kind"] != "summary" {
				t.Errorf("the last line is not the summary: %v", last)
			}
		}
		code, out, errOut := runWith(t, fakeSeams(&fakeNeigh{}, nil), false, "trace", "-r", tracePath, "-r", sllPath, "-o", "json")
		if code == ExitTrouble {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		validateLines(t, "trace.json", out)
	})

	t.Run("watch", func(t *testing.T) {
		f := incidentTable()
		f.events = [][]neigh.Event{watchEvents(time.Now()), {{Kind: neigh.EventResync, Time: time.Now(), Message: "events were lost; the table was read again"}}}
		code, out, errOut := runWith(t, fakeSeams(f, nil), false, "watch", "--duration", "50ms", "-o", "json")
		if code == ExitTrouble {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		validateLines(t, "watch.json", out)
	})

	t.Run("flush --every", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		f := flushTable()
		s := fakeSeams(f, nil)
		s.openNeigh = func(string) (neighClient, error) { return &cancelOnSecondFlush{fakeNeigh: f, cancel: cancel}, nil }
		ios, _, out, errOut := TestStreams()
		if code := mainWith(ctx, ios, s, []string{"flush", "--all", "--every", "1s", "-o", "json"}); code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		validateLines(t, "flush-every.json", out.String())
	})

	t.Run("sysctl fix", func(t *testing.T) {
		root := copyTree(t, "drift")
		for _, args := range [][]string{
			{"sysctl", "fix", "--root", root, "--no-apply", "--dry-run", "-o", "json"},
			{"sysctl", "fix", "--root", root, "--no-apply", "-o", "json"},
			{"sysctl", "fix", "--root", copyTree(t, "stock"), "--no-apply", "-o", "json"},
		} {
			code, out, errOut := run(t, false, args...)
			if code == ExitTrouble {
				t.Fatalf("%v: exit %d: %s", args, code, errOut)
			}
			validateDoc(t, "sysctl-fix.json", out)
		}
	})

	t.Run("all-netns", func(t *testing.T) {
		for _, tt := range []struct {
			schema string
			args   []string
		}{
			{"neigh-all-netns.json", []string{"neigh", "-o", "json"}},
			{"verify-all-netns.json", []string{"verify", "-o", "json"}},
			{"verify-all-netns.json", []string{"verify", "--fix", "-o", "json"}},
			{"flush-all-netns.json", []string{"flush", "--all", "-o", "json"}},
			{"flush-all-netns.json", []string{"flush", "--state", "stale", "--dry-run", "-o", "json"}},
			{"doctor-all-netns.json", []string{"doctor", "--root", stockRoot, "-o", "json"}},
			{"doctor-all-netns.json", []string{"doctor", "--root", stockRoot, "--passive", "-o", "json"}},
		} {
			s, tables := fakeNode()
			tables["host"].flush = neigh.FlushResult{Deleted: []neigh.Entry{}, Kept: []neigh.Kept{}, Gone: []neigh.Entry{}}
			code, out, errOut := runWith(t, s, false, append([]string{"--all-netns"}, tt.args...)...)
			if code == ExitTrouble {
				t.Fatalf("%v: exit %d: %s", tt.args, code, errOut)
			}
			validateDoc(t, tt.schema, out)
		}

		s, tables := fakeNode()
		e := tables["pod"].entries[1]
		tables["pod"].events = [][]neigh.Event{{{Kind: neigh.EventMACChanged, Time: time.Now(), Entry: e, OldMAC: "02:00:00:00:50:b2"}}}
		code, out, errOut := runWith(t, s, false, "--all-netns", "watch", "--duration", "50ms")
		if code == ExitTrouble {
			t.Fatalf("watch: exit %d: %s", code, errOut)
		}
		validateLines(t, "watch-all-netns.json", out)
	})

	schemas.mu.Lock()
	defer schemas.mu.Unlock()
	for _, name := range testedSchemas {
		if !schemas.used[name] {
			t.Errorf("%s: no output was validated against it", name)
		}
	}
}

// cancelOnSecondFlush ends flush --every once its first pass is written.
type cancelOnSecondFlush struct {
	*fakeNeigh
	cancel func()
	n      int
}

func (c *cancelOnSecondFlush) Flush(ctx context.Context, flt neigh.Filter, o neigh.FlushOptions) (neigh.FlushResult, error) {
	if c.n++; c.n > 1 {
		c.cancel()
	}
	return c.fakeNeigh.Flush(ctx, flt, o)
}

// The schemas are strict where the code is: what drifts is caught.
func TestSchemasReject(t *testing.T) {
	for _, tt := range []struct {
		schema, doc string
	}{
		{"neigh.json", `[{"ip":"192.0.2.9","family":"inet","mac":"02:00:00:00:00:09","interface":"eth0","ifindex":2,"state":"GOOD","flags":[],"probes":0,"confirmed_ago_s":1,"used_ago_s":1,"updated_ago_s":1}]`},
		{"neigh.json", `[{"ip":"192.0.2.9","family":"inet","mac":"02:00:00:00:00:09","interface":"eth0","ifindex":2,"state":"STALE","flags":[],"probes":0,"confirmed_ago_s":1,"used_ago_s":1,"updated_ago_s":1,"extra":1}]`},
		{"neigh.json", `[{"ip":"192.0.2.9","family":"inet","interface":"eth0","ifindex":2,"state":"STALE","flags":[],"probes":0,"confirmed_ago_s":1,"used_ago_s":1,"updated_ago_s":1}]`},
		{"verify.json", `[{"ip":"192.0.2.9","interface":"eth0","state_before":"STALE","cached_mac":"","answered_macs":[],"verdict":"maybe","problem":false,"state_after":"gone","mac_after":"","corrected_by_kernel":false}]`},
		{"flush.json", `{"dry_run":false,"deleted":null,"kept":[],"gone":[]}`},
		{"watch.json", `{"time":"2026-11-26T10:43:30.512Z","event":"moved","ip":"192.0.2.50","interface":"eth0","mac":"","old_mac":"","state":"STALE","old_state":""}`},
		{"doctor.json", `{"ok":true,"complete":true,"incomplete":[],"time":"2026-11-26T10:43:30Z","checks":[{"name":"table","verdict":"ok","summary":"","evidence":[],"next":[],"data":{"entries":1}}],"diagnosis":null}`},
		{"doctor.json", `{"ok":true,"complete":false,"incomplete":[],"time":"2026-11-26T10:43:30Z","checks":[],"diagnosis":null}`},
		{"trace.json", `{"kind":"summary","sources":[],"handshakes":{"lost":1},"neighbors":{},"problems":0,"evicted":0,"stopped":"end of input"}`},
	} {
		sch := schema(t, tt.schema)
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		if sch.Validate(v) == nil {
			t.Errorf("%s accepts %s", tt.schema, tt.doc)
		}
	}
}

// uncachedTable answers for an IP its cache does not hold.
func uncachedTable() *fakeNeigh {
	f := verifyTable()
	f.results[mustAddr("192.0.2.200")] = neigh.ProbeResult{Answered: []string{"02:00:00:00:02:00"}, Verdict: neigh.VerdictNotCached}
	return f
}
