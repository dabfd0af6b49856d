package neightest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/arpdoctor/arpdoctor/neigh"
)

// ClientIP6 is the reused IP of the incident over IPv6; the server is at
// ServerIP6, the MACs are the same as over IPv4.
const ClientIP6 = "2001:db8::50"

// Incident6 is the incident over IPv6, where NDP stands in for ARP: the
// server's neighbor entry for ClientIP6 holds OldMAC, the new client at
// ClientIP6 with NewMAC has a static entry for the server and so never
// sends it a neighbor solicitation, and frames for the dead MAC are not
// flooded to it. The hosts have IPv6 addresses only.
//
// IPv6 has more ways than ARP to correct the server's entry by chance, and
// the lab shuts each of them: the addresses skip duplicate address
// detection (usable at once, no solicitation sent for them), the hosts send
// no unsolicited neighbor advertisements (ndisc_notify) and no router
// solicitations, and accept no router advertisements. Upper-layer
// confirmation (a TCP ACK that makes the kernel trust an entry) cannot
// happen either: the client never gets the SYN-ACK, so it never ACKs.
type Incident6 struct {
	Incident
}

// NewIncident6 builds the incident's lab over IPv6, as NewIncident does
// over IPv4: the server's entry for ClientIP6 is learned from a real
// connection of the old client (its neighbor solicitation for the server),
// then made STALE.
func NewIncident6(t testing.TB) *Incident6 {
	t.Helper()
	lab := NewLab(t)
	// The switch's bridge and ports have IPv6 on too: the ports plugged
	// later take the namespace's defaults.
	quietIPv6(t, lab.Switch, "default", "br0")
	in := &Incident6{Incident{Lab: lab}}
	in.Server = quietHost(t, lab.AddHost(HostConfig{Name: "server", MAC: ServerMAC, Addrs: []string{ServerIP6 + "/64"}}))
	in.Listener = in.Server.Serve(ServerPort)
	in.OldClient = quietHost(t, lab.AddHost(HostConfig{Name: "old", MAC: OldMAC, Addrs: []string{ClientIP6 + "/64"}}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.OldClient.Connect(ctx, in.ServerAddr()); err != nil {
		t.Fatalf("old client connecting: %v", err)
	}
	in.OldClient.Unplug()
	in.Server.SetNeigh(netip.MustParseAddr(ClientIP6), OldMAC, neigh.Stale)

	in.NewClient = quietHost(t, lab.AddHost(HostConfig{Name: "new", MAC: NewMAC, Addrs: []string{ClientIP6 + "/64"}}))
	in.NewClient.SetNeigh(netip.MustParseAddr(ServerIP6), ServerMAC, neigh.Permanent)
	in.NewClient.StopFlooding()
	return in
}

// quietHost quiets the host's eth0, as quietIPv6 does.
func quietHost(t testing.TB, h *Host) *Host {
	t.Helper()
	quietIPv6(t, h.Namespace, h.IfName)
	return h
}

// quietIPv6 turns off, on the interfaces named, what would make them send
// neighbor discovery messages of their own accord. AddHost adds addresses
// without duplicate address detection already; accept_dad = 0 covers the
// link-local address too. The keys are written inside ns only.
func quietIPv6(t testing.TB, ns *Namespace, ifnames ...string) {
	t.Helper()
	for _, ifname := range ifnames {
		for _, k := range []string{"accept_dad", "accept_ra", "router_solicitations", "ndisc_notify"} {
			key := "net/ipv6/conf/" + ifname + "/" + k
			if err := ns.Sysctl(key, "0"); err != nil {
				t.Fatalf("%s: %s = 0: %v", ns.Name, key, err)
			}
		}
	}
}

// ServerAddr is the server's [host]:port over IPv6.
func (in *Incident6) ServerAddr() string {
	return net.JoinHostPort(ServerIP6, fmt.Sprint(ServerPort))
}

// Connect dials the server over IPv6 from the new client.
func (in *Incident6) Connect(ctx context.Context) error {
	return in.NewClient.Connect(ctx, in.ServerAddr())
}
