// Package neightest builds small networks in fresh network namespaces for
// tests, as net/http/httptest builds servers: a bridge, hosts with a chosen
// IP and MAC on veth ports, and a way to run code inside a host. Everything
// is made over netlink (no ip binary) and removed in t.Cleanup.
//
// Labs never touch the host's own interfaces, neighbor entries or sysctls.
// One thing is shared all the same: the kernel's neighbor table is one per
// family for the whole machine, and its thresholds count the entries of
// every namespace together. Past gc_thresh1 entries (128 by default;
// PERMANENT ones count there) the periodic garbage collector runs and may
// retire the host's own stale entries; past gc_thresh2 and gc_thresh3
// (PERMANENT ones do not count there) the kernel forces collections and
// refuses entries. So tests keep their tables small: dozens of entries,
// never more than a hundred in all.
//
// Tests should use documentation addresses (192.0.2.0/24, 198.51.100.0/24,
// 203.0.113.0/24, 2001:db8::/32) and locally administered MACs (02:...).
package neightest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/arpdoctor/arpdoctor/neigh"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RequireEnv names the environment variable that turns skips for missing
// privilege or tools into failures; CI sets it to 1 so that namespace tests
// always run there.
const RequireEnv = "ARPDOCTOR_REQUIRE_PRIVILEGED"

// Skip skips the test, or fails it when RequireEnv is set.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf(format+" (%s=1: this test must run)", append(args, RequireEnv)...)
	}
	t.Skipf(format, args...)
}

// PrivateKernelEnv names the variable docs/private-kernel.sh sets inside
// the kernel of its own it boots for a command.
const PrivateKernelEnv = "ARPDOCTOR_PRIVATE_KERNEL"

// RequirePrivateKernel skips a benchmark whose table is large enough to
// matter to the whole machine (past gc_thresh1, every namespace's entries
// count together, and the periodic collector then retires the machine's
// own stale entries) unless it runs in a kernel of its own. It skips even
// under RequireEnv: such a table is never for CI's shared kernel.
func RequirePrivateKernel(b testing.TB) {
	b.Helper()
	if os.Getenv(PrivateKernelEnv) != "1" {
		b.Skipf("the table would be the whole machine's concern: run under docs/private-kernel.sh (%s=1)", PrivateKernelEnv)
	}
}

// RequireCommand returns the path of an external command the test needs,
// or skips (fails under RequireEnv) when it is not installed.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Skip(t, "%s is not installed", name)
	}
	return path
}

// Namespace is a network namespace made for a test, named under /run/netns
// so that `ip -n NAME` and `arpdoctor --netns NAME` reach it.
type Namespace struct {
	*neigh.NetNS
	// Name is the file name under /run/netns.
	Name string
	// Netlink is a handle whose socket lives in the namespace.
	Netlink *netlink.Handle
}

// NewNamespace makes a fresh, empty network namespace (loopback up) named
// "arpdt-<random>-<suffix>" and removes it when the test ends. Without the
// privilege to make one, the test is skipped (or fails under RequireEnv).
func NewNamespace(t testing.TB, suffix string) *Namespace {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "arpdt-" + hex.EncodeToString(b)
	if suffix != "" {
		name += "-" + suffix
	}
	return newNamespace(t, name)
}

func newNamespace(t testing.TB, name string) *Namespace {
	t.Helper()
	if err := createNamed(name); err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			Skip(t, "making a network namespace needs CAP_SYS_ADMIN: %v", err)
		}
		t.Fatalf("making network namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("removing network namespace %s: %v", name, err)
		}
	})
	ns, err := neigh.OpenNetNS(name)
	if err != nil {
		t.Fatalf("opening network namespace %s: %v", name, err)
	}
	t.Cleanup(func() { ns.Close() })
	// Only rtnetlink: every other family would need its own kernel
	// support (a kernel without XFRM refuses the handle otherwise).
	h, err := netlink.NewHandleAt(netns.NsHandle(ns.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", name, err)
	}
	t.Cleanup(h.Close)
	n := &Namespace{NetNS: ns, Name: name, Netlink: h}
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		t.Fatalf("bringing up lo in %s: %v", name, err)
	}
	return n
}

// createNamed makes a named namespace on a thread of its own, so that the
// test process itself never changes namespace.
func createNamed(name string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer orig.Close()
		ns, err := netns.NewNamed(name)
		if err == nil {
			ns.Close()
		}
		if serr := netns.Set(orig); serr != nil {
			// Leave the thread locked: the runtime discards it.
			errc <- errors.Join(err, serr)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// Lab is a switched LAN: a bridge in a namespace of its own, and hosts,
// each in its own namespace, plugged into it by veth pairs.
type Lab struct {
	t      testing.TB
	prefix string
	// Switch is the namespace that holds the bridge "br0".
	Switch *Namespace
	bridge netlink.Link
	ports  int
}

// NewLab makes an empty lab.
func NewLab(t testing.TB) *Lab {
	t.Helper()
	sw := NewNamespace(t, "sw")
	l := &Lab{t: t, prefix: sw.Name[:len(sw.Name)-len("-sw")], Switch: sw}
	off := false
	br := &netlink.Bridge{
		LinkAttrs: netlink.LinkAttrs{Name: "br0"},
		// Flood all multicast: NDP must reach every host without an MLD
		// querier on the segment.
		MulticastSnooping: &off,
	}
	if err := sw.Netlink.LinkAdd(br); err != nil {
		t.Fatalf("adding bridge: %v", err)
	}
	link, err := sw.Netlink.LinkByName("br0")
	if err != nil {
		t.Fatalf("finding bridge: %v", err)
	}
	if err := sw.Netlink.LinkSetUp(link); err != nil {
		t.Fatalf("bringing up bridge: %v", err)
	}
	l.bridge = link
	return l
}

// HostConfig describes a host to plug into a lab.
type HostConfig struct {
	// Name is a short name for messages and the namespace name.
	Name string
	// MAC of the host's eth0; "" lets the kernel pick one.
	MAC string
	// Addrs in CIDR form, such as "192.0.2.10/24" or "2001:db8::10/64".
	Addrs []string
}

// Host is a machine on the lab's LAN: a namespace with one interface,
// eth0, plugged into the bridge.
type Host struct {
	*Namespace
	Lab *Lab
	// Hostname is HostConfig.Name; the namespace's name is Name.
	Hostname string
	IfName   string
	MAC      net.HardwareAddr
	Addrs    []netip.Prefix
	// Port is the bridge-side name of the host's cable.
	Port string
}

// AddHost plugs a new host into the lab.
func (l *Lab) AddHost(cfg HostConfig) *Host {
	t := l.t
	t.Helper()
	ns := newNamespace(t, l.prefix+"-"+cfg.Name)
	l.ports++
	h := &Host{Namespace: ns, Lab: l, Hostname: cfg.Name, IfName: "eth0", Port: fmt.Sprintf("port%d", l.ports)}
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: h.Port, MasterIndex: l.bridge.Attrs().Index},
		PeerName:      h.IfName,
		PeerNamespace: netlink.NsFd(ns.Fd()),
	}
	if cfg.MAC != "" {
		mac, err := net.ParseMAC(cfg.MAC)
		if err != nil {
			t.Fatalf("host %s: %v", cfg.Name, err)
		}
		veth.PeerHardwareAddr = mac
	}
	if err := l.Switch.Netlink.LinkAdd(veth); err != nil {
		t.Fatalf("host %s: adding veth: %v", cfg.Name, err)
	}
	port, err := l.Switch.Netlink.LinkByName(h.Port)
	if err == nil {
		err = l.Switch.Netlink.LinkSetUp(port)
	}
	if err != nil {
		t.Fatalf("host %s: bringing up %s: %v", cfg.Name, h.Port, err)
	}
	eth, err := ns.Netlink.LinkByName(h.IfName)
	if err != nil {
		t.Fatalf("host %s: finding %s: %v", cfg.Name, h.IfName, err)
	}
	h.MAC = eth.Attrs().HardwareAddr
	for _, a := range cfg.Addrs {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			t.Fatalf("host %s: %v", cfg.Name, err)
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}}
		if p.Addr().Is6() {
			// Usable at once: duplicate address detection would hold
			// the address back for a second or two.
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := ns.Netlink.AddrAdd(eth, addr); err != nil {
			t.Fatalf("host %s: adding %s: %v", cfg.Name, a, err)
		}
		h.Addrs = append(h.Addrs, p)
	}
	if err := ns.Netlink.LinkSetUp(eth); err != nil {
		t.Fatalf("host %s: bringing up %s: %v", cfg.Name, h.IfName, err)
	}
	return h
}

// IP returns the host's first address of the family (4 or 6).
func (h *Host) IP(family int) netip.Addr {
	for _, p := range h.Addrs {
		if (family == 4) == p.Addr().Is4() {
			return p.Addr()
		}
	}
	h.Lab.t.Fatalf("host %s has no IPv%d address", h.Hostname, family)
	return netip.Addr{}
}

// Unplug removes the host's cable from the bridge: the host is gone from
// the LAN (a dead instance), its namespace stays until the test ends.
func (h *Host) Unplug() {
	h.Lab.t.Helper()
	port, err := h.Lab.Switch.Netlink.LinkByName(h.Port)
	if err == nil {
		err = h.Lab.Switch.Netlink.LinkDel(port)
	}
	if err != nil {
		h.Lab.t.Fatalf("unplugging host %s: %v", h.Hostname, err)
	}
}

// Listen listens inside the host (on a locked OS thread; the listening
// socket stays in the host's namespace).
func (h *Host) Listen(network, addr string) net.Listener {
	h.Lab.t.Helper()
	var ln net.Listener
	err := h.Do(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		h.Lab.t.Fatalf("host %s: listening on %s: %v", h.Hostname, addr, err)
	}
	h.Lab.t.Cleanup(func() { ln.Close() })
	return ln
}

// Serve listens on a TCP port inside the host and accepts connections in
// the background, closing each at once: a server that completes
// handshakes.
func (h *Host) Serve(port int) net.Listener {
	h.Lab.t.Helper()
	ln := h.Listen("tcp", fmt.Sprintf(":%d", port))
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln
}

// Connect completes a TCP handshake from inside the host to addr, then
// closes the connection.
func (h *Host) Connect(ctx context.Context, addr string) error {
	c, err := h.Dial(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// Dial connects from inside the host.
func (h *Host) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// SetNeigh creates or replaces the host's neighbor entry for ip on eth0.
// An empty mac makes an entry without one (for INCOMPLETE, FAILED, NONE).
func (h *Host) SetNeigh(ip netip.Addr, mac string, state neigh.State) {
	h.Lab.t.Helper()
	if err := SetNeigh(h.Namespace, h.IfName, ip, mac, state, 0); err != nil {
		h.Lab.t.Fatalf("host %s: %v", h.Hostname, err)
	}
}

// SetNeigh creates or replaces a neighbor entry in ns, like
// `ip neigh replace IP lladdr MAC dev IF nud STATE`.
func SetNeigh(ns *Namespace, ifname string, ip netip.Addr, mac string, state neigh.State, flags neigh.Flags) error {
	link, err := ns.Netlink.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("finding %s: %w", ifname, err)
	}
	n := &netlink.Neigh{
		LinkIndex: link.Attrs().Index,
		Family:    unix.AF_INET,
		State:     int(state),
		Flags:     int(flags & 0xff),
		IP:        ip.AsSlice(),
	}
	if ip.Is6() {
		n.Family = unix.AF_INET6
	}
	if mac != "" {
		if n.HardwareAddr, err = net.ParseMAC(mac); err != nil {
			return err
		}
	}
	if err := ns.Netlink.NeighSet(n); err != nil {
		return fmt.Errorf("setting neighbor %s: %w", ip, err)
	}
	return nil
}
