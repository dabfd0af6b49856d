package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh/neightest"
)

const unitFile = "systemd/arpdoctor-exporter.service"

// systemd-analyze verify finds nothing to say about the unit. It checks
// that ExecStart is an executable, and the package puts arpdoctor in
// /usr/bin only when installed, so a copy of the unit runs this test's
// own binary instead.
func TestSystemdAnalyzeVerify(t *testing.T) {
	analyze := neightest.RequireCommand(t, "systemd-analyze")
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "ExecStart=/usr/bin/arpdoctor exporter ") {
		t.Fatalf("%s: ExecStart does not run /usr/bin/arpdoctor exporter", unitFile)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(t.TempDir(), filepath.Base(unitFile))
	if err := os.WriteFile(copied, []byte(strings.ReplaceAll(string(unit), "/usr/bin/arpdoctor", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	// --man=no: the man page of Documentation= is installed by the
	// package, not here.
	out, err := exec.Command(analyze, "verify", "--man=no", copied).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	}
}

// The unit grants the exporter CAP_NET_RAW and nothing else, and keeps
// the sockets it may open to those it uses.
func TestSystemdUnitHardening(t *testing.T) {
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"AmbientCapabilities=CAP_NET_RAW\n",
		"CapabilityBoundingSet=CAP_NET_RAW\n",
		"DynamicUser=yes\n",
		"NoNewPrivileges=yes\n",
		"ProtectSystem=strict\n",
		"ProtectHome=yes\n",
		"PrivateTmp=yes\n",
		"RestrictAddressFamilies=AF_NETLINK AF_PACKET AF_INET AF_INET6 AF_UNIX\n",
		"SystemCallFilter=@system-service\n",
	} {
		if !strings.Contains(string(unit), "\n"+want) {
			t.Errorf("%s lacks %q", unitFile, strings.TrimSpace(want))
		}
	}
}
