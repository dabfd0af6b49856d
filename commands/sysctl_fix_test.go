package commands

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/sysctl/sysctltest"
	"github.com/google/go-cmp/cmp"
)

func TestSysctlFixFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    string
		wantErr string
	}{
		{args: nil, want: "/ /etc/sysctl.d/60-arpdoctor.conf cloud dry-run=false no-apply=false"},
		{args: []string{"--root", trees + "image-good", "--path", "/usr/lib/sysctl.d/60-arpdoctor.conf", "--profile", "kubernetes", "--dry-run", "--no-apply"},
			want: trees + "image-good /usr/lib/sysctl.d/60-arpdoctor.conf kubernetes dry-run=true no-apply=true"},
		{args: []string{"--profile", "none"}, wantErr: "--profile none has no values to write: use cloud or kubernetes"},
		{args: []string{"--path", "etc/sysctl.d/x.conf"}, wantErr: `--path "etc/sysctl.d/x.conf": want a clean absolute path, as on the machine, such as /etc/sysctl.d/60-arpdoctor.conf`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var got string
			cmd := newSysctlFixCmd(&globalOptions{}, func(_ context.Context, o *sysctlFixOptions) error {
				got = fmt.Sprintf("%s %s %s dry-run=%v no-apply=%v", o.Root, o.Path, o.Profile, o.DryRun, o.NoApply)
				return nil
			})
			cmd.SetArgs(append([]string{}, tt.args...))
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			err := cmd.Execute()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("options %q, want %q", got, tt.want)
			}
		})
	}
}

// fix on an image: --dry-run shows the diff and leaves the tree
// byte-identical; fix writes the file; fix again changes nothing; the
// image then passes the check.
func TestSysctlFixImage(t *testing.T) {
	root := copyTree(t, "image-unset")
	before := sysctltest.TreeState(t, root)
	diff := "--- /dev/null\n+++ b/etc/sysctl.d/60-arpdoctor.conf\n@@ -0,0 +1,19 @@\n"
	for line := range strings.Lines(sysctltest.CloudFixFile) {
		diff += "+" + line
	}

	code, out, errOut := run(t, false, "sysctl", "fix", "--root", root, "--no-apply", "--dry-run")
	if want := diff + "would write /etc/sysctl.d/60-arpdoctor.conf\n"; out != want || code != ExitOK || errOut != "" {
		t.Errorf("dry run: exit %d, stderr %q, stdout (-want +got):\n%s", code, errOut, cmp.Diff(want, out))
	}
	if d := cmp.Diff(before, sysctltest.TreeState(t, root)); d != "" {
		t.Fatalf("--dry-run changed the tree (-before +after):\n%s", d)
	}

	code, out, _ = run(t, false, "sysctl", "fix", "--root", root, "--no-apply")
	if want := diff + "wrote /etc/sysctl.d/60-arpdoctor.conf\n"; out != want || code != ExitOK {
		t.Errorf("fix: exit %d, stdout (-want +got):\n%s", code, cmp.Diff(want, out))
	}
	b, err := os.ReadFile(filepath.Join(root, "etc/sysctl.d/60-arpdoctor.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(sysctltest.CloudFixFile, string(b)); d != "" {
		t.Errorf("file (-want +got):\n%s", d)
	}

	written := sysctltest.TreeState(t, root)
	code, out, _ = run(t, false, "sysctl", "fix", "--root", root, "--no-apply")
	if want := "/etc/sysctl.d/60-arpdoctor.conf is up to date\n"; out != want || code != ExitOK {
		t.Errorf("second fix: exit %d, stdout (-want +got):\n%s", code, cmp.Diff(want, out))
	}
	if d := cmp.Diff(written, sysctltest.TreeState(t, root)); d != "" {
		t.Errorf("second fix changed the tree (-before +after):\n%s", d)
	}

	if code, out, _ := run(t, false, "sysctl", "check", "--config", "--root", root); code != ExitOK {
		t.Errorf("check after fix: exit %d\n%s", code, out)
	}
}

// A file read after the fix's undoes it at boot: fix says so, exits 1,
// and leaves that file alone. -o json shows the plan.
func TestSysctlFixOverridden(t *testing.T) {
	root := copyTree(t, "drift")
	sysctlConf, _ := os.ReadFile(filepath.Join(root, "etc/sysctl.conf"))
	code, out, _ := run(t, false, "sysctl", "fix", "--root", root, "--no-apply", "--dry-run", "-o", "json")
	want := `{
  "path": "/etc/sysctl.d/60-arpdoctor.conf",
  "exists": false,
  "old": "",
  "new": "# Written by ` + "`" + `arpdoctor sysctl fix --profile cloud` + "`" + `, which rewrites this file\n# whole: keep other settings in files of their own.\n\n# Run the ARP (IPv4) garbage collector at any table size: below gc_thresh1\n# entries it never runs, and an entry for a reused IP keeps the old MAC.\nnet.ipv4.neigh.default.gc_thresh1 = 0\n\n# Announce the MAC (gratuitous ARP) when an interface comes up or its MAC\n# changes, so that peers replace a cached entry for a reused IP at once.\nnet.ipv4.conf.all.arp_notify = 1\n",
  "settings": [
    {
      "key": "net.ipv4.neigh.default.gc_thresh1",
      "value": "0",
      "rule": "stale-entries"
    },
    {
      "key": "net.ipv4.conf.all.arp_notify",
      "value": "1",
      "rule": "arp-notify"
    }
  ],
  "live": [],
  "unfixed": [
    "net.ipv4.conf.all.arp_notify: /etc/sysctl.d/99-sysctl.conf:16 sets 0 after /etc/sysctl.d/60-arpdoctor.conf: change it there (fix writes no other file)"
  ],
  "ok": false,
  "dry_run": true,
  "diff": "--- /dev/null\n+++ b/etc/sysctl.d/60-arpdoctor.conf\n@@ -0,0 +1,10 @@\n+# Written by ` + "`" + `arpdoctor sysctl fix --profile cloud` + "`" + `, which rewrites this file\n+# whole: keep other settings in files of their own.\n+\n+# Run the ARP (IPv4) garbage collector at any table size: below gc_thresh1\n+# entries it never runs, and an entry for a reused IP keeps the old MAC.\n+net.ipv4.neigh.default.gc_thresh1 = 0\n+\n+# Announce the MAC (gratuitous ARP) when an interface comes up or its MAC\n+# changes, so that peers replace a cached entry for a reused IP at once.\n+net.ipv4.conf.all.arp_notify = 1\n",
  "live_checked": false
}

`
	if d := cmp.Diff(want, indentJSON(t, out)); d != "" {
		t.Errorf("json (-want +got):\n%s", d)
	}
	if code != ExitProblems {
		t.Errorf("exit %d, want %d", code, ExitProblems)
	}
	code, out, _ = run(t, false, "sysctl", "fix", "--root", root, "--no-apply")
	want = `--- /dev/null
+++ b/etc/sysctl.d/60-arpdoctor.conf
@@ -0,0 +1,10 @@
+# Written by ` + "`" + `arpdoctor sysctl fix --profile cloud` + "`" + `, which rewrites this file
+# whole: keep other settings in files of their own.
+
+# Run the ARP (IPv4) garbage collector at any table size: below gc_thresh1
+# entries it never runs, and an entry for a reused IP keeps the old MAC.
+net.ipv4.neigh.default.gc_thresh1 = 0
+
+# Announce the MAC (gratuitous ARP) when an interface comes up or its MAC
+# changes, so that peers replace a cached entry for a reused IP at once.
+net.ipv4.conf.all.arp_notify = 1
wrote /etc/sysctl.d/60-arpdoctor.conf
not fixed: net.ipv4.conf.all.arp_notify: /etc/sysctl.d/99-sysctl.conf:16 sets 0 after /etc/sysctl.d/60-arpdoctor.conf: change it there (fix writes no other file)
`
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("text (-want +got):\n%s", d)
	}
	if code != ExitProblems {
		t.Errorf("exit %d, want %d", code, ExitProblems)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/sysctl.conf")); !bytes.Equal(b, sysctlConf) {
		t.Error("fix changed /etc/sysctl.conf")
	}
}

// A tree whose /proc, /etc/sysctl.d and keys lead out of it: check and
// fix read nothing outside it and write nothing there, whatever they make
// of the tree.
func TestSysctlRootLinksOut(t *testing.T) {
	base := t.TempDir()
	root, outside := filepath.Join(base, "root"), filepath.Join(base, "outside")
	for p, v := range map[string]string{
		"proc/sys/net/ipv4/neigh/default/gc_thresh1": "4242\n",
		"proc/sys/net/ipv4/conf/all/arp_notify":      "0\n",
		"etc/sysctl.d/50-outside.conf":               "net.ipv4.neigh.default.gc_thresh1 = 4343\n",
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(outside, p)), 0o755)
		os.WriteFile(filepath.Join(outside, p), []byte(v), 0o644)
	}
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.Symlink(filepath.Join(outside, "proc"), filepath.Join(root, "proc"))
	os.Symlink("../../outside/etc/sysctl.d", filepath.Join(root, "etc/sysctl.d"))
	before := sysctltest.TreeState(t, outside)

	code, out, errOut := run(t, false, "sysctl", "check", "--config", "--root", root, "-o", "json")
	if code != ExitProblems || strings.Contains(out, "4343") || strings.Contains(out, "50-outside.conf") {
		t.Errorf("check --config: exit %d, stderr %q, read outside the root:\n%s", code, errOut, out)
	}
	code, _, errOut = run(t, false, "sysctl", "check", "--root", root)
	if code != ExitTrouble || !strings.HasPrefix(errOut, "arpdoctor: no live values: there is no "+root+"/proc/sys/net") {
		t.Errorf("check: exit %d, stderr %q", code, errOut)
	}
	code, out, errOut = run(t, false, "sysctl", "fix", "--root", root)
	if code != ExitTrouble || strings.Contains(out, "4242") {
		t.Errorf("fix: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	// The file goes where /etc/sysctl.d leads inside the tree, and the
	// tree's config then has it.
	code, out, errOut = run(t, false, "sysctl", "fix", "--root", root, "--no-apply")
	if code != ExitOK || errOut != "" {
		t.Errorf("fix --no-apply: exit %d, stderr %q; stdout %q", code, errOut, out)
	}
	if b, err := os.ReadFile(filepath.Join(root, "outside/etc/sysctl.d/60-arpdoctor.conf")); err != nil || string(b) != sysctltest.CloudFixFile {
		t.Errorf("the file written: %q, %v", b, err)
	}
	if code, out, errOut := run(t, false, "sysctl", "check", "--config", "--root", root); code != ExitOK {
		t.Errorf("check --config after fix: exit %d, stderr %q\n%s", code, errOut, out)
	}
	if after := sysctltest.TreeState(t, outside); !reflect.DeepEqual(before, after) {
		t.Errorf("outside the root changed:\nbefore %v\nafter  %v", before, after)
	}
}
