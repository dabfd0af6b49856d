package commands

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

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
	v := verifyView{results: fixedResults(), took: 1234 * time.Millisecond, tty: true, netns: "lab"}
	if err := v.render(&out, &notes); err != nil {
		t.Fatal(err)
	}
	want := `IP          INTERFACE  STATE      CACHED MAC         ANSWERED                             VERDICT
192.0.2.9   eth0       REACHABLE  02:00:00:00:00:09  02:00:00:00:00:09                    ok
192.0.2.50  eth0       STALE      02:00:00:00:50:a1  02:00:00:00:50:b2                    mismatch
192.0.2.77  eth0       STALE      02:00:00:00:77:01  02:00:00:00:77:01,02:00:00:00:77:02  duplicate
192.0.2.98  eth0       FAILED                        -                                    no_answer
192.0.2.99  eth0       STALE      02:00:00:00:99:99  -                                    no_answer
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
	wantNotes := `5 entries probed in 1.23s: 1 ok, 1 mismatch, 2 no_answer, 1 duplicate
192.0.2.50: the cache says 02:00:00:00:50:a1 but 02:00:00:00:50:b2 answers: the entry is stale; the kernel took the new MAC from the answer; prevent it: arpdoctor --netns lab sysctl check
192.0.2.77: 2 hosts answer (02:00:00:00:77:01, 02:00:00:00:77:02): two machines claim this IP; find the one that should not have it (arpdoctor --netns lab watch --ip 192.0.2.77 -i eth0 shows flip-flops)
192.0.2.99: nobody answers, yet the cache holds it as STALE with 02:00:00:00:99:99: the entry is dead; remove it: arpdoctor --netns lab flush --ip 192.0.2.99 -i eth0
`
	if diff := cmp.Diff(wantNotes, notes.String()); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}

func TestVerifyJSONShape(t *testing.T) {
	rs := fixedResults()
	rs[1].Fix = "none needed: the kernel learned 02:00:00:00:50:b2 from the answer"
	var b bytes.Buffer
	views := []verifyJSON{newVerifyJSON(&rs[1]), newVerifyJSON(&rs[3])}
	if err := writeJSON(&b, views); err != nil {
		t.Fatal(err)
	}
	want := `[{"ip":"192.0.2.50","interface":"eth0","state_before":"STALE","cached_mac":"02:00:00:00:50:a1","answered_macs":["02:00:00:00:50:b2"],"verdict":"mismatch","problem":true,"state_after":"REACHABLE","mac_after":"02:00:00:00:50:b2","fix":"none needed: the kernel learned 02:00:00:00:50:b2 from the answer"},` +
		`{"ip":"192.0.2.98","interface":"eth0","state_before":"FAILED","cached_mac":"","answered_macs":[],"verdict":"no_answer","problem":false,"state_after":"gone","mac_after":""}]` + "\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("json (-want +got):\n%s", diff)
	}
	if !json.Valid(b.Bytes()) {
		t.Error("invalid JSON")
	}
}

func TestFlushSummary(t *testing.T) {
	e := neigh.Entry{IP: netip.MustParseAddr("192.0.2.1")}
	r := neigh.FlushResult{Deleted: []neigh.Entry{e, e}, Gone: []neigh.Entry{e},
		Kept: []neigh.Kept{{Entry: e, Reason: "PERMANENT (--include-permanent deletes it)"}, {Entry: e, Reason: "verdict ok"}, {Entry: e, Reason: "verdict ok"}}}
	if got, want := flushSummary(r), "deleted 2, kept 3 (1 PERMANENT; 2 verdict ok), already gone 1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	r.DryRun = true
	if got, want := flushSummary(r), "dry run: would delete 2, keep 3 (1 PERMANENT; 2 verdict ok), already gone 1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
