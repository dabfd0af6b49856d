package neigh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// ErrNoDefaultRoute says the namespace has no default route.
var ErrNoDefaultRoute = errors.New("no default route")

// DefaultRouteInterface returns the interface of the default route of the
// main table, IPv4 first, then IPv6: where traffic to the world leaves.
// For a multipath route, the first next hop's.
func (c *Client) DefaultRouteInterface() (string, error) {
	names, err := c.linkNames()
	if err != nil {
		return "", err
	}
	for _, af := range []byte{unix.AF_INET, unix.AF_INET6} {
		oif := 0
		err := retryDump(func() error {
			oif = 0
			body := make([]byte, unix.SizeofRtMsg)
			body[0] = af
			return c.conn.routes(body, func(m []byte) {
				if i := defaultRouteOIF(m); i != 0 && oif == 0 {
					oif = i
				}
			})
		})
		if err != nil {
			return "", fmt.Errorf("listing routes: %w", err)
		}
		if name, ok := names[oif]; ok {
			return name, nil
		}
	}
	return "", ErrNoDefaultRoute
}

// defaultRouteOIF reads an RTM_NEWROUTE payload and returns the outgoing
// interface if it is a unicast default route of the main table, else 0.
func defaultRouteOIF(m []byte) int {
	if len(m) < unix.SizeofRtMsg {
		return 0
	}
	dstLen, table, typ := m[1], uint32(m[4]), m[7]
	if dstLen != 0 || typ != unix.RTN_UNICAST {
		return 0
	}
	oif := 0
	attrs(m[unix.SizeofRtMsg:], func(t uint16, v []byte) {
		switch t {
		case unix.RTA_TABLE:
			table = u32(v)
		case unix.RTA_OIF:
			oif = int(u32(v))
		case unix.RTA_MULTIPATH:
			// struct rtnexthop: u16 len, u8 flags, u8 hops, s32 ifindex.
			if oif == 0 && len(v) >= 8 {
				oif = int(int32(binary.NativeEndian.Uint32(v[4:])))
			}
		}
	})
	if table != unix.RT_TABLE_MAIN {
		return 0
	}
	return oif
}

// Route is the kernel's answer to "how is this IP reached", as
// `ip route get IP` gives it.
type Route struct {
	// IfIndex is the outgoing interface.
	IfIndex int
	// Gateway is the next hop; invalid when the IP is on the link.
	Gateway netip.Addr
	// Local says the IP is the host's own address (RTN_LOCAL).
	Local bool
}

// RouteTo asks the kernel how ip is reached from the client's namespace,
// as `ip route get` does.
func (c *Client) RouteTo(ip netip.Addr) (Route, error) {
	body := make([]byte, unix.SizeofRtMsg)
	body[0] = unix.AF_INET
	if ip.Is6() && !ip.Is4In6() {
		body[0] = unix.AF_INET6
	}
	ip = ip.Unmap()
	body[1] = byte(ip.BitLen()) // rtm_dst_len
	body = appendAttr(body, unix.RTA_DST, ip.AsSlice())
	var r Route
	found := false
	err := c.conn.getRoute(body, func(m []byte) {
		if !found {
			r, found = parseRoute(m), true
		}
	})
	if err != nil {
		return Route{}, fmt.Errorf("looking up the route to %s: %w", ip, err)
	}
	if !found {
		return Route{}, fmt.Errorf("looking up the route to %s: no answer", ip)
	}
	return r, nil
}

// parseRoute reads an RTM_NEWROUTE payload.
func parseRoute(m []byte) Route {
	var r Route
	if len(m) < unix.SizeofRtMsg {
		return r
	}
	r.Local = m[7] == unix.RTN_LOCAL
	attrs(m[unix.SizeofRtMsg:], func(t uint16, v []byte) {
		switch t {
		case unix.RTA_OIF:
			r.IfIndex = int(u32(v))
		case unix.RTA_GATEWAY:
			if a, ok := netip.AddrFromSlice(v); ok {
				r.Gateway = a
			}
		}
	})
	return r
}
