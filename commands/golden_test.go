package commands

import (
	"regexp"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/capture/capturetest"
	"github.com/arpdoctor/arpdoctor/neigh"
)

// What each command prints, as a user sees it on a terminal (colors off,
// to be read in review) and in a pipe: testdata/out-*.golden. Rewrite
// them with go test ./commands -run TestOutputs -update, and read the diff.
func TestOutputs(t *testing.T) {
	flushed := func() *fakeNeigh {
		f := incidentTable()
		f.flush = neigh.FlushResult{Deleted: []neigh.Entry{f.entries[1]},
			Kept: []neigh.Kept{{Entry: f.entries[0], Reason: neigh.KeptNotWrong, Verdict: neigh.VerdictOK}},
			Gone: []neigh.Entry{f.entries[2]}}
		return f
	}
	capturePath := writeFile(t, "server.pcap", incidentCapture(t).Pcap(capturetest.LinkEthernet))
	tests := []struct {
		name string
		f    func() *fakeNeigh
		args []string
	}{
		{"neigh", incidentTable, []string{"neigh"}},
		{"verify", verifyTable, []string{"verify", "--state", "all"}},
		{"verify-fix", verifyTable, []string{"verify", "--state", "all", "--fix"}},
		{"flush", flushed, []string{"flush", "--all", "-v"}},
		{"sysctl-check", incidentTable, []string{"sysctl", "check", "--root", stockRoot}},
		{"doctor", incidentTable, []string{"doctor", "--root", stockRoot}},
		{"trace", incidentTable, []string{"trace", "-r", capturePath}},
	}
	for _, tt := range tests {
		for _, mode := range []struct {
			name string
			tty  bool
		}{{"terminal", true}, {"pipe", false}} {
			t.Run(tt.name+"-"+mode.name, func(t *testing.T) {
				_, out, errOut := runWith(t, fakeSeams(tt.f(), nil), mode.tty, append([]string{"--color", "never"}, tt.args...)...)
				if errOut != "" {
					out += "--- stderr\n" + errOut
				}
				// What changes from run to run: the probing time, the
				// temporary file's path, the local time zone.
				out = maskDurations(strings.ReplaceAll(out, capturePath, "server.pcap"))
				out = clockTime.ReplaceAllString(out, "HH:MM:SS.mmm")
				golden(t, "out-"+tt.name+"-"+mode.name, out)
			})
		}
	}
}

var clockTime = regexp.MustCompile(`\b\d\d:\d\d:\d\d\.\d\d\d\b`)
