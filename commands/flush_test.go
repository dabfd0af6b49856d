package commands

import (
	"net/netip"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh"
)

func TestFlushSummary(t *testing.T) {
	e := neigh.Entry{IP: netip.MustParseAddr("192.0.2.1"), State: neigh.Permanent}
	s := neigh.Entry{IP: netip.MustParseAddr("192.0.2.2"), State: neigh.Stale}
	r := neigh.FlushResult{Deleted: []neigh.Entry{s, s}, Gone: []neigh.Entry{s},
		Kept: []neigh.Kept{{Entry: e, Reason: neigh.KeptPermanent}, {Entry: s, Reason: neigh.KeptNotWrong, Verdict: neigh.VerdictOK},
			{Entry: s, Reason: neigh.KeptNotWrong, Verdict: neigh.VerdictOK}, {Entry: s, Reason: neigh.KeptCorrected, Verdict: neigh.VerdictMismatch}}}
	if got, want := flushSummary(r), "deleted 2, kept 4 (1 PERMANENT; 2 verdict ok; 1 mismatch, corrected by the kernel from the answer), already gone 1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	r.DryRun = true
	if got, want := flushSummary(r), "dry run: would delete 2, keep 4 (1 PERMANENT; 2 verdict ok; 1 mismatch, corrected by the kernel from the answer), already gone 1"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFlushNeedsSelector(t *testing.T) {
	code, out, errOut := run(t, false, "flush")
	if code != ExitTrouble || out != "" ||
		errOut != "arpdoctor: flush needs a selector: -i IF, --ip IP|CIDR, --state STATE, --only-wrong, or --all (see 'arpdoctor flush --help')\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
