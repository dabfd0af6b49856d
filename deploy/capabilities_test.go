package deploy_test

import (
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// featureCaps reads the table of docs/exporter.md's "## Deploying" that
// says which capabilities each feature needs: the flag (or "" for what
// needs none) to the capabilities, without the CAP_ prefix.
func featureCaps(t *testing.T) map[string][]string {
	t.Helper()
	row := regexp.MustCompile("^\\| (`--[a-z-]+`|[^|`]+) \\| ([^|]+) \\|")
	capName := regexp.MustCompile("`CAP_([A-Z_]+)`")
	caps := map[string][]string{}
	for _, line := range strings.Split(docSection(t, "## Deploying"), "\n") {
		m := row.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(m[1], "feature") || strings.HasPrefix(m[1], "---") {
			continue
		}
		var cs []string
		for _, c := range capName.FindAllStringSubmatch(m[2], -1) {
			cs = append(cs, c[1])
		}
		caps[strings.Trim(m[1], "`")] = cs
	}
	for _, flag := range []string{"--verify-interval", "--trace-interface", "--netns", "--all-netns"} {
		if _, ok := caps[flag]; !ok {
			t.Fatalf("%s: the capability table under \"## Deploying\" has no row for %s", exporterDoc, flag)
		}
	}
	return caps
}

// need is the sorted union of what the flags need.
func need(caps map[string][]string, flags ...string) []string {
	var out []string
	for _, f := range flags {
		for _, c := range caps[f] {
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	sort.Strings(out)
	return out
}

// sortedCaps returns the capability names of a systemd or Kubernetes list,
// without the CAP_ prefix, sorted.
func sortedCaps(list []string) []string {
	out := make([]string, 0, len(list))
	for _, c := range list {
		out = append(out, strings.TrimPrefix(c, "CAP_"))
	}
	sort.Strings(out)
	return out
}

// The DaemonSet adds exactly the capabilities that docs/exporter.md says
// its flags need, and each is named, with why, in a comment.
func TestDaemonSetCapabilitiesMatchDocs(t *testing.T) {
	caps := featureCaps(t)
	var ds daemonSet
	readYAML(t, daemonSetFile, &ds)
	c := ds.Spec.Template.Spec.Containers[0]
	var flags []string
	for _, a := range c.Args {
		flag, _, _ := strings.Cut(a, "=")
		if _, ok := caps[flag]; ok {
			flags = append(flags, flag)
		}
	}
	want := need(caps, flags...)
	if got := sortedCaps(c.SecurityContext.Capabilities.Add); !slices.Equal(got, want) {
		t.Errorf("%s adds %q; its flags %q need %q (%s)", daemonSetFile, got, flags, want, exporterDoc)
	}
	b, err := os.ReadFile(daemonSetFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, capability := range want {
		if !strings.Contains(string(b), "# CAP_"+capability+":") && !strings.Contains(string(b), "# CAP_"+capability+",") {
			t.Errorf("%s: no comment says why CAP_%s", daemonSetFile, capability)
		}
	}
}

// The systemd unit grants what --trace-interface and --verify-interval
// need, and the drop-ins docs/exporter.md gives for --netns and
// --all-netns grant what those need on top.
func TestSystemdCapabilitiesMatchDocs(t *testing.T) {
	caps := featureCaps(t)
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	setting := func(text, key string) [][]string {
		var out [][]string
		for _, m := range regexp.MustCompile(`(?m)^\s*`+key+`=(.*)$`).FindAllStringSubmatch(text, -1) {
			out = append(out, sortedCaps(strings.Fields(m[1])))
		}
		return out
	}
	base := need(caps, "--trace-interface", "--verify-interval")
	for _, key := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
		if got := setting(string(unit), key); len(got) != 1 || !slices.Equal(got[0], base) {
			t.Errorf("%s: %s %q, want %q", unitFile, key, got, base)
		}
	}
	for _, capability := range base {
		if !strings.Contains(string(unit), "# CAP_"+capability+",") {
			t.Errorf("%s: no comment says why CAP_%s", unitFile, capability)
		}
	}
	dropIns := docSection(t, "## Deploying")
	_, dropIns, _ = strings.Cut(dropIns, "\n### systemd\n")
	dropIns, _, _ = strings.Cut(dropIns, "\n### ")
	want := [][]string{
		need(caps, "--trace-interface", "--verify-interval", "--netns"),
		need(caps, "--trace-interface", "--verify-interval", "--all-netns"),
	}
	for _, key := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
		if got := setting(dropIns, key); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s, systemd: the drop-ins for --netns and --all-netns set %s %q, want %q", exporterDoc, key, got, want)
		}
	}
}
