package commands

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
)

// The live commands' JSON, on the incident's server, is what the schemas
// say.
func TestSchemaLive(t *testing.T) {
	in := neightest.NewIncident(t)
	ns := in.Server.Name
	stale := func() { in.Server.SetNeigh(netip.MustParseAddr(neightest.ClientIP), neightest.OldMAC, neigh.Stale) }
	for _, tt := range []struct {
		schema string
		args   []string
	}{
		{"neigh.json", []string{"neigh", "-o", "json", "--state", "all"}},
		{"verify.json", []string{"verify", "-o", "json", "--timeout", "500ms"}},
		{"flush.json", []string{"flush", "--state", "stale", "--dry-run", "-o", "json"}},
		{"doctor.json", []string{"doctor", "--timeout", "500ms", "-o", "json"}},
		{"doctor.json", []string{"doctor", "--passive", "-o", "json"}},
		{"sysctl-check.json", []string{"sysctl", "check", "-o", "json"}},
		{"verify.json", []string{"verify", "--fix", "-o", "json", "--timeout", "500ms"}},
		{"flush.json", []string{"flush", "--all", "-o", "json"}},
	} {
		stale()
		code, out, errOut := run(t, false, append([]string{"--netns", ns}, tt.args...)...)
		if code == ExitTrouble {
			t.Fatalf("%v: exit %d: %s", tt.args, code, errOut)
		}
		validateDoc(t, tt.schema, out)
	}

	// watch: the entries present, then the events of a change.
	stale()
	ios, _, _, _ := TestStreams()
	w := startArpdoctor(t, ios, "--netns", ns, "watch", "-o", "json")
	seen := w.nextLine(t) + "\n"
	in.Server.SetNeigh(netip.MustParseAddr(neightest.ClientIP), neightest.NewMAC, neigh.Reachable)
	for !strings.Contains(seen, `"event":"mac_changed"`) {
		seen += w.nextLine(t) + "\n"
	}
	w.stop(t)
	validateLines(t, "watch.json", seen)

	// trace: a live capture while the new client fails to connect.
	stale()
	tr := startTrace(t, "--netns", ns, "trace", "-i", "eth0", "--duration", "4s", "-o", "json")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	in.Connect(ctx)
	cancel()
	tr.wait(t)
	lines := validateLines(t, "trace.json", tr.out.String())
	if !slices.ContainsFunc(lines, func(l map[string]any) bool { return l["kind"] == "synack_to_wrong_mac" }) {
		t.Errorf("the trace saw no synack_to_wrong_mac:\n%s", tr.out.String())
	}
}

// --all-netns over the lab's namespaces only.
func TestSchemaLiveAllNetNS(t *testing.T) {
	in := neightest.NewIncident(t)
	s := labOnly(t, in.Lab.Switch, in.Server.Namespace, in.OldClient.Namespace, in.NewClient.Namespace)
	for _, tt := range []struct {
		schema string
		args   []string
	}{
		{"neigh-all-netns.json", []string{"neigh", "-o", "json"}},
		{"verify-all-netns.json", []string{"verify", "-o", "json", "--timeout", "500ms"}},
		{"flush-all-netns.json", []string{"flush", "--state", "stale", "--dry-run", "-o", "json"}},
		{"doctor-all-netns.json", []string{"doctor", "--timeout", "500ms", "-o", "json"}},
	} {
		in.Server.SetNeigh(netip.MustParseAddr(neightest.ClientIP), neightest.OldMAC, neigh.Stale)
		code, out, errOut := runWith(t, s, false, append([]string{"--all-netns"}, tt.args...)...)
		if code == ExitTrouble {
			t.Fatalf("%v: exit %d: %s", tt.args, code, errOut)
		}
		validateDoc(t, tt.schema, out)
	}
}

// --netns completes the lab's named namespaces; -i and --ip what is in
// the namespace given before them.
func TestCompleteLive(t *testing.T) {
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "cmpl", MAC: "02:00:00:00:07:01", Addrs: []string{"203.0.113.7/24"}})
	h.SetNeigh(netip.MustParseAddr("203.0.113.70"), "02:00:00:00:07:70", neigh.Stale)

	got, dir := complete(t, kernelSeams(), "--netns", h.Name[:len(h.Name)-1])
	if !slices.Contains(got, h.Name) || dir != noFile {
		t.Errorf("--netns: %q (directive %d), want %s among them", got, dir, h.Name)
	}
	got, _ = complete(t, kernelSeams(), "--netns", h.Name, "neigh", "-i", "")
	if !slices.Contains(got, h.IfName) || !slices.Contains(got, "lo") {
		t.Errorf("-i in %s: %q, want lo and %s", h.Name, got, h.IfName)
	}
	got, _ = complete(t, kernelSeams(), "--netns", h.Name, "flush", "--ip", "203.")
	if !slices.Equal(got, []string{"203.0.113.70"}) {
		t.Errorf("--ip in %s: %q, want 203.0.113.70", h.Name, got)
	}
}
