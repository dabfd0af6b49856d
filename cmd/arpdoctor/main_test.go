package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"golang.org/x/sys/unix"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
	buildDir  string
)

// TestMain removes the binary the tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds arpdoctor once, as a release does: static, version from
// ldflags.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "arpdoctor-bin"); buildErr != nil {
			return
		}
		// Runnable by the unprivileged user some tests run it as.
		os.Chmod(buildDir, 0o755)
		builtBin = filepath.Join(buildDir, "arpdoctor")
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags",
			"-X github.com/arpdoctor/arpdoctor/commands.version=v0.0.0-test", "-o", builtBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
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
	// In a pipe as on a terminal: a header, then the entry, columns apart.
	lines := strings.Split(out, "\n")
	if code != 0 || len(lines) < 2 || strings.Join(strings.Fields(lines[0]), " ") != "IP MAC INTERFACE STATE CONFIRMED USED UPDATED" ||
		!strings.HasPrefix(strings.Join(strings.Fields(lines[1]), " "), "192.0.2.31 02:00:00:00:00:31 eth0 STALE ") || errOut != "" {
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
		// Repeating cannot mend a missing privilege: it stops at once.
		{[]string{"flush", "--all", "--every", "1h"}, "needs CAP_NET_ADMIN"},
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

	// Reading the table needs no privilege at all: nobody, without any
	// capability, lists this process's own namespace (read, not changed).
	cmd := exec.Command(bin, "neigh", "-o", "json", "--state", "all")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if err := cmd.Run(); err != nil || !json.Valid(stdout.Bytes()) {
		t.Errorf("neigh as nobody: %v, stdout %q, stderr %q", err, stdout.String(), stderr.String())
	}
}

// Without CAP_NET_RAW doctor still reports the rest, says what it skipped
// and how to get the capability, and exits 2: the report is incomplete,
// and nothing it could check is wrong.
func TestDoctorWithoutCapNetRaw(t *testing.T) {
	bin := binary(t)
	in := neightest.NewIncident(t)
	cmd := exec.Command(bin, "--netns", in.Server.Name, "doctor", "-o", "json")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
		AmbientCaps: []uintptr{unix.CAP_SYS_ADMIN},
	}
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || errOut.Len() != 0 {
		t.Fatalf("%v, want exit status 2 and nothing on stderr; stderr %q", err, errOut.String())
	}
	var rep struct {
		OK         bool
		Complete   bool
		Incomplete []struct{ Check, Why, Run string }
		Checks     []struct{ Name, Verdict, Summary string }
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	verdicts := map[string]string{}
	for _, ch := range rep.Checks {
		verdicts[ch.Name] = ch.Verdict
		if ch.Name == "verify" && !strings.Contains(ch.Summary, "needs CAP_NET_RAW") {
			t.Errorf("verify: %q", ch.Summary)
		}
	}
	if verdicts["verify"] != "skipped" || verdicts["settings"] == "" || verdicts["table"] == "" || verdicts["statistics"] == "" {
		t.Errorf("verdicts %v", verdicts)
	}
	if rep.Complete || len(rep.Incomplete) != 1 || rep.Incomplete[0].Run != "sudo arpdoctor --netns "+in.Server.Name+" doctor" {
		t.Errorf("complete %v, incomplete %+v", rep.Complete, rep.Incomplete)
	}
}

// --help lists every command.
func TestHelpListsCommands(t *testing.T) {
	bin := binary(t)
	code, out, _ := runBin(t, bin, "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, c := range []string{"doctor", "flush", "neigh", "sysctl", "trace", "verify", "version", "watch"} {
		if !strings.Contains(out, "\n  "+c+" ") {
			t.Errorf("--help does not list %s:\n%s", c, out)
		}
	}
}
