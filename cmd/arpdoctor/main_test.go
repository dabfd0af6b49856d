package main

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"golang.org/x/sys/unix"
)

// binary builds arpdoctor as a release does: static, version from ldflags.
func binary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	// Runnable by the unprivileged user some tests run it as.
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "arpdoctor")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags",
		"-X github.com/arpdoctor/arpdoctor/commands.version=v0.0.0-test", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func runBin(t *testing.T, bin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errOut.String()
}

func TestBinary(t *testing.T) {
	bin := binary(t)

	code, out, _ := runBin(t, bin, "version")
	if code != 0 || !strings.HasPrefix(out, "arpdoctor v0.0.0-test ") {
		t.Errorf("version: exit %d, %q", code, out)
	}

	code, out, errOut := runBin(t, bin, "--netns", "arpdt-absent", "neigh")
	if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "arpdoctor: network namespace") {
		t.Errorf("bad --netns: exit %d, stdout %q, stderr %q; want 2 and one line on stderr", code, out, errOut)
	}

	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "bin", Addrs: []string{"192.0.2.30/24"}})
	h.SetNeigh(netip.MustParseAddr("192.0.2.31"), "02:00:00:00:00:31", neigh.Stale)
	code, out, errOut = runBin(t, bin, "--netns", h.Name, "neigh")
	if code != 0 || !strings.HasPrefix(out, "192.0.2.31\t02:00:00:00:00:31\teth0\tSTALE\t") || errOut != "" {
		t.Errorf("neigh: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// Without a capability a command says which one it needs, on one line,
// and exits 2. The child keeps CAP_SYS_ADMIN only (to enter the lab's
// namespace) and runs as nobody.
func TestMissingCapabilities(t *testing.T) {
	bin := binary(t)
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "caps", Addrs: []string{"192.0.2.60/24"}})
	h.SetNeigh(netip.MustParseAddr("192.0.2.61"), "02:00:00:00:00:61", neigh.Stale)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"verify"}, "needs CAP_NET_RAW"},
		{[]string{"flush", "--all"}, "needs CAP_NET_ADMIN"},
	} {
		cmd := exec.Command(bin, append([]string{"--netns", h.Name}, tt.args...)...)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
			AmbientCaps: []uintptr{unix.CAP_SYS_ADMIN},
		}
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("%v: %v, want exit 2; stderr %q", tt.args, err, errOut.String())
		}
		if e := errOut.String(); strings.Count(e, "\n") != 1 || !strings.Contains(e, tt.want) {
			t.Errorf("%v: stderr %q, want one line naming %s", tt.args, e, tt.want)
		}
	}
	// The entry is still there: nothing was changed.
	code, out, _ := runBin(t, bin, "--netns", h.Name, "neigh")
	if code != 0 || !strings.Contains(out, "192.0.2.61") {
		t.Errorf("after the refused flush: exit %d, table %q", code, out)
	}
}
