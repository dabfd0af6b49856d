package capture

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// doctor keeps the findings of its trace; a correction replaces the one
// it corrects.
func TestDoctorKeepsCorrectedFindings(t *testing.T) {
	var fs []Finding
	for _, f := range []Finding{
		{ID: 1, Kind: SynUnanswered, Severity: Problem},
		{ID: 2, Kind: MACChanged, Severity: Info},
		{ID: 3, Kind: HandshakeOK, Severity: OK, Correction: true, Corrects: 1},
	} {
		fs = AddFinding(fs, f)
	}
	want := []Finding{
		{ID: 3, Kind: HandshakeOK, Severity: OK, Correction: true, Corrects: 1},
		{ID: 2, Kind: MACChanged, Severity: Info},
	}
	if diff := cmp.Diff(want, fs, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
		cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}
