package neightest

// StopFlooding stops the lab's switch from flooding frames for unknown
// MACs out of the host's port. A Linux bridge sends a frame for a MAC it
// has not learned (a dead instance's) out of every port; a cloud network
// delivers a frame only to the instance that owns its destination MAC,
// so a SYN-ACK sent to a dead instance reaches nobody.
func (h *Host) StopFlooding() {
	h.Lab.t.Helper()
	port, err := h.Lab.Switch.Netlink.LinkByName(h.Port)
	if err == nil {
		err = h.Lab.Switch.Netlink.LinkSetFlood(port, false)
	}
	if err != nil {
		h.Lab.t.Fatalf("host %s: stopping unknown-unicast flooding to %s: %v", h.Hostname, h.Port, err)
	}
}
