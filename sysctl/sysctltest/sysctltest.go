// Package sysctltest holds what the tests of sysctl and of the sysctl
// command share: copies of the fake machine trees under sysctl/testdata,
// snapshots of a tree to show a command changed nothing, and the file fix
// writes for the cloud profile.
package sysctltest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// CopyTree copies the tree at src, links and all, into a temporary root
// that the test may change.
func CopyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TreeState records every file, link and directory of a tree with its
// mode, modification time, and content or link target: equal states mean
// nothing changed.
func TreeState(t testing.TB, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		state := fi.Mode().String() + " " + fi.ModTime().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			state += " -> " + target
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			state += " " + string(b)
		}
		rel, _ := filepath.Rel(root, p)
		m[rel] = state
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// CloudFixFile is what fix writes for the cloud profile on an image whose
// files set none of its keys.
const CloudFixFile = "# Written by `arpdoctor sysctl fix --profile cloud`, which rewrites this file\n" + `# whole: keep other settings in files of their own.

# Run the ARP (IPv4) garbage collector at any table size: below gc_thresh1
# entries it never runs, and an entry for a reused IP keeps the old MAC.
net.ipv4.neigh.default.gc_thresh1 = 0

# Run the NDP (IPv6) garbage collector at any table size: below gc_thresh1
# entries it never runs, and an entry for a reused IP keeps the old MAC.
net.ipv6.neigh.default.gc_thresh1 = 0

# Announce the MAC (gratuitous ARP) when an interface comes up or its MAC
# changes, so that peers replace a cached entry for a reused IP at once.
net.ipv4.conf.all.arp_notify = 1

# Announce the MAC (unsolicited neighbor advertisement) when an interface
# comes up or its MAC changes, so that peers replace a cached entry for a
# reused IPv6 address at once.
net.ipv6.conf.all.ndisc_notify = 1
`
