package commands

import (
	"fmt"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

// withInterfaces is a fake table whose namespace has interfaces, as
// *neigh.Client lists them.
type withInterfaces struct {
	*fakeNeigh
	names []string
}

func (w withInterfaces) Interfaces() ([]neigh.Interface, error) {
	var out []neigh.Interface
	for i, n := range w.names {
		out = append(out, neigh.Interface{Index: i + 1, Name: n})
	}
	return out, nil
}

// complete runs cobra's hidden __complete command, as the shell scripts
// do, and returns the candidates and the directive.
func complete(t *testing.T, s seams, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	code, out, errOut := runWith(t, s, false, append([]string{cobra.ShellCompRequestCmd}, args...)...)
	if code != ExitOK {
		t.Fatalf("%v: exit %d, stderr %q", args, code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	last := lines[len(lines)-1]
	var d cobra.ShellCompDirective
	if _, err := fmt.Sscanf(last, ":%d", &d); err != nil {
		t.Fatalf("%v: no directive line in %q", args, out)
	}
	cands := lines[:len(lines)-1]
	if cands == nil {
		cands = []string{}
	}
	return cands, d
}

const noFile = cobra.ShellCompDirectiveNoFileComp

func TestCompleteValues(t *testing.T) {
	f := incidentTable()
	s := fakeSeams(f, nil)
	tests := []struct {
		args []string
		want []string
		dir  cobra.ShellCompDirective
	}{
		{[]string{"neigh", "--state", ""}, []string{"all", "incomplete", "reachable", "stale", "delay", "probe", "failed", "noarp", "permanent", "none"}, noFile | cobra.ShellCompDirectiveNoSpace},
		{[]string{"neigh", "--state", "st"}, []string{"stale"}, noFile | cobra.ShellCompDirectiveNoSpace},
		{[]string{"flush", "--state", "stale,f"}, []string{"stale,failed"}, noFile | cobra.ShellCompDirectiveNoSpace},
		{[]string{"verify", "--state", "stale,p"}, []string{"stale,probe", "stale,permanent"}, noFile | cobra.ShellCompDirectiveNoSpace},
		{[]string{"neigh", "-o", ""}, []string{"table", "wide", "json"}, noFile},
		{[]string{"trace", "--output", ""}, []string{"table", "json"}, noFile},
		{[]string{"version", "-o", "j"}, []string{"json"}, noFile},
		{[]string{"exporter", "-o", ""}, []string{}, noFile},
		{[]string{"--color", ""}, []string{"auto", "always", "never"}, noFile},
		{[]string{"neigh", "--color", "a"}, []string{"auto", "always"}, noFile},
		{[]string{"sysctl", "fix", "--profile", ""}, []string{"cloud", "kubernetes"}, noFile},
		{[]string{"neigh", "--ip", ""}, []string{"192.0.2.9", "192.0.2.50", "198.51.100.7"}, noFile},
		{[]string{"flush", "--ip", "192.0.2."}, []string{"192.0.2.9", "192.0.2.50"}, noFile},
		{[]string{"verify", "-i", "eth1", "--ip", ""}, []string{"198.51.100.7"}, noFile},
	}
	for _, tt := range tests {
		got, dir := complete(t, s, tt.args...)
		for i, c := range got {
			got[i], _, _ = strings.Cut(c, "\t") // descriptions aside
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%v (-want +got):\n%s", tt.args, diff)
		}
		if dir != tt.dir {
			t.Errorf("%v: directive %d, want %d", tt.args, dir, tt.dir)
		}
	}

	got, _ := complete(t, s, "sysctl", "check", "--profile", "")
	if len(got) != 3 || !strings.HasPrefix(got[0], "cloud\t") || !strings.HasPrefix(got[2], "none\t") {
		t.Errorf("sysctl check --profile: %q, want cloud, kubernetes and none with their summaries", got)
	}
}

// -i completes the interfaces of the namespace --netns chose earlier on
// the line.
func TestCompleteInterface(t *testing.T) {
	f := incidentTable()
	var opened []string
	s := fakeSeams(f, nil)
	s.openNeigh = func(netns string) (neighClient, error) {
		opened = append(opened, netns)
		return withInterfaces{f, []string{"lo", "eth0", "eth1"}}, nil
	}
	for _, args := range [][]string{
		{"neigh", "-i", "e"},
		{"--netns", "blue", "trace", "--interface", "e"},
		{"doctor", "--netns", "blue", "-i", "e"},
	} {
		got, dir := complete(t, s, args...)
		if diff := cmp.Diff([]string{"eth0", "eth1"}, got); diff != "" || dir != noFile {
			t.Errorf("%v: directive %d (-want +got):\n%s", args, dir, diff)
		}
	}
	if diff := cmp.Diff([]string{"", "blue", "blue"}, opened); diff != "" {
		t.Errorf("namespaces opened (-want +got):\n%s", diff)
	}
}

func TestCompletionListed(t *testing.T) {
	_, out, _ := runWith(t, fakeSeams(&fakeNeigh{}, nil), false, "--help")
	if !strings.Contains(out, "\n  completion ") {
		t.Errorf("completion is not listed in --help:\n%s", out)
	}
	code, out, _ := runWith(t, fakeSeams(&fakeNeigh{}, nil), false, "completion", "bash")
	if code != ExitOK || !strings.Contains(out, "__arpdoctor_") {
		t.Errorf("completion bash: exit %d", code)
	}
}
