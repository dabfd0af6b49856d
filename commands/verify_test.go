package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/diagnose"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
)

func fixedResults() []neigh.ProbeResult {
	e := func(ip, mac string, s neigh.State) neigh.Entry {
		return neigh.Entry{IP: netip.MustParseAddr(ip), MAC: mac, State: s, Interface: "eth0", IfIndex: 2}
	}
	after := e("192.0.2.50", "02:00:00:00:50:b2", neigh.Reachable)
	return []neigh.ProbeResult{
		{Entry: e("192.0.2.9", "02:00:00:00:00:09", neigh.Reachable), Answered: []string{"02:00:00:00:00:09"}, Verdict: neigh.VerdictOK},
		{Entry: e("192.0.2.50", "02:00:00:00:50:a1", neigh.Stale), Answered: []string{"02:00:00:00:50:b2"}, Verdict: neigh.VerdictMismatch, After: &after},
		{Entry: e("192.0.2.77", "02:00:00:00:77:01", neigh.Stale), Answered: []string{"02:00:00:00:77:01", "02:00:00:00:77:02"}, Verdict: neigh.VerdictDuplicate},
		{Entry: e("192.0.2.98", "", neigh.Failed), Verdict: neigh.VerdictNoAnswer},
		{Entry: e("192.0.2.99", "02:00:00:00:99:99", neigh.Stale), Verdict: neigh.VerdictNoAnswer},
	}
}

func TestVerifyRender(t *testing.T) {
	var out, notes bytes.Buffer
	v := verifyView{results: fixedResults(), took: 1234 * time.Millisecond, netns: "lab"}
	if err := v.render(&out, &notes); err != nil {
		t.Fatal(err)
	}
	golden(t, "verify-table", out.String()+"--- notes\n"+notes.String())
}

func TestVerifyJSONShape(t *testing.T) {
	rs := fixedResults()
	rs[1].Fix = neigh.FixCorrectedByKernel
	var b bytes.Buffer
	views := []diagnose.ProbeRecord{diagnose.NewProbeRecord(&rs[1]), diagnose.NewProbeRecord(&rs[3])}
	if err := writeJSON(&b, views); err != nil {
		t.Fatal(err)
	}
	want := `[{"ip":"192.0.2.50","interface":"eth0","state_before":"STALE","cached_mac":"02:00:00:00:50:a1","answered_macs":["02:00:00:00:50:b2"],"verdict":"mismatch","problem":true,"state_after":"REACHABLE","mac_after":"02:00:00:00:50:b2","corrected_by_kernel":true,"fix":"none needed: the kernel took 02:00:00:00:50:b2 from the probe's answer"},` +
		`{"ip":"192.0.2.98","interface":"eth0","state_before":"FAILED","cached_mac":"","answered_macs":[],"verdict":"no_answer","problem":false,"state_after":"gone","mac_after":"","corrected_by_kernel":false}]` + "\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}
}

// verifyTable is the fake network of fixedResults.
func verifyTable() *fakeNeigh {
	f := &fakeNeigh{results: map[netip.Addr]neigh.ProbeResult{}}
	for _, r := range fixedResults() {
		f.entries = append(f.entries, r.Entry)
		f.results[r.Entry.IP] = r
	}
	return f
}

// verify's run function, without root: the table, the notes on stderr in
// a pipe, and the exit codes with and without --fix.
func TestVerifyRun(t *testing.T) {
	code, out, errOut := runWith(t, fakeSeams(verifyTable(), nil), false, "--netns", "lab", "verify", "--state", "all")
	if code != ExitProblems {
		t.Errorf("exit %d, want 1", code)
	}
	golden(t, "verify-pipe", out+"--- stderr\n"+maskDurations(errOut))

	// --fix: the mismatch is corrected already, the dead entries deleted;
	// the duplicate is left for a person, so something is still wrong.
	f := verifyTable()
	code, out, _ = runWith(t, fakeSeams(f, nil), false, "verify", "--fix", "--state", "all", "-o", "json")
	if code != ExitProblems || !f.fixed {
		t.Errorf("--fix with a duplicate: exit %d (want 1), fixed %v", code, f.fixed)
	}
	var recs []diagnose.ProbeRecord
	if err := json.Unmarshal([]byte(out), &recs); err != nil {
		t.Fatal(err)
	}
	fixes := map[string]string{}
	for _, r := range recs {
		fixes[r.IP] = r.Fix
	}
	want := map[string]string{
		"192.0.2.9":  "none needed: ok",
		"192.0.2.50": "none needed: the kernel took 02:00:00:00:50:b2 from the probe's answer",
		"192.0.2.77": "kept: 2 MACs answer; find out which host should own the IP",
		"192.0.2.98": "deleted",
		"192.0.2.99": "deleted",
	}
	if diff := cmp.Diff(want, fixes); diff != "" {
		t.Errorf("every entry carries its fix (-want +got):\n%s", diff)
	}

	// Without the duplicate, --fix leaves nothing wrong: exit 0.
	f = verifyTable()
	delete(f.results, mustAddr("192.0.2.77"))
	f.entries = slices.DeleteFunc(f.entries, func(e neigh.Entry) bool { return e.IP == mustAddr("192.0.2.77") })
	if code, _, _ := runWith(t, fakeSeams(f, nil), false, "verify", "--fix"); code != ExitOK {
		t.Errorf("--fix that fixed everything: exit %d, want 0", code)
	}

	f = verifyTable()
	f.probeErr = &neigh.PrivilegeError{Op: "probing on eth0", Cap: neigh.CapNetRaw}
	code, _, errOut = runWith(t, fakeSeams(f, nil), false, "verify")
	if want := "arpdoctor: probing on eth0 needs CAP_NET_RAW: run as root, or give the binary the capability: sudo setcap cap_net_raw+ep $(command -v arpdoctor)\n"; code != ExitTrouble || errOut != want {
		t.Errorf("no privilege: exit %d, stderr %q", code, errOut)
	}
}

func TestVerifyFlags(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--timeout", "0s"}, "--timeout 0s: want 1ms to 1m0s"},
		{[]string{"--retries", "-1"}, "--retries -1: want 0 to 10"},
		{[]string{"--retries", "1000000000"}, "--retries 1000000000: want 0 to 10"},
		{[]string{"--timeout", "9000h"}, "--timeout 9000h0m0s: want 1ms to 1m0s"},
		{[]string{"--include-permanent"}, "--include-permanent goes with --fix"},
	} {
		code, _, errOut := run(t, false, append([]string{"verify"}, tt.args...)...)
		if code != ExitTrouble || !strings.Contains(errOut, tt.wantErr) {
			t.Errorf("%v: exit %d, stderr %q", tt.args, code, errOut)
		}
	}
}

// Stopped midway, verify prints what it proved, then one line, and fixes
// nothing.
func TestVerifyInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := verifyTable()
	code, out, errOut := runCtx(t, ctx, fakeSeams(f, nil), false, "verify", "--fix", "--state", "all")
	if code != ExitTrouble || f.fixed {
		t.Errorf("exit %d (want 2), fixed %v", code, f.fixed)
	}
	if !strings.Contains(squeezed(out), "192.0.2.50 eth0 STALE 02:00:00:00:50:a1 02:00:00:00:50:b2 mismatch") {
		t.Errorf("what was proven is not shown:\n%s", out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if last := lines[len(lines)-1]; last != "arpdoctor: interrupted: 2 of 5 entries probed to the end; nothing was fixed" || strings.Count(errOut, "arpdoctor:") != 1 {
		t.Errorf("stderr:\n%s", errOut)
	}
}

// verify --ip for an IP the cache does not hold says so and probes it all
// the same, as arping would; an IP behind a gateway is not probed.
func TestVerifyUncached(t *testing.T) {
	f := verifyTable()
	f.results[mustAddr("192.0.2.200")] = neigh.ProbeResult{Answered: []string{"02:00:00:00:02:00"}, Verdict: neigh.VerdictNotCached}
	code, out, errOut := runWith(t, fakeSeams(f, nil), false, "verify", "--ip", "192.0.2.200", "--ip", "203.0.113.9")
	if code != ExitOK {
		t.Errorf("exit %d, want 0", code)
	}
	if len(f.probed) != 1 || f.probed[0].State != neigh.NotCached || f.probed[0].Interface != "eth0" {
		t.Errorf("probed %+v, want 192.0.2.200 on eth0, not cached", f.probed)
	}
	if !strings.Contains(squeezed(out), "192.0.2.200 eth0 NOT_CACHED - 02:00:00:00:02:00 not_cached") {
		t.Errorf("stdout:\n%s", out)
	}
	for _, want := range []string{
		"arpdoctor: note: 203.0.113.9 is reached through the gateway 192.0.2.1, not on a link of this host",
		"1 entry probed in ", ": 1 not_cached\n",
		"192.0.2.200: not in the cache; 02:00:00:00:02:00 answers for it on eth0\n",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}
