package sysctl

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/arpdoctor/arpdoctor/sysctl/sysctltest"
	"github.com/google/go-cmp/cmp"
)

func copyTree(t *testing.T, tree string) string {
	return sysctltest.CopyTree(t, filepath.Join("testdata", tree))
}

func profileRules(t *testing.T, name string) []Rule {
	t.Helper()
	rules, err := Profile(name)
	if err != nil {
		t.Fatal(err)
	}
	return rules
}

// An image whose files leave gc_thresh1 unset gets the file, passes the
// check afterwards, and a second fix changes nothing.
func TestFixImage(t *testing.T) {
	root := copyTree(t, "image-unset")
	opts := FixOptions{Root: root, Path: DefaultFixPath, Profile: "cloud", Rules: profileRules(t, "cloud")}
	p, err := PlanFix(opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sysctltest.CloudFixFile, p.New); diff != "" {
		t.Errorf("file (-want +got):\n%s", diff)
	}
	if p.Exists || !p.FileChanged() || len(p.Unfixed) > 0 || len(p.Live) > 0 {
		t.Errorf("plan: exists %v, changed %v, unfixed %q, live %v", p.Exists, p.FileChanged(), p.Unfixed, p.Live)
	}
	if err := WriteFixFile(root, p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "etc/sysctl.d/60-arpdoctor.conf"))
	if err != nil || string(b) != sysctltest.CloudFixFile {
		t.Fatalf("written file: %v\n%s", err, b)
	}
	if fi, _ := os.Stat(filepath.Join(root, "etc/sysctl.d/60-arpdoctor.conf")); fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Join(root, "etc/sysctl.d"))
	if len(ents) != 2 {
		t.Errorf("etc/sysctl.d holds %d entries, want 99-sysctl.conf and the new file: no temporary left", len(ents))
	}

	cfg, err := LoadSystemConfig(root)
	if err != nil {
		t.Fatal(err)
	}
	if rep := Check(cfg.Values(ModeConfig, nil), profileRules(t, "cloud"), CheckOptions{}); !rep.OK {
		t.Errorf("after fix the config fails: %+v", rep.Results)
	}

	before := sysctltest.TreeState(t, root)
	again, err := PlanFix(opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.FileChanged() || again.Diff() != "" || again.New != sysctltest.CloudFixFile {
		t.Errorf("second plan changes the file:\n%s", again.Diff())
	}
	if err := WriteFixFile(root, again); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, sysctltest.TreeState(t, root)); diff != "" {
		t.Errorf("second fix changed the tree (-before +after):\n%s", diff)
	}
}

func TestFixKubernetes(t *testing.T) {
	root := copyTree(t, "image-good")
	p, err := PlanFix(FixOptions{Root: root, Path: DefaultFixPath, Profile: "kubernetes", Rules: profileRules(t, "kubernetes")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range p.Settings {
		got = append(got, s.Rule+" "+string(s.Key)+" = "+s.Value)
	}
	// gc_thresh1 and arp_notify are already kept by 60-neigh.conf.
	want := []string{
		"gc-soft-limit net.ipv4.neigh.default.gc_thresh2 = 32768",
		"overflow net.ipv4.neigh.default.gc_thresh3 = 65536",
		"gc-soft-limit net.ipv6.neigh.default.gc_thresh2 = 32768",
		"overflow net.ipv6.neigh.default.gc_thresh3 = 65536",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}

// On the drift tree /etc/sysctl.conf (through 99-sysctl.conf) sets
// arp_notify = 0 after the fix's file: fix says so and leaves that file
// alone. Live, only the IPv6 threshold needs setting, to what its config
// file already says.
func TestFixOverriddenAndLive(t *testing.T) {
	root := copyTree(t, "drift")
	live, err := ReadRunning(Running{Root: root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts := FixOptions{Root: root, Path: DefaultFixPath, Profile: "cloud", Rules: profileRules(t, "cloud"), Live: live}
	p, err := PlanFix(opts)
	if err != nil {
		t.Fatal(err)
	}
	var keys []Key
	for _, s := range p.Settings {
		keys = append(keys, s.Key)
	}
	if diff := cmp.Diff([]Key{"net.ipv4.neigh.default.gc_thresh1", "net.ipv4.conf.all.arp_notify"}, keys); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
	wantUnfixed := []string{"net.ipv4.conf.all.arp_notify: /etc/sysctl.d/99-sysctl.conf:16 sets 0 after /etc/sysctl.d/60-arpdoctor.conf: change it there (fix writes no other file)"}
	if diff := cmp.Diff(wantUnfixed, p.Unfixed); diff != "" {
		t.Errorf("unfixed (-want +got):\n%s", diff)
	}
	wantLive := []LiveChange{{Key: "net.ipv6.neigh.default.gc_thresh1", From: "128", To: "0"}}
	if diff := cmp.Diff(wantLive, p.Live); diff != "" {
		t.Errorf("live (-want +got):\n%s", diff)
	}
	sysctlConf, _ := os.ReadFile(filepath.Join(root, "etc/sysctl.conf"))
	if err := WriteFixFile(root, p); err != nil {
		t.Fatal(err)
	}
	if err := ApplyLive(root, nil, p.Live); err != nil {
		t.Fatal(err)
	}
	if !p.Live[0].Applied {
		t.Error("change not marked applied")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/sysctl.conf")); string(b) != string(sysctlConf) {
		t.Error("fix changed /etc/sysctl.conf")
	}
	if b, _ := os.ReadFile(filepath.Join(root, "proc/sys/net/ipv6/neigh/default/gc_thresh1")); string(b) != "0\n" {
		t.Errorf("live value %q, want 0", b)
	}

	live, err = ReadRunning(Running{Root: root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opts.Live = live
	again, err := PlanFix(opts)
	if err != nil {
		t.Fatal(err)
	}
	if again.FileChanged() || len(again.Live) != 0 {
		t.Errorf("second plan: file changed %v, live %v", again.FileChanged(), again.Live)
	}
}

// A key live only over netlink (a namespace's table-wide values) cannot
// be written there; fix says so instead of writing anywhere else.
func TestFixLiveNotInProc(t *testing.T) {
	live, err := ReadRunning(Running{Root: "testdata/container", Kernel: quietKernel()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := PlanFix(FixOptions{Root: copyTree(t, "image-good"), Path: DefaultFixPath, Profile: "cloud", Rules: profileRules(t, "cloud"), Live: live})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"net.ipv4.neigh.default.gc_thresh1 was not set live: it is not in this network namespace's /proc/sys: it is one of the table's values, which are the machine's, and only the initial network namespace has them (net.ipv4.neigh.default)",
		"net.ipv6.neigh.default.gc_thresh1 was not set live: it is not in this network namespace's /proc/sys: it is one of the table's values, which are the machine's, and only the initial network namespace has them (net.ipv6.neigh.default)",
	}
	if diff := cmp.Diff(want, p.Unfixed); diff != "" {
		t.Errorf("unfixed (-want +got):\n%s", diff)
	}
	if len(p.Live) != 0 {
		t.Errorf("live changes %v, want none: arp_notify and ndisc_notify are kept by eth0", p.Live)
	}
}

// The per-interface keys are in every namespace's /proc/sys: when one is
// missing, fix says why, and never calls it the table's.
func TestFixLivePerInterfaceMissing(t *testing.T) {
	root := copyTree(t, "no-ipv6")
	if err := os.Remove(filepath.Join(root, "proc/sys/net/ipv4/conf/all/arp_notify")); err != nil {
		t.Fatal(err)
	}
	live, err := ReadRunning(Running{Root: root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := PlanFix(FixOptions{Root: root, Path: DefaultFixPath, Profile: "cloud", Rules: profileRules(t, "cloud"), Live: live})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"net.ipv6.neigh.default.gc_thresh1 was not set live: it is not in /proc/sys here: there is no /proc/sys/net/ipv6: IPv6 is off on this machine",
		"net.ipv4.conf.all.arp_notify was not set live: it is not in /proc/sys here: this kernel does not have it",
		"net.ipv6.conf.all.ndisc_notify was not set live: it is not in /proc/sys here: there is no /proc/sys/net/ipv6: IPv6 is off on this machine",
	}
	if diff := cmp.Diff(want, p.Unfixed); diff != "" {
		t.Errorf("unfixed (-want +got):\n%s", diff)
	}
}

func TestFixPathNotReadAtBoot(t *testing.T) {
	root := copyTree(t, "image-unset")
	rules := profileRules(t, "cloud")
	p, err := PlanFix(FixOptions{Root: root, Path: "/etc/arpdoctor.conf", Profile: "cloud", Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/etc/arpdoctor.conf is not read at boot: only the .conf files of /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d, /lib/sysctl.d and /etc/sysctl.conf are"}
	if diff := cmp.Diff(want, p.Unfixed); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	os.WriteFile(filepath.Join(root, "etc/sysctl.d/60-arpdoctor.conf"), []byte("# mine\n"), 0o644)
	p, err = PlanFix(FixOptions{Root: root, Path: "/usr/lib/sysctl.d/60-arpdoctor.conf", Profile: "cloud", Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"/usr/lib/sysctl.d/60-arpdoctor.conf is not read at boot: overridden by /etc/sysctl.d/60-arpdoctor.conf"}
	if diff := cmp.Diff(want, p.Unfixed); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	os.Remove(filepath.Join(root, "etc/sysctl.d/60-arpdoctor.conf"))
	os.Symlink("/dev/null", filepath.Join(root, "etc/sysctl.d/60-arpdoctor.conf"))
	_, err = PlanFix(FixOptions{Root: root, Path: DefaultFixPath, Profile: "cloud", Rules: rules})
	if want := "/etc/sysctl.d/60-arpdoctor.conf is a link to /dev/null, which disables it: remove the link to let fix write the file"; err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
	if _, err := PlanFix(FixOptions{Root: root, Path: "etc/x.conf", Rules: rules}); err == nil {
		t.Error("a relative path is taken")
	}
}

// Fix replaces its own file; when that file is a link, the link goes and
// its target stays as it was.
func TestWriteFixFileReplacesLink(t *testing.T) {
	root := copyTree(t, "image-unset")
	other := filepath.Join(root, "etc/other.conf")
	os.WriteFile(other, []byte("kernel.sysrq = 1\n"), 0o644)
	os.Symlink("/etc/other.conf", filepath.Join(root, "etc/sysctl.d/60-arpdoctor.conf"))
	p, err := PlanFix(FixOptions{Root: root, Path: DefaultFixPath, Profile: "cloud", Rules: profileRules(t, "cloud")})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Exists || p.Old != "kernel.sysrq = 1\n" {
		t.Errorf("old content %q, want the link target's", p.Old)
	}
	if err := WriteFixFile(root, p); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(other); string(b) != "kernel.sysrq = 1\n" {
		t.Errorf("link target changed: %q", b)
	}
	if fi, _ := os.Lstat(filepath.Join(root, "etc/sysctl.d/60-arpdoctor.conf")); !fi.Mode().IsRegular() {
		t.Errorf("file mode %v, want a regular file", fi.Mode())
	}
}

func TestDiff(t *testing.T) {
	old := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
	changed := "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n"
	want := `--- a/x
+++ b/x
@@ -1,5 +1,5 @@
 a
-b
+B
 c
 d
 e
@@ -9,3 +9,4 @@
 i
 j
 k
+l
`
	if diff := cmp.Diff(want, unifiedDiff("a/x", "b/x", old, changed)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	want = "--- /dev/null\n+++ b/x\n@@ -0,0 +1,2 @@\n+a\n+b\n"
	if diff := cmp.Diff(want, unifiedDiff("/dev/null", "b/x", "", "a\nb\n")); diff != "" {
		t.Errorf("new file (-want +got):\n%s", diff)
	}
	want = "--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n d\n"
	if diff := cmp.Diff(want, unifiedDiff("a/x", "b/x", "a\nb\nd\n", "a\nc\nd\n")); diff != "" {
		t.Errorf("close changes (-want +got):\n%s", diff)
	}
}
