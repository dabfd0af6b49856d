package commands

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/arpdoctor/arpdoctor/capture"
	"github.com/arpdoctor/arpdoctor/internal/words"
	"github.com/arpdoctor/arpdoctor/neigh"
)

// neighClient is what the commands ask of a namespace's neighbor table:
// the seam between them and the kernel. *neigh.Client is the real one;
// tests give a fake, so that every command's run function is tested
// without root, beside the namespace tests that use the real one.
type neighClient interface {
	List(neigh.Filter) ([]neigh.Entry, error)
	Census() ([]neigh.Group, error)
	Tables(neigh.Family) ([]neigh.Table, error)
	Probe(context.Context, []neigh.Entry, neigh.ProbeOptions) ([]neigh.ProbeResult, error)
	Fix(results []neigh.ProbeResult, includePermanent bool) error
	Flush(context.Context, neigh.Filter, neigh.FlushOptions) (neigh.FlushResult, error)
	Watch(context.Context, neigh.WatchOptions, func([]neigh.Event) error) error
	DefaultRouteInterface() (string, error)
	RouteTo(netip.Addr) (neigh.Route, error)
	Interfaces() ([]neigh.Interface, error)
	// Do runs f inside the namespace, for reading its /proc/sys.
	Do(f func() error) error
	Close() error
}

// openNeigh connects to the neighbor table of the namespace named by
// netns ("" for the current one).
func openNeigh(netns string) (neighClient, error) {
	c, err := neigh.Open(netns)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// liveCapture is a live capture and what the kernel of its host says.
type liveCapture struct {
	Source capture.Source
	// Host is nil when the kernel's view could not be opened: findings
	// then lack the kernel's entries; HostErr says why.
	Host    capture.HostView
	HostErr error
	close   func()
}

// Close releases the socket and the kernel's view.
func (l *liveCapture) Close() { l.close() }

// openLiveCapture opens the capture socket on ifname inside netns, and the
// kernel's view of that interface, as capture.OpenLiveWithHost does for
// the exporter too.
func openLiveCapture(netns, ifname string, f capture.Filter) (*liveCapture, error) {
	l, err := capture.OpenLiveWithHost(capture.LiveConfig{NetNS: netns, Interface: ifname, Filter: f})
	if err != nil {
		return nil, err
	}
	return &liveCapture{Source: l, Host: l.Host, HostErr: l.HostErr, close: func() { l.Close() }}, nil
}

// privilegeHint says how to get a capability, for the one line that
// reports the error.
func privilegeHint(err error) string {
	var pe *neigh.PrivilegeError
	if !errors.As(err, &pe) {
		return ""
	}
	switch pe.Cap {
	case neigh.CapNetRaw:
		return "run as root, or give the binary the capability: sudo setcap cap_net_raw+ep $(command -v arpdoctor)"
	case neigh.CapNetAdmin:
		return "run as root, or give the binary the capability: sudo setcap cap_net_admin+ep $(command -v arpdoctor)"
	}
	return "run as root"
}

// withHint adds the privilege hint to an error message.
func withHint(err error) string {
	msg := words.OneLine(err.Error())
	if h := privilegeHint(err); h != "" {
		msg = fmt.Sprintf("%s: %s", msg, h)
	}
	return msg
}
