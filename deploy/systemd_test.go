package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
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

// The release tarball ships the unit, and the README's tarball steps put
// the binary where the unit's ExecStart runs it.
func TestTarballInstallsWhereUnitRuns(t *testing.T) {
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^ExecStart=(\S+)/arpdoctor `).FindSubmatch(unit)
	if m == nil {
		t.Fatalf("%s: no ExecStart running arpdoctor", unitFile)
	}
	dir := string(m[1])
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	installs := regexp.MustCompile(`(?m)^\s+sudo install -m 0755 \S+/arpdoctor (\S+?)/?$`).FindAllSubmatch(readme, -1)
	if len(installs) == 0 {
		t.Fatal("README.md: no `sudo install -m 0755 .../arpdoctor DIR` step")
	}
	for _, in := range installs {
		if string(in[1]) != dir {
			t.Errorf("README.md installs arpdoctor in %s; %s runs %s/arpdoctor", in[1], unitFile, dir)
		}
	}

	var release struct {
		Archives []struct {
			Files []any `yaml:"files"`
		} `yaml:"archives"`
	}
	readYAML(t, "../.goreleaser.yaml", &release)
	for _, want := range []string{unitFile, "systemd/arpdoctor-exporter.default"} {
		for _, a := range release.Archives {
			found := false
			for _, f := range a.Files {
				if m, ok := f.(map[string]any); ok && m["src"] == "deploy/"+want {
					found = true
				}
			}
			if !found {
				t.Errorf(".goreleaser.yaml: an archive lacks deploy/%s", want)
			}
		}
	}
}
