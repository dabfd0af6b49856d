package capture

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// filterPackets are one of each kind of packet the filter decides on.
func filterPackets(t testing.TB, vlan uint16) (names []string, w *wire) {
	w = newWire(t)
	w.VLAN = vlan
	add := func(name string, f func()) {
		names = append(names, name)
		f()
	}
	c, s6, c6 := "192.0.2.50:41000", "[2001:db8::10]:6379", "[2001:db8::50]:41000"
	add("syn", func() { w.tcp(newMAC, serverMAC, c, "192.0.2.10:6379", 1, 0, "S", 0) })
	add("synack", func() { w.tcp(serverMAC, newMAC, "192.0.2.10:6379", c, 9, 2, "SA", 0) })
	add("ack", func() { w.tcp(newMAC, serverMAC, c, "192.0.2.10:6379", 2, 10, "A", 0) })
	add("data", func() { w.tcp(newMAC, serverMAC, c, "192.0.2.10:6379", 2, 10, "PA", 100) })
	add("fin+data", func() { w.tcp(newMAC, serverMAC, c, "192.0.2.10:6379", 2, 10, "FPA", 100) })
	add("rst", func() { w.tcp(serverMAC, newMAC, "192.0.2.10:6379", c, 0, 2, "RA", 0) })
	add("other port", func() { w.tcp(newMAC, serverMAC, "198.51.100.7:41000", "198.51.100.8:80", 1, 0, "S", 0) })
	add("syn6", func() { w.tcp(newMAC, serverMAC, c6, s6, 1, 0, "S", 0) })
	add("ack6", func() { w.tcp(newMAC, serverMAC, c6, s6, 2, 10, "A", 0) })
	add("data6", func() { w.tcp(newMAC, serverMAC, c6, s6, 2, 10, "PA", 1) })
	add("arp", func() { w.arp(arpRequest, serverMAC, bcastMAC, "192.0.2.10", "", "192.0.2.50") })
	add("arp other", func() { w.arp(arpRequest, routerMAC, bcastMAC, "198.51.100.1", "", "198.51.100.2") })
	add("ns", func() { w.ns(serverMAC, oldMAC, "2001:db8::10", "2001:db8::50", "2001:db8::50", serverMAC) })
	add("na", func() { w.na(newMAC, serverMAC, "2001:db8::50", "2001:db8::10", "2001:db8::50", newMAC) })
	add("ns other", func() { w.ns(routerMAC, oldMAC, "fe80::1", "ff02::1:ff00:77", "2001:db8:1::77", routerMAC) })
	add("udp", func() { w.udp(newMAC, serverMAC, "192.0.2.50:5353", "192.0.2.10:53", 30) })
	return names, w
}

func TestFilterKeeps(t *testing.T) {
	p6379 := Filter{Ports: []uint16{6379}}
	host50 := Filter{Hosts: []netip.Prefix{netip.MustParsePrefix("192.0.2.50/32")}}
	net6 := Filter{Hosts: []netip.Prefix{netip.MustParsePrefix("2001:db8::/64")}}
	for _, tc := range []struct {
		name   string
		f      Filter
		keep   map[string]bool // the packets kept; all others dropped
		vlanOK bool
	}{
		{"everything", Filter{}, set("syn", "synack", "ack", "fin+data", "rst", "other port", "syn6", "ack6", "arp", "arp other", "ns", "na", "ns other"), true},
		{"--port 6379", p6379, set("syn", "synack", "ack", "fin+data", "rst", "syn6", "ack6", "arp", "arp other", "ns", "na", "ns other"), true},
		{"--host 192.0.2.50", host50, set("syn", "synack", "ack", "fin+data", "rst", "arp"), true},
		{"--host 2001:db8::/64", net6, set("syn6", "ack6", "ns", "na"), true},
	} {
		for _, vlan := range []uint16{0, 42} {
			names, w := filterPackets(t, vlan)
			for i, p := range w.packets(LinkTypeEthernet) {
				if got := tc.f.Match(LinkTypeEthernet, p.data); got != tc.keep[names[i]] {
					t.Errorf("%s, vlan %d: %s kept = %v, want %v", tc.name, vlan, names[i], got, tc.keep[names[i]])
				}
			}
		}
	}
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// The kernel's program and Match give the same answer on every packet:
// the test packets, every truncation of them, and random corruptions.
func TestFilterProgramAgreesWithMatch(t *testing.T) {
	filters := []Filter{
		{},
		{Ports: []uint16{6379, 41000}},
		{Hosts: []netip.Prefix{netip.MustParsePrefix("192.0.2.50/32")}},
		{Hosts: []netip.Prefix{netip.MustParsePrefix("192.0.0.0/20"), netip.MustParsePrefix("2001:db8::50/128")}},
		{Hosts: []netip.Prefix{netip.MustParsePrefix("2001:db8::/68")}, Ports: []uint16{6379}},
		{Hosts: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, lt := range []LinkType{LinkTypeEthernet, LinkTypeLinuxSLL, LinkTypeLinuxSLL2, LinkTypeRaw} {
		var corpus [][]byte
		for _, vlan := range []uint16{0, 7} {
			if vlan != 0 && lt == LinkTypeRaw {
				continue
			}
			_, w := filterPackets(t, vlan)
			for _, p := range w.packets(lt) {
				for n := 0; n <= len(p.data); n++ {
					corpus = append(corpus, p.data[:n])
				}
				for range 40 {
					m := append([]byte(nil), p.data...)
					for range 1 + rng.IntN(4) {
						m[rng.IntN(min(len(m), 90))] = byte(rng.Uint32())
					}
					corpus = append(corpus, m)
				}
			}
		}
		for _, f := range filters {
			prog, err := f.Program(lt)
			if err != nil {
				t.Fatalf("%v %+v: %v", lt, f, err)
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("%v %+v: the VM refuses the program: %v", lt, f, err)
			}
			kept := 0
			for _, p := range corpus {
				n, err := vm.Run(p)
				if err != nil {
					t.Fatalf("VM: %v", err)
				}
				if got := f.Match(lt, p); got != (n > 0) {
					t.Fatalf("%v %+v: on % x the program keeps %v, Match %v", lt, f, p, n > 0, got)
				}
				if n > 0 {
					kept++
				}
			}
			if kept == 0 {
				t.Errorf("%v %+v: nothing kept", lt, f)
			}
		}
	}
}

// The largest filter the flags allow still assembles for the kernel.
func TestFilterLimits(t *testing.T) {
	var f Filter
	for i := range MaxFilterTerms {
		f.Ports = append(f.Ports, uint16(1000+i))
		f.Hosts = append(f.Hosts, netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}), 127))
	}
	prog, err := f.Program(LinkTypeEthernet)
	if err != nil {
		t.Fatalf("largest filter: %v", err)
	}
	if _, err := bpf.Assemble(prog); err != nil {
		t.Fatalf("assembling: %v", err)
	}
	f.Ports = append(f.Ports, 1)
	if _, err := f.Program(LinkTypeEthernet); err == nil {
		t.Errorf("%d ports accepted, want an error", len(f.Ports))
	}
}
