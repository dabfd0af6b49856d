package commands

import (
	"context"
	"fmt"
	"testing"

	"github.com/arpdoctor/arpdoctor/namespaces"
	"github.com/arpdoctor/arpdoctor/neigh"
)

// fakeNode200 is a node of 200 pod namespaces with 50 entries each, one of
// them STALE: what --all-netns reads, without a kernel (a real table that
// size would start the machine's garbage collector; see docs/benchmarks.md).
func fakeNode200() seams {
	var targets []netnsTarget
	for n := range 200 {
		f := &fakeNeigh{}
		for i := range 50 {
			st := neigh.Reachable
			if i == 0 {
				st = neigh.Stale
			}
			f.entries = append(f.entries, entry(fmt.Sprintf("10.%d.%d.%d", n/250, n%250, i+1), fmt.Sprintf("02:00:00:%02x:%02x:%02x", n/256, n%256, i), "eth0", st))
		}
		ns := namespaces.Namespace{ID: namespaces.ID{Inode: uint64(4026532000 + n)}, Path: fmt.Sprintf("/proc/%d/ns/net", 1000+n),
			Processes:   []namespaces.Process{{PID: 1000 + n, Comm: "pause"}},
			Attribution: namespaces.Attribution{Runtime: "containerd", PodUID: fmt.Sprintf("1f2e3d4c-5b6a-4789-8abc-%012d", n)}}
		targets = append(targets, netnsTarget{ns: ns, open: func() (neighClient, error) { return f, nil }})
	}
	host := incidentTable()
	s := fakeSeams(host, nil)
	s.discover = func(context.Context, string) ([]netnsTarget, []namespaces.Note, error) { return targets, nil, nil }
	return s
}

// go test ./commands -run '^$' -bench AllNetNS -benchmem
func BenchmarkAllNetNSNeighJSON(b *testing.B) {
	s := fakeNode200()
	for b.Loop() {
		ios, _, _, _ := TestStreams()
		if code := mainWith(context.Background(), ios, s, []string{"--all-netns", "neigh", "-o", "json"}); code != ExitOK {
			b.Fatalf("exit %d", code)
		}
	}
}

func BenchmarkAllNetNSDoctorPassive(b *testing.B) {
	s := fakeNode200()
	for b.Loop() {
		ios, _, _, _ := TestStreams()
		if code := mainWith(context.Background(), ios, s, []string{"--all-netns", "doctor", "--passive", "--root", stockRoot}); code == ExitTrouble {
			b.Fatalf("exit %d", code)
		}
	}
}
