package commands

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"golang.org/x/sys/unix"
)

// awaitScrape scrapes until ok holds, or fails after a generous while:
// the rounds over the namespaces come every few seconds.
func (ex *exporting) awaitScrape(t *testing.T, what string, ok func(m string) bool) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		m := ex.get(t, "/metrics")
		if ok(m) {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s; last scrape:\n%s\nlog:\n%s", what, grepArpdoctor(m), ex.errOut)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestExporterAllNetNS: with --all-netns the exporter reads every
// namespace (here only the lab's, as labOnly restricts discovery): the one
// holding a STALE entry has series of its own under its name, the healthy
// ones are summed into netns="other", and a namespace that is gone is gone
// from the metrics at the next round.
func TestExporterAllNetNS(t *testing.T) {
	lab := neightest.NewLab(t)
	var nss []*neightest.Namespace
	var hosts []*neightest.Host
	for i := range 4 {
		h := lab.AddHost(neightest.HostConfig{Name: fmt.Sprintf("ns%d", i), MAC: fmt.Sprintf("02:00:00:00:02:%02x", i),
			Addrs: []string{fmt.Sprintf("198.51.100.%d/24", i+1)}})
		hosts = append(hosts, h)
		nss = append(nss, h.Namespace)
	}
	hosts[0].SetNeigh(netip.MustParseAddr("198.51.100.50"), "02:00:00:00:50:a1", neigh.Stale)
	hosts[1].SetNeigh(netip.MustParseAddr("198.51.100.51"), "02:00:00:00:50:a2", neigh.Permanent)
	hosts[2].SetNeigh(netip.MustParseAddr("198.51.100.52"), "02:00:00:00:50:a3", neigh.Permanent)
	s, dir := labOnlyDir(t, nss...)

	ex := startExporterWith(t, s, "--all-netns", "exporter", "--rediscover-interval", "5s")
	stale := `arpdoctor_netns_neighbor_entries{family="inet",netns="` + hosts[0].Name + `",state="STALE"}`
	m := ex.awaitScrape(t, "the first round", func(m string) bool { return value(m, stale) == 1 })
	if v := value(m, `arpdoctor_netns_neighbor_entries{family="inet",netns="other",state="PERMANENT"}`); v != 2 {
		t.Errorf("PERMANENT entries of the healthy namespaces: %v, want 2 under netns=\"other\"; scrape:\n%s", v, grepArpdoctor(m))
	}
	for _, h := range hosts[1:] {
		if strings.Contains(m, `netns="`+h.Name+`"`) {
			t.Errorf("the healthy namespace %s has series of its own:\n%s", h.Name, grepArpdoctor(m))
		}
	}
	if v := value(m, "arpdoctor_netns_discovered"); v != 4 {
		t.Errorf("arpdoctor_netns_discovered %v, want 4", v)
	}
	if v := value(m, `arpdoctor_collector_success{collector="netns"}`); v != 1 {
		t.Errorf("netns collector success %v; log:\n%s", v, ex.errOut)
	}
	// The exporter's own namespace is read as without --all-netns.
	if !strings.Contains(m, `arpdoctor_collector_success{collector="neighbor"} 1`) {
		t.Errorf("the neighbor collector failed:\n%s", grepArpdoctor(m))
	}

	// The stale namespace disappears from the machine (its mount, the only
	// way discovery finds it here, is removed).
	path := filepath.Join(dir, hosts[0].Name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	m = ex.awaitScrape(t, "the namespace gone", func(m string) bool { return value(m, "arpdoctor_netns_discovered") == 3 })
	if strings.Contains(m, `netns="`+hosts[0].Name+`"`) {
		t.Errorf("the gone namespace %s still has series:\n%s", hosts[0].Name, grepArpdoctor(m))
	}
	if code := ex.stop(t); code != ExitOK {
		t.Errorf("exit code %d after cancel, want 0; log:\n%s", code, ex.errOut)
	}
}
