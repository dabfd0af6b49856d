package commands

import (
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
