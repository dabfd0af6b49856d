package neigh_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/arpdoctor/arpdoctor/neigh/neightest"
	"github.com/google/go-cmp/cmp"
)

func probe(t *testing.T, spec string, f neigh.Filter) []neigh.ProbeResult {
	t.Helper()
	c, err := neigh.Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	es, err := c.List(f)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := c.Probe(context.Background(), es, neigh.ProbeOptions{Timeout: 500 * time.Millisecond, Retries: 2})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

type verdictRow struct {
	IP, Cached string
	Answered   []string
	Verdict    neigh.Verdict
}

func rows(rs []neigh.ProbeResult) []verdictRow {
	var out []verdictRow
	for _, r := range rs {
		out = append(out, verdictRow{r.Entry.IP.String(), r.Entry.MAC, r.Answered, r.Verdict})
	}
	return out
}

// The incident's server caches the dead instance's MAC for the reused IP:
// probing finds the new owner (mismatch), a dead IP (no_answer), an IP two
// hosts claim (duplicate) and a good entry (ok), for IPv4 and IPv6.
func TestProbeVerdicts(t *testing.T) {
	in := neightest.NewIncident(t)
	lab := in.Lab
	lab.AddHost(neightest.HostConfig{Name: "twin1", MAC: "02:00:00:00:77:01", Addrs: []string{"192.0.2.77/24", "2001:db8::77/64"}})
	lab.AddHost(neightest.HostConfig{Name: "twin2", MAC: "02:00:00:00:77:02", Addrs: []string{"192.0.2.77/24", "2001:db8::77/64"}})
	lab.AddHost(neightest.HostConfig{Name: "good", MAC: "02:00:00:00:00:30", Addrs: []string{"192.0.2.30/24", "2001:db8::30/64"}})
	// IPv6's reused address: the server caches 02:...:60:a1, the owner now
	// is 02:...:60:b2.
	lab.AddHost(neightest.HostConfig{Name: "v6new", MAC: "02:00:00:00:60:b2", Addrs: []string{"2001:db8::60/64"}})
	srv := in.Server
	for ip, mac := range map[string]string{
		"192.0.2.77": "02:00:00:00:77:01", "192.0.2.99": "02:00:00:00:99:99", "192.0.2.30": "02:00:00:00:00:30",
		"2001:db8::60": "02:00:00:00:60:a1", "2001:db8::99": "02:00:00:00:99:99", "2001:db8::77": "02:00:00:00:77:01",
		"2001:db8::30": "02:00:00:00:00:30",
	} {
		srv.SetNeigh(netip.MustParseAddr(ip), mac, neigh.Stale)
	}
	srv.SetNeigh(netip.MustParseAddr("192.0.2.98"), "", neigh.Failed)

	start := time.Now()
	got := rows(probe(t, srv.Name, neigh.Filter{States: neigh.AllStates &^ neigh.StateSet(neigh.NoARP)}))
	t.Logf("probed %d entries in %v", len(got), time.Since(start))
	want := []verdictRow{
		{"192.0.2.30", "02:00:00:00:00:30", []string{"02:00:00:00:00:30"}, neigh.VerdictOK},
		{"192.0.2.50", neightest.OldMAC, []string{neightest.NewMAC}, neigh.VerdictMismatch},
		{"192.0.2.77", "02:00:00:00:77:01", []string{"02:00:00:00:77:01", "02:00:00:00:77:02"}, neigh.VerdictDuplicate},
		{"192.0.2.98", "", nil, neigh.VerdictNoAnswer},
		{"192.0.2.99", "02:00:00:00:99:99", nil, neigh.VerdictNoAnswer},
		{"2001:db8::30", "02:00:00:00:00:30", []string{"02:00:00:00:00:30"}, neigh.VerdictOK},
		{"2001:db8::60", "02:00:00:00:60:a1", []string{"02:00:00:00:60:b2"}, neigh.VerdictMismatch},
		{"2001:db8::77", "02:00:00:00:77:01", []string{"02:00:00:00:77:01", "02:00:00:00:77:02"}, neigh.VerdictDuplicate},
		{"2001:db8::99", "02:00:00:00:99:99", nil, neigh.VerdictNoAnswer},
	}
	// Which twin answers first is a race: compare answers as sets.
	for i := range got {
		if len(got[i].Answered) == 2 && got[i].Answered[0] > got[i].Answered[1] {
			got[i].Answered[0], got[i].Answered[1] = got[i].Answered[1], got[i].Answered[0]
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verdicts (-want +got):\n%s", diff)
	}
}

// BenchmarkProbe24 probes a full /24 of cached entries, half of them dead,
// with the default pacing (1s timeout, 2 retries). The live half is one
// host holding 126 addresses; the cache is PERMANENT entries, which the
// kernel does not update from the answers, so every round probes the same
// table. 253 entries are past gc_thresh1: as bigTable says, a benchmark
// for a kernel of its own.
func BenchmarkProbe24(b *testing.B) {
	neightest.RequirePrivateKernel(b)
	lab := neightest.NewLab(b)
	srv := lab.AddHost(neightest.HostConfig{Name: "srv", MAC: "02:00:00:00:00:fe", Addrs: []string{"192.0.2.254/24"}})
	var addrs []string
	for i := 1; i <= 126; i++ {
		addrs = append(addrs, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String()+"/24")
	}
	lab.AddHost(neightest.HostConfig{Name: "alive", MAC: "02:00:00:00:00:01", Addrs: addrs})
	for i := 1; i <= 253; i++ {
		srv.SetNeigh(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), "02:00:00:00:00:01", neigh.Permanent)
	}
	c, err := neigh.Open(srv.Name)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	es, err := c.List(neigh.Filter{Family: neigh.Inet})
	if err != nil || len(es) != 253 {
		b.Fatalf("%d entries, %v", len(es), err)
	}
	for b.Loop() {
		rs, err := c.Probe(context.Background(), es, neigh.ProbeOptions{Timeout: time.Second, Retries: 2})
		if err != nil {
			b.Fatal(err)
		}
		ok := 0
		for _, r := range rs {
			if r.Verdict == neigh.VerdictOK {
				ok++
			}
		}
		if ok != 126 {
			b.Fatalf("%d ok, want 126", ok)
		}
	}
}
