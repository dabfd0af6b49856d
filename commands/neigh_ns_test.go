package commands

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/go-cmp/cmp"
)

// neighLab is a server that has talked to a client over IPv4 and IPv6 (so
// its table holds entries the kernel learned), plus static entries in
// several states.
func neighLab(t *testing.T) (server, client *neightest.Host) {
	lab := neightest.NewLab(t)
	server = lab.AddHost(neightest.HostConfig{Name: "server", MAC: "02:00:00:00:00:10",
		Addrs: []string{"192.0.2.10/24", "2001:db8::10/64"}})
	client = lab.AddHost(neightest.HostConfig{Name: "client", MAC: "02:00:00:00:00:20",
		Addrs: []string{"192.0.2.20/24", "2001:db8::20/64"}})
	server.Serve(7000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, fam := range []int{4, 6} {
		if err := client.Connect(ctx, net.JoinHostPort(server.IP(fam).String(), "7000")); err != nil {
			t.Fatalf("connecting over IPv%d: %v", fam, err)
		}
	}
	server.SetNeigh(netip.MustParseAddr("192.0.2.50"), "02:00:00:00:50:a1", neigh.Stale)
	server.SetNeigh(netip.MustParseAddr("192.0.2.51"), "", neigh.Failed)
	server.SetNeigh(netip.MustParseAddr("192.0.2.52"), "02:00:00:00:50:a2", neigh.Permanent)
	server.SetNeigh(netip.MustParseAddr("192.0.2.53"), "02:00:00:00:50:a3", neigh.NoARP)
	server.SetNeigh(netip.MustParseAddr("2001:db8::50"), "02:00:00:00:50:a1", neigh.Stale)
	return server, client
}

// key is what the oracle compares: ip, mac, interface, state.
type key struct{ IP, MAC, Interface, State string }

func keys(t *testing.T, out []byte, ipFormat bool) []string {
	t.Helper()
	var rows []map[string]any
	if err := json.Unmarshal(out, &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var ks []string
	for _, r := range rows {
		str := func(k string) string { s, _ := r[k].(string); return s }
		k := key{IP: str("ip"), MAC: str("mac"), Interface: str("interface"), State: str("state")}
		if ipFormat {
			k = key{IP: str("dst"), MAC: str("lladdr"), Interface: str("dev"), State: "NONE"}
			if st, ok := r["state"].([]any); ok {
				var names []string
				for _, s := range st {
					names = append(names, s.(string))
				}
				k.State = strings.Join(names, ",")
			}
		}
		ks = append(ks, k.IP+" "+k.MAC+" "+k.Interface+" "+k.State)
	}
	sort.Strings(ks)
	return ks
}

// arpdoctor neigh -o json and ip -j neigh show list the same entries:
// the default listing, every state, and a family.
func TestNeighMatchesIP(t *testing.T) {
	ip := neightest.RequireCommand(t, "ip")
	server, _ := neighLab(t)
	for _, tt := range []struct {
		ours, theirs []string
	}{
		{nil, nil},
		{[]string{"--state", "all"}, []string{"nud", "all"}},
		{[]string{"-6", "--state", "all"}, []string{"nud", "all"}},
	} {
		t.Run(strings.Join(tt.ours, " "), func(t *testing.T) {
			ipArgs := []string{"-j", "-n", server.Name}
			if len(tt.ours) > 0 && tt.ours[0] == "-6" {
				ipArgs = append(ipArgs, "-6")
			}
			ipList := func() []string {
				out, err := exec.Command(ip, append(append(ipArgs, "neigh", "show"), tt.theirs...)...).Output()
				if err != nil {
					t.Fatalf("ip neigh show: %v", err)
				}
				return keys(t, out, true)
			}
			// Learned entries change state on their own (DELAY, PROBE,
			// REACHABLE): compare a listing taken between two identical
			// ip listings, so that the table held still meanwhile.
			var want, gotKeys []string
			for range 10 {
				before := ipList()
				code, got, errOut := run(t, false, append([]string{"--netns", server.Name, "neigh", "-o", "json"}, tt.ours...)...)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				gotKeys = keys(t, []byte(got), false)
				if want = ipList(); cmp.Equal(before, want) {
					break
				}
			}
			if len(want) < 2 {
				t.Fatalf("ip lists only %v", want)
			}
			if diff := cmp.Diff(want, gotKeys); diff != "" {
				t.Errorf("ip -j neigh show vs arpdoctor neigh -o json (-ip +arpdoctor):\n%s", diff)
			}
		})
	}
}

func TestNeighNetnsByNameAndPath(t *testing.T) {
	server, client := neighLab(t)
	for _, spec := range []string{server.Name, "/run/netns/" + server.Name} {
		code, out, errOut := run(t, false, "--netns", spec, "neigh", "-4", "--ip", "192.0.2.0/24")
		if code != 0 {
			t.Fatalf("--netns %s: exit %d: %s", spec, code, errOut)
		}
		if !strings.Contains(squeezed(out), "192.0.2.20 02:00:00:00:00:20 eth0 ") || !strings.Contains(squeezed(out), "192.0.2.50 02:00:00:00:50:a1 eth0 STALE ") {
			t.Errorf("--netns %s:\n%s", spec, out)
		}
		if strings.Contains(out, "2001:db8") || strings.Contains(out, "192.0.2.53") {
			t.Errorf("--netns %s: filtered entries shown:\n%s", spec, out)
		}
	}
	// The client's table is another table.
	_, out, _ := run(t, false, "--netns", client.Name, "neigh")
	if strings.Contains(out, "192.0.2.50") || !strings.Contains(squeezed(out), "192.0.2.10 02:00:00:00:00:10") {
		t.Errorf("client table:\n%s", out)
	}
	code, _, errOut := run(t, false, "--netns", server.Name, "neigh", "-i", "eth7")
	if want := `arpdoctor: interface "eth7" not found in network namespace ` + server.Name + "\n"; code != ExitTrouble || errOut != want {
		t.Errorf("unknown interface: exit %d, stderr %q, want %q", code, errOut, want)
	}
}

// On a terminal the summary line counts states and shows the thresholds
// read over netlink inside the namespace.
func TestNeighSummaryInNamespace(t *testing.T) {
	server, _ := neighLab(t)
	code, out, errOut := run(t, true, "--netns", server.Name, "--color", "never", "neigh", "--ip", "192.0.2.50", "--ip", "192.0.2.51")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(lines[0], "IP ") || !strings.HasPrefix(last, "2 entries: 1 STALE, 1 FAILED; gc_thresh1/2/3 inet ") ||
		!strings.Contains(last, ", inet6 ") {
		t.Errorf("table:\n%s", out)
	}
}
