package commands

import (
	"encoding/json"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/go-cmp/cmp"
)

// flushLab is a host whose table holds entries in several states and
// families, on eth0.
func flushLab(t *testing.T, lab *neightest.Lab, name string) *neightest.Host {
	h := lab.AddHost(neightest.HostConfig{Name: name, Addrs: []string{"192.0.2.100/24", "2001:db8::100/64"}})
	for ip, st := range map[string]neigh.State{
		"192.0.2.1": neigh.Stale, "192.0.2.2": neigh.Reachable, "192.0.2.3": neigh.Permanent,
		"192.0.2.4": neigh.NoARP, "192.0.2.5": neigh.Failed, "198.51.100.6": neigh.Stale,
		"2001:db8::1": neigh.Stale, "2001:db8::3": neigh.Permanent,
	} {
		mac := "02:00:00:00:00:01"
		if st == neigh.Failed {
			mac = ""
		}
		h.SetNeigh(netip.MustParseAddr(ip), mac, st)
	}
	return h
}

// table lists a namespace's entries as "ip state mac", sorted, leaving out
// what the kernel adds by itself (multicast NOARP mappings).
func tableOf(t *testing.T, ns string) []string {
	t.Helper()
	c, err := neigh.Open(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	es, err := c.List(neigh.Filter{States: neigh.AllStates})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.IP.IsMulticast() {
			continue
		}
		out = append(out, e.IP.String()+" "+e.State.String()+" "+e.MAC)
	}
	sort.Strings(out)
	return out
}

func without(all []string, drop ...string) []string {
	var out []string
	for _, s := range all {
		ip, _, _ := strings.Cut(s, " ")
		keep := true
		for _, d := range drop {
			if ip == d {
				keep = false
			}
		}
		if keep {
			out = append(out, s)
		}
	}
	return out
}

func TestFlushSelectors(t *testing.T) {
	lab := neightest.NewLab(t)
	tests := []struct {
		args    []string
		deleted []string
	}{
		{[]string{"--ip", "192.0.2.1"}, []string{"192.0.2.1"}},
		{[]string{"--ip", "192.0.2.0/24"}, []string{"192.0.2.1", "192.0.2.2", "192.0.2.5"}},
		{[]string{"--state", "stale"}, []string{"192.0.2.1", "198.51.100.6", "2001:db8::1"}},
		{[]string{"-6", "--all"}, []string{"2001:db8::1"}},
		{[]string{"-i", "eth0"}, []string{"192.0.2.1", "192.0.2.2", "192.0.2.5", "198.51.100.6", "2001:db8::1"}},
		{[]string{"--all", "--include-permanent"}, []string{"192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4", "192.0.2.5", "198.51.100.6", "2001:db8::1", "2001:db8::3"}},
	}
	for i, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			h := flushLab(t, lab, "f"+string(rune('a'+i)))
			before := tableOf(t, h.Name)
			code, out, errOut := run(t, false, append([]string{"--netns", h.Name, "flush", "-o", "json"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var res struct {
				Deleted []struct{ IP string } `json:"deleted"`
			}
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			var deleted []string
			for _, d := range res.Deleted {
				// The kernel adds NOARP entries of its own for the multicast
				// groups the interface joins, when it joins them.
				if !netip.MustParseAddr(d.IP).IsMulticast() {
					deleted = append(deleted, d.IP)
				}
			}
			sort.Strings(deleted)
			if diff := cmp.Diff(tt.deleted, deleted); diff != "" {
				t.Errorf("deleted (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(without(before, tt.deleted...), tableOf(t, h.Name)); diff != "" {
				t.Errorf("table after (-want +got):\n%s", diff)
			}
		})
	}
}

// --dry-run changes nothing, says what it would do; a flush in one
// namespace leaves another's identical entries alone.
func TestFlushDryRunAndIsolation(t *testing.T) {
	lab := neightest.NewLab(t)
	h := flushLab(t, lab, "dry")
	other := flushLab(t, lab, "other")
	before, otherBefore := tableOf(t, h.Name), tableOf(t, other.Name)
	code, out, errOut := run(t, false, "--netns", h.Name, "flush", "--all", "--dry-run")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if diff := cmp.Diff(before, tableOf(t, h.Name)); diff != "" {
		t.Errorf("--dry-run changed the table (-before +after):\n%s", diff)
	}
	for _, want := range []string{"would-delete 192.0.2.1 02:00:00:00:00:01 eth0 STALE -\n", "would-delete 192.0.2.5 - eth0 FAILED -\n"} {
		if !strings.Contains(squeezed(out), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	// The kernel adds NOARP entries of its own for the multicast groups
	// the interface joins, when it joins them: their number varies.
	// In a pipe the summary goes to stderr: stdout holds the rows.
	if !regexp.MustCompile(`^dry run: would delete 5, keep \d+ \(2 PERMANENT; \d+ NOARP\), already gone 0\n$`).MatchString(errOut) {
		t.Errorf("dry run summary:\n%s", errOut)
	}
	code, out, errOut = run(t, false, "--netns", h.Name, "flush", "--all", "-v")
	if code != 0 || !strings.Contains(squeezed(out), "deleted 192.0.2.2 02:00:00:00:00:01 eth0 REACHABLE -\n") ||
		!strings.Contains(squeezed(out), "kept 192.0.2.3 02:00:00:00:00:01 eth0 PERMANENT set by hand or by the kernel for good (--include-permanent deletes it)\n") ||
		!regexp.MustCompile(`^deleted 5, kept \d+ \(2 PERMANENT; \d+ NOARP\), already gone 0\n$`).MatchString(errOut) {
		t.Errorf("flush -v: exit %d:\n%s", code, out)
	}
	if diff := cmp.Diff(otherBefore, tableOf(t, other.Name)); diff != "" {
		t.Errorf("a flush in %s changed %s (-before +after):\n%s", h.Name, other.Name, diff)
	}
}

// --only-wrong deletes exactly the stale and dead entries.
func TestFlushOnlyWrong(t *testing.T) {
	in := neightest.NewIncident(t)
	in.Lab.AddHost(neightest.HostConfig{Name: "good", MAC: "02:00:00:00:00:30", Addrs: []string{"192.0.2.30/24"}})
	srv := in.Server
	srv.SetNeigh(netip.MustParseAddr("192.0.2.30"), "02:00:00:00:00:30", neigh.Stale)
	srv.SetNeigh(netip.MustParseAddr("192.0.2.99"), "02:00:00:00:99:99", neigh.Stale)
	code, out, errOut := run(t, false, "--netns", srv.Name, "flush", "--all", "--only-wrong", "--timeout", "300ms", "-v")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	after := strings.Join(tableOf(t, srv.Name), "\n")
	// The good entry stays (the kernel may have confirmed it meanwhile:
	// its state is its own business).
	if !strings.Contains(after, "192.0.2.30 ") || !strings.Contains(after, " 02:00:00:00:00:30") || strings.Contains(after, "192.0.2.99") ||
		strings.Contains(after, neightest.OldMAC) {
		t.Errorf("after flush --only-wrong:\n%s\noutput:\n%s", after, out)
	}
	if !strings.Contains(squeezed(out), "kept 192.0.2.30 02:00:00:00:00:30 eth0 STALE verdict ok\n") {
		t.Errorf("output:\n%s", out)
	}
}

// --every repeats the flush until told to stop, a log line per pass.
func TestFlushEvery(t *testing.T) {
	lab := neightest.NewLab(t)
	h := flushLab(t, lab, "every")
	ios, _, _, _ := TestStreams()
	w := startArpdoctor(t, ios, "--netns", h.Name, "flush", "--state", "stale", "--every", "1s", "-o", "json")
	type pass struct {
		Time    string
		Deleted []struct{ IP string }
	}
	next := func() []string {
		var p pass
		if l := w.nextLine(t); json.Unmarshal([]byte(l), &p) != nil || p.Time == "" {
			t.Fatalf("not a pass: %s", l)
		}
		var ips []string
		for _, d := range p.Deleted {
			ips = append(ips, d.IP)
		}
		sort.Strings(ips)
		return ips
	}
	if got := next(); !cmp.Equal(got, []string{"192.0.2.1", "198.51.100.6", "2001:db8::1"}) {
		t.Errorf("first pass deleted %v", got)
	}
	// A stale entry that comes back is deleted by a later pass.
	h.SetNeigh(netip.MustParseAddr("192.0.2.9"), "02:00:00:00:00:09", neigh.Stale)
	deletedAgain := false
	for range 3 {
		if got := next(); len(got) > 0 {
			if !cmp.Equal(got, []string{"192.0.2.9"}) {
				t.Errorf("later pass deleted %v", got)
			}
			deletedAgain = true
			break
		}
	}
	if !deletedAgain {
		t.Error("no later pass deleted the stale entry that came back")
	}
	if code := w.stop(t); code != 0 {
		t.Errorf("exit %d, want 0 after SIGINT", code)
	}
}
