package neigh_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/sys/unix"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
)

func listIn(t *testing.T, spec string, f neigh.Filter) []neigh.Entry {
	t.Helper()
	c, err := neigh.Open(spec)
	if err != nil {
		t.Fatalf("Open(%q): %v", spec, err)
	}
	defer c.Close()
	es, err := c.List(f)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return es
}

func find(es []neigh.Entry, ip netip.Addr) *neigh.Entry {
	for i := range es {
		if es[i].IP == ip {
			return &es[i]
		}
	}
	return nil
}

// Two hosts talk over TCP, IPv4 and IPv6: the kernel learns real entries
// by ARP and NDP, and List reports them with the peer's MAC.
func TestListLearnedEntries(t *testing.T) {
	lab := neightest.NewLab(t)
	server := lab.AddHost(neightest.HostConfig{Name: "server", MAC: "02:00:00:00:00:10",
		Addrs: []string{"192.0.2.10/24", "2001:db8::10/64"}})
	client := lab.AddHost(neightest.HostConfig{Name: "client", MAC: "02:00:00:00:00:20",
		Addrs: []string{"192.0.2.20/24", "2001:db8::20/64"}})

	server.Serve(8080)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, fam := range []int{4, 6} {
		if err := client.Connect(ctx, net.JoinHostPort(server.IP(fam).String(), "8080")); err != nil {
			t.Fatalf("connecting over IPv%d: %v", fam, err)
		}
	}

	es := listIn(t, server.Name, neigh.Filter{})
	for _, fam := range []int{4, 6} {
		e := find(es, client.IP(fam))
		if e == nil {
			t.Fatalf("server has no entry for %s; entries: %+v", client.IP(fam), es)
		}
		if e.MAC != "02:00:00:00:00:20" || e.Interface != "eth0" {
			t.Errorf("entry %s: mac %q interface %q, want 02:00:00:00:00:20 on eth0", e.IP, e.MAC, e.Interface)
		}
		if !e.State.HasMAC() {
			t.Errorf("entry %s: state %s, want one with a MAC", e.IP, e.State)
		}
		if e.UpdatedAgo.Duration() > 30*time.Second {
			t.Errorf("entry %s: updated %s ago, want seconds", e.IP, e.UpdatedAgo)
		}
	}
	if e := find(es, client.IP(4)); e.Family != neigh.Inet {
		t.Errorf("family of %s = %q, want inet", e.IP, e.Family)
	}
	if e := find(es, client.IP(6)); e.Family != neigh.Inet6 {
		t.Errorf("family of %s = %q, want inet6", e.IP, e.Family)
	}
}

// stateLab is a host whose table holds an entry in every NUD state, set
// the way `ip neigh replace ... nud STATE` sets them, plus an IPv6 router.
func stateLab(t *testing.T) *neightest.Host {
	lab := neightest.NewLab(t)
	h := lab.AddHost(neightest.HostConfig{Name: "states", MAC: "02:00:00:00:01:00",
		Addrs: []string{"192.0.2.100/24", "2001:db8::100/64"}})
	for i, s := range []neigh.State{neigh.Reachable, neigh.Stale, neigh.Delay, neigh.Probe, neigh.Failed,
		neigh.Incomplete, neigh.Permanent, neigh.NoARP, neigh.None} {
		h.SetNeigh(netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)}), fmt.Sprintf("02:00:00:00:00:%02x", i+1), s)
	}
	if err := neightest.SetNeigh(h.Namespace, "eth0", netip.MustParseAddr("2001:db8::1"), "02:00:00:00:00:61",
		neigh.Stale, neigh.FlagRouter); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestListEveryState(t *testing.T) {
	h := stateLab(t)
	es := listIn(t, h.Name, neigh.Filter{States: neigh.AllStates})
	got := map[string]string{}
	for _, e := range es {
		if e.IP.Is4() || e.IP == netip.MustParseAddr("2001:db8::1") {
			got[e.IP.String()] = e.State.String() + " " + e.MAC + " " + e.Flags.String()
		}
	}
	want := map[string]string{
		"192.0.2.1":   "REACHABLE 02:00:00:00:00:01 ",
		"192.0.2.2":   "STALE 02:00:00:00:00:02 ",
		"192.0.2.4":   "PROBE 02:00:00:00:00:04 ",
		"192.0.2.5":   "FAILED  ",
		"192.0.2.6":   "INCOMPLETE  ",
		"192.0.2.7":   "PERMANENT 02:00:00:00:00:07 ",
		"192.0.2.8":   "NOARP 02:00:00:00:00:08 ",
		"192.0.2.9":   "NONE  ",
		"2001:db8::1": "STALE 02:00:00:00:00:61 router",
	}
	// The kernel's timers move some states on: DELAY to PROBE at once,
	// PROBE and INCOMPLETE to FAILED once their probes go unanswered
	// (seconds, which a loaded machine may take between set and list).
	for ip, ok := range map[string][]string{
		"192.0.2.3": {"DELAY 02:00:00:00:00:03 ", "PROBE 02:00:00:00:00:03 ", "FAILED  "},
		"192.0.2.4": {"PROBE 02:00:00:00:00:04 ", "FAILED  "},
		"192.0.2.6": {"INCOMPLETE  ", "FAILED  "},
	} {
		if !slices.Contains(ok, got[ip]) {
			t.Errorf("%s: %q, want one of %q", ip, got[ip], ok)
		}
		delete(got, ip)
		delete(want, ip)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}

	// Without a state filter, as `ip neigh show`, NOARP and NONE are hidden.
	for _, e := range listIn(t, h.Name, neigh.Filter{}) {
		if e.State == neigh.NoARP || e.State == neigh.None {
			t.Errorf("default listing shows %s %s", e.IP, e.State)
		}
	}
}

func TestListFiltersInKernelTable(t *testing.T) {
	h := stateLab(t)
	staleDelayProbe, err := neigh.ParseStates("stale,delay,probe")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    neigh.Filter
		want []string
	}{
		{"IPv6 only", neigh.Filter{Family: neigh.Inet6}, []string{"2001:db8::1"}},
		{"IPv4 prefix", neigh.Filter{Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.4/31")}}, []string{"192.0.2.4", "192.0.2.5"}},
		{"states", neigh.Filter{States: staleDelayProbe, Family: neigh.Inet}, []string{"192.0.2.2", "192.0.2.3", "192.0.2.4"}},
		{"interface", neigh.Filter{Interface: "lo"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, e := range listIn(t, h.Name, tt.f) {
				got = append(got, e.IP.String())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	c, err := neigh.Open(h.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.List(neigh.Filter{Interface: "eth1"}); err == nil ||
		err.Error() != fmt.Sprintf("interface %q not found in network namespace %s", "eth1", h.Name) {
		t.Errorf("unknown interface: err = %v", err)
	}
}

// --netns takes a name under /run/netns or any path to a namespace file,
// such as /proc/PID/task/TID/ns/net of a thread inside it.
func TestOpenByPath(t *testing.T) {
	h := stateLab(t)
	byName := listIn(t, h.Name, neigh.Filter{})
	byPath := listIn(t, "/run/netns/"+h.Name, neigh.Filter{})
	var procPath string
	var wg sync.WaitGroup
	release := make(chan struct{})
	wg.Add(1)
	ready := make(chan struct{})
	go func() {
		defer wg.Done()
		h.Do(func() error {
			procPath = fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
			close(ready)
			<-release
			return nil
		})
	}()
	<-ready
	byProc := listIn(t, procPath, neigh.Filter{})
	close(release)
	wg.Wait()
	if len(byName) == 0 {
		t.Fatal("no entries")
	}
	ignoreAges := cmpopts.IgnoreFields(neigh.Entry{}, "ConfirmedAgo", "UsedAgo", "UpdatedAgo", "Probes", "State")
	cmpAddr := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	if diff := cmp.Diff(byName, byPath, ignoreAges, cmpAddr); diff != "" {
		t.Errorf("by name vs by /run/netns path (-name +path):\n%s", diff)
	}
	if diff := cmp.Diff(byName, byProc, ignoreAges, cmpAddr); diff != "" {
		t.Errorf("by name vs by /proc path (-name +path):\n%s", diff)
	}
}

// Census counts what List lists, read from the kernel: every entry once,
// by family, interface and state.
func TestCensusOfKernelTable(t *testing.T) {
	h := stateLab(t)
	c, err := neigh.Open(h.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	groups, err := c.Census()
	if err != nil {
		t.Fatal(err)
	}
	listed := neigh.CensusOf(listIn(t, h.Name, neigh.Filter{States: neigh.AllStates}))
	// The kernel's timers move DELAY, PROBE and INCOMPLETE entries on
	// between the two reads: compare the totals, and the states that stay.
	type key struct {
		family neigh.Family
		ifname string
		state  string
	}
	count := func(gs []neigh.Group) map[key]int {
		m := map[key]int{}
		for _, g := range gs {
			m[key{g.Family, g.Interface, "all"}] += g.Entries
			switch g.State {
			case neigh.Stale, neigh.Permanent, neigh.NoARP, neigh.None:
				m[key{g.Family, g.Interface, g.State.String()}] += g.Entries
			}
		}
		return m
	}
	if diff := cmp.Diff(count(listed), count(groups)); diff != "" {
		t.Errorf("Census against List (-list +census):\n%s", diff)
	}
	if got := count(groups)[key{neigh.Inet, "eth0", "STALE"}]; got != 1 {
		t.Errorf("STALE IPv4 entries on eth0 = %d, want 1", got)
	}
}
