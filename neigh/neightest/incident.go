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

// The incident's addresses and MACs.
const (
	ServerIP  = "192.0.2.10"
	ServerMAC = "02:00:00:00:00:10"
	ServerIP6 = "2001:db8::10"
	ClientIP  = "192.0.2.50"
	OldMAC    = "02:00:00:00:50:a1" // the dead instance
	NewMAC    = "02:00:00:00:50:b2" // the new instance with the reused IP
	// ServerPort is where the server listens.
	ServerPort = 6379
)

// Incident is the stale-entry incident, reproduced: a server that talked
// to a client at ClientIP (OldMAC) and so caches that mapping; the client
// is gone; a new client has taken ClientIP with NewMAC, and has a static
// entry for the server, as when the cloud network answers ARP for it, so
// it never ARPs and the server's cache is not corrected by its request;
// frames for the dead MAC are not flooded to it.
// The new client's SYN reaches the server, whose SYN-ACK goes to OldMAC.
type Incident struct {
	Lab                          *Lab
	Server, OldClient, NewClient *Host
	Listener                     net.Listener
}

// NewIncident builds the incident's lab. The server's entry for ClientIP
// is learned from a real connection of the old client, then made STALE, as
// the kernel makes it once the reachable time has passed, and as the
// garbage collector leaves it below gc_thresh1.
func NewIncident(t testing.TB) *Incident {
	t.Helper()
	lab := NewLab(t)
	in := &Incident{Lab: lab}
	in.Server = lab.AddHost(HostConfig{Name: "server", MAC: ServerMAC, Addrs: []string{ServerIP + "/24", ServerIP6 + "/64"}})
	in.Listener = in.Server.Serve(ServerPort)
	in.OldClient = lab.AddHost(HostConfig{Name: "old", MAC: OldMAC, Addrs: []string{ClientIP + "/24"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.OldClient.Connect(ctx, in.ServerAddr()); err != nil {
		t.Fatalf("old client connecting: %v", err)
	}
	in.OldClient.Unplug()
	in.Server.SetNeigh(netip.MustParseAddr(ClientIP), OldMAC, neigh.Stale)

	in.NewClient = lab.AddHost(HostConfig{Name: "new", MAC: NewMAC, Addrs: []string{ClientIP + "/24"}})
	in.NewClient.SetNeigh(netip.MustParseAddr(ServerIP), ServerMAC, neigh.Permanent)
	// A cloud network delivers a frame only to the owner of its
	// destination MAC: the SYN-ACKs for the dead MAC reach nobody.
	in.NewClient.StopFlooding()
	return in
}

// ServerAddr is the server's host:port.
func (in *Incident) ServerAddr() string {
	return net.JoinHostPort(ServerIP, fmt.Sprint(ServerPort))
}

// Connect dials the server from the new client.
func (in *Incident) Connect(ctx context.Context) error {
	return in.NewClient.Connect(ctx, in.ServerAddr())
}
