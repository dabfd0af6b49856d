package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every command, given a bad flag, an unknown subcommand or an output it
// does not print, says so on one line, exits 2, and does not repeat the
// program's name.
func TestUsageErrors(t *testing.T) {
	ios, _, _, _ := TestStreams()
	root := NewRootCmd(ios)
	var paths [][]string
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		paths = append(paths, []string{c.Name()})
		for _, sub := range c.Commands() {
			paths = append(paths, []string{c.Name(), sub.Name()})
		}
	}
	if len(paths) < 10 {
		t.Fatalf("only %d commands", len(paths))
	}
	for _, p := range paths {
		for _, extra := range [][]string{{"--no-such-flag"}, {"no-such-command"}, {"-o", "yaml"}, {"no-such-command", "--no-such-flag"}} {
			args := append(append([]string{}, p...), extra...)
			code, out, errOut := runWith(t, fakeSeams(incidentTable(), nil), false, args...)
			if code != ExitTrouble || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "arpdoctor: ") ||
				strings.HasPrefix(errOut, "arpdoctor: arpdoctor") {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and one line", args, code, out, errOut)
			}
			group := len(p) == 1 && len(root.Commands()) > 0 && p[0] == "sysctl"
			if extra[0] == "no-such-command" && (len(extra) == 1 || group) && !strings.Contains(errOut, `unknown command "no-such-command"`) {
				t.Errorf("%v: stderr %q does not name the unknown command", args, errOut)
			}
		}
	}
	// A near miss is suggested, under a group as at the top.
	for _, args := range [][]string{{"sysctl", "chek"}, {"sysctl", "chek", "--config"}, {"doctr"}} {
		_, _, errOut := runWith(t, fakeSeams(incidentTable(), nil), false, args...)
		if !strings.Contains(errOut, "did you mean") {
			t.Errorf("%v: no suggestion in %q", args, errOut)
		}
	}
}

// What a review with bad input found: an empty --netns would mean the
// host; a web config that never ends; a tree whose proc leads out of it.
func TestBadInputs(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "etc", "sysctl.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc", filepath.Join(tree, "proc")); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--netns", "", "neigh"}, "arpdoctor: --netns needs a name or a path; leave it out for the current namespace (see 'arpdoctor neigh --help')\n"},
		{[]string{"--netns", "", "flush", "--all"}, "arpdoctor: --netns needs a name or a path; leave it out for the current namespace (see 'arpdoctor flush --help')\n"},
		{[]string{"exporter", "--web.listen-address", "127.0.0.1:0", "--web.config.file", "/dev/zero"}, "arpdoctor: --web.config.file /dev/zero: not a regular file\n"},
		{[]string{"trace", "-r", "x.pcap", "-w", ""}, "arpdoctor: -w needs a file name (see 'arpdoctor trace --help')\n"},
		{[]string{"completion", "nosh"}, "arpdoctor: unknown command \"nosh\" for \"arpdoctor completion\"; did you mean \"bash\"? (see 'arpdoctor completion --help')\n"},
		{[]string{"sysctl", "check", "--root", tree}, "arpdoctor: no live values: there is no " + tree + "/proc/sys/net (to check the tree's config files, add --config)\n"},
	} {
		code, out, errOut := runWith(t, fakeSeams(incidentTable(), nil), false, tt.args...)
		if code != ExitTrouble || out != "" || errOut != tt.want {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want 2 and %q", tt.args, code, out, errOut, tt.want)
		}
	}
}
