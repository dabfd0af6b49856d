package neigh

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// ErrGone is returned by Delete for an entry that is no longer in the
// table: it went between listing and deleting, which is no failure.
var ErrGone = errors.New("entry already gone")

// Delete removes an entry from the table, like `ip neigh del`. It needs
// CAP_NET_ADMIN.
func (c *Client) Delete(e Entry) error {
	err := c.conn.change(unix.RTM_DELNEIGH, 0, neighRequest(e, nil, 0))
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESRCH):
		return ErrGone
	case err != nil:
		return changeError("deleting", e, err)
	}
	return nil
}

// Replace sets the entry's MAC and state, creating the entry if needed,
// like `ip neigh replace IP lladdr MAC dev IF nud STATE`. It needs
// CAP_NET_ADMIN.
func (c *Client) Replace(e Entry, mac string, state State) error {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return fmt.Errorf("replacing the entry for %s: %w", e.IP, err)
	}
	err = c.conn.change(unix.RTM_NEWNEIGH, unix.NLM_F_CREATE|unix.NLM_F_REPLACE, neighRequest(e, hw, state))
	if err != nil {
		return changeError("replacing", e, err)
	}
	return nil
}

func changeError(step string, e Entry, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return &PrivilegeError{Op: fmt.Sprintf("%s the entry for %s", step, e.IP), Cap: CapNetAdmin}
	}
	return fmt.Errorf("%s the entry for %s on %s: %w", step, e.IP, e.Interface, err)
}

// neighRequest builds struct ndmsg and its attributes for e.
func neighRequest(e Entry, mac net.HardwareAddr, state State) []byte {
	b := make([]byte, sizeofNdmsg)
	b[0] = byte(e.Family.af())
	if e.Family == "" {
		b[0] = unix.AF_INET
		if e.IP.Is6() {
			b[0] = unix.AF_INET6
		}
	}
	putU32(b[4:], uint32(e.IfIndex))
	putU16(b[8:], uint16(state))
	b = appendAttr(b, ndaDst, e.IP.AsSlice())
	if mac != nil {
		b = appendAttr(b, ndaLLAddr, mac)
	}
	return b
}
