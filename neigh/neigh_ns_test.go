package neigh_test

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

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

	ln := server.Listen("tcp", ":8080")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, fam := range []int{4, 6} {
		c, err := client.Dial(ctx, "tcp", net.JoinHostPort(server.IP(fam).String(), "8080"))
		if err != nil {
			t.Fatalf("dial IPv%d: %v", fam, err)
		}
		c.Close()
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
