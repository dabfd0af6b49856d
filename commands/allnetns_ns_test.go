package commands

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/namespaces"
	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"golang.org/x/sys/unix"
)

// labOnly discovers only the namespaces given, through the real discovery
// code: each is bind-mounted into a directory of the test's own, and that
// directory is the only one scanned. The machine's other namespaces, the
// host's among them, are never read or probed.
func labOnly(t *testing.T, nss ...*neightest.Namespace) seams {
	t.Helper()
	s, _ := labOnlyDir(t, nss...)
	return s
}

// labOnlyDir is labOnly, also returning the directory the namespaces are
// mounted in, so that a test can make one disappear.
func labOnlyDir(t *testing.T, nss ...*neightest.Namespace) (seams, string) {
	t.Helper()
	dir := t.TempDir()
	for _, ns := range nss {
		path := filepath.Join(dir, ns.Name)
		if err := os.WriteFile(path, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount(ns.Path, path, "", unix.MS_BIND, ""); err != nil {
			t.Fatalf("bind-mounting %s: %v", ns.Path, err)
		}
		t.Cleanup(func() { unix.Unmount(path, unix.MNT_DETACH) })
	}
	s := kernelSeams()
	proc := t.TempDir()
	s.discover = func(ctx context.Context, _ string) ([]netnsTarget, []namespaces.Note, error) {
		return discoverWith(ctx, namespaces.Options{ProcRoot: proc, NamedDirs: []string{dir},
			BindDirs: []string{}, SkipMounts: true})
	}
	return s, dir
}

// doctor --all-netns on the incident's lab and six more namespaces: the
// stale entry is reported under the server's namespace, named, and the
// report exits 1; healthy namespaces get no section.
func TestDoctorAllNetNSIncident(t *testing.T) {
	in := neightest.NewIncident(t)
	nss := []*neightest.Namespace{in.Lab.Switch, in.Server.Namespace, in.OldClient.Namespace, in.NewClient.Namespace}
	for i := range 6 {
		h := in.Lab.AddHost(neightest.HostConfig{Name: fmt.Sprintf("bystander%d", i), MAC: fmt.Sprintf("02:00:00:00:01:%02x", i),
			Addrs: []string{fmt.Sprintf("198.51.100.%d/24", i+1)}})
		nss = append(nss, h.Namespace)
	}
	in.Server.SetNeigh(netip.MustParseAddr(neightest.ClientIP), neightest.OldMAC, neigh.Stale)
	s := labOnly(t, nss...)
	code, out, errOut := runWith(t, s, false, "--all-netns", "--color", "never", "doctor", "--timeout", "500ms")
	if code != ExitProblems {
		t.Errorf("exit %d, want 1; stderr %q", code, errOut)
	}
	section := "\nNETNS " + in.Server.Name + "; --netns "
	i := strings.Index(out, section)
	if i < 0 {
		t.Fatalf("no section for the server's namespace %s:\n%s", in.Server.Name, out)
	}
	rest := out[i:]
	if j := strings.Index(rest[1:], "\nNETNS "); j >= 0 {
		rest = rest[:j+1]
	}
	if !strings.Contains(rest, "DIAGNOSIS (proven): stale neighbor entry for 192.0.2.50: cached 02:00:00:00:50:a1, owner 02:00:00:00:50:b2") {
		t.Errorf("the server's section lacks the diagnosis:\n%s", rest)
	}
	if !strings.Contains(out, "SUMMARY: 10 namespaces, ") || !strings.Contains(out, "problems in "+in.Server.Name) {
		t.Errorf("summary:\n%s", out)
	}
	prefix := strings.TrimSuffix(in.Lab.Switch.Name, "-sw")
	for _, h := range []string{"bystander0", "bystander5"} {
		if strings.Contains(out, "\nNETNS "+prefix+"-"+h) {
			t.Errorf("a healthy namespace %s has a section:\n%s", h, out)
		}
	}
}
