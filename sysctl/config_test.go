package sysctl

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The precedence tree has a file of the same name in /etc, /run and
// /usr/lib, a masked file, a link with an absolute target inside the tree,
// keys written with slashes, a glob with an exclusion and an explicit
// assignment, and /etc/sysctl.conf overriding the last of the directories'
// files.
func TestLoadSystemConfigPrecedence(t *testing.T) {
	c, err := LoadSystemConfig("testdata/precedence")
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{
		"/usr/local/lib/sysctl.d/05-explicit.conf",
		"/usr/lib/sysctl.d/10-vendor.conf",
		"/etc/sysctl.d/50-neigh.conf",
		"/usr/local/lib/sysctl.d/70-local.conf",
		"/lib/sysctl.d/90-lib.conf",
		"/etc/sysctl.d/95-abs.conf",
		"/etc/sysctl.d/99-late.conf",
		"/etc/sysctl.conf",
	}
	if diff := cmp.Diff(wantFiles, c.Files); diff != "" {
		t.Errorf("files read (-want +got):\n%s", diff)
	}
	wantSkipped := []SkippedFile{
		{Path: "/run/sysctl.d/50-neigh.conf", Reason: "overridden by /etc/sysctl.d/50-neigh.conf"},
		{Path: "/usr/lib/sysctl.d/50-neigh.conf", Reason: "overridden by /etc/sysctl.d/50-neigh.conf"},
		{Path: "/usr/lib/sysctl.d/80-masked.conf", Reason: "overridden by /etc/sysctl.d/80-masked.conf"},
		{Path: "/etc/sysctl.d/80-masked.conf", Reason: "masked: a link to /dev/null"},
	}
	if diff := cmp.Diff(wantSkipped, c.Skipped); diff != "" {
		t.Errorf("files skipped (-want +got):\n%s", diff)
	}
	for key, want := range map[Key]string{
		// sysctl.conf comes after 99-late.conf.
		"net.ipv4.neigh.default.gc_thresh1": "0 /etc/sysctl.conf:2",
		// /etc's 50-neigh.conf, not /run's or /usr/lib's.
		"net.ipv4.neigh.default.gc_thresh2":  "2048 /etc/sysctl.d/50-neigh.conf:2",
		"net.ipv4.neigh.default.gc_thresh3":  "4096 /lib/sysctl.d/90-lib.conf:2",
		"net.ipv6.neigh.default.gc_thresh3":  "8192 /usr/lib/sysctl.d/10-vendor.conf:4",
		"net.ipv4.neigh.default.gc_interval": "60 /etc/sysctl.d/99-late.conf:3",
		"net.ipv4.conf.all.arp_ignore":       "1 /etc/sysctl.d/95-abs.conf:2",
		// The glob reaches all and any interface, not the excluded
		// default; eth0's explicit value wins although read first.
		"net.ipv4.conf.all.arp_notify":      "1 /usr/local/lib/sysctl.d/70-local.conf:2",
		"net.ipv4.conf.eth1.arp_notify":     "1 /usr/local/lib/sysctl.d/70-local.conf:2",
		"net.ipv4.conf.eth0.arp_notify":     "2 /usr/local/lib/sysctl.d/05-explicit.conf:1",
		"net.ipv4.conf.default.arp_notify":  "unset",
		"net.ipv6.neigh.default.gc_thresh1": "unset",
	} {
		got := "unset"
		if a, ok := c.Lookup(key); ok {
			got = a.Value + " " + a.Where()
		}
		if got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
}

// Merging follows systemd-sysctl: a new value moves a key to the end, the
// same value keeps the first assignment, an exclusion removes a key, the
// last matching glob wins, an explicit assignment beats any glob.
func TestConfigMerge(t *testing.T) {
	c := newConfig()
	files := []struct{ name, text string }{
		{"a.conf", "x.y = 1\nnet.conf.*.n = 1\nnet.conf.eth0.n = 5\nk.same = 1\nk.gone = 1\n"},
		{"b.conf", "net.conf.e*.n = 2\nk.same = 1\n-k.gone\nnet.conf.*.n = 3\n"},
		{"c.conf", "x.y = 4\n-net.conf.eth2.n\n"},
	}
	for _, f := range files {
		if err := c.add(strings.NewReader(f.text), f.name); err != nil {
			t.Fatal(err)
		}
	}
	for key, want := range map[Key]string{
		"x.y":             "4 c.conf:1",
		"k.same":          "1 a.conf:4",
		"k.gone":          "unset",
		"net.conf.eth0.n": "5 a.conf:3",
		// net.conf.*.n moved behind net.conf.e*.n when it changed.
		"net.conf.eth1.n": "3 b.conf:4",
		"net.conf.lo.n":   "3 b.conf:4",
		"net.conf.eth2.n": "unset",
	} {
		got := "unset"
		if a, ok := c.Lookup(key); ok {
			got = a.Value + " " + a.Where()
		}
		if got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	var order []string
	for _, a := range c.Assignments() {
		order = append(order, a.String())
	}
	want := []string{"net.conf.eth0.n = 5", "k.same = 1", "net.conf.e*.n = 2", "-k.gone", "net.conf.*.n = 3", "x.y = 4", "-net.conf.eth2.n"}
	if diff := cmp.Diff(want, order); diff != "" {
		t.Errorf("assignments in force (-want +got):\n%s", diff)
	}
}

func TestLoadConfigFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.conf")
	b := filepath.Join(dir, "b.conf")
	os.WriteFile(a, []byte("net.ipv4.neigh.default.gc_thresh1 = 0\nnet.ipv4.neigh.default.gc_thresh3 = 4096\n"), 0o644)
	os.WriteFile(b, []byte("net.ipv4.neigh.default.gc_thresh1 = 16\n"), 0o644)
	c, err := LoadConfigFiles(context.Background(), b, a)
	if err != nil {
		t.Fatal(err)
	}
	if x, _ := c.Lookup("net.ipv4.neigh.default.gc_thresh1"); x.Value != "0" || x.File != a {
		t.Errorf("gc_thresh1 = %s from %s, want 0 from the file named last", x.Value, x.File)
	}
	if _, err := LoadConfigFiles(context.Background(), filepath.Join(dir, "missing.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want not exist", err)
	}
}

// A malformed line anywhere in the tree stops the loading with its file
// and line, as the machine would read them.
func TestLoadSystemConfigMalformed(t *testing.T) {
	_, err := LoadSystemConfig("testdata/malformed")
	want := `/etc/sysctl.d/10-neigh.conf:3: "net.ipv4.neigh.default.gc_thresh1 0" is not an assignment: want KEY = VALUE, or -KEY to keep KEY out of globs`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}
