package neigh

import (
	"encoding/binary"
	"errors"
	"fmt"

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
