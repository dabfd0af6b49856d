package neigh

import "fmt"

// PrivilegeError says an operation needs a capability the process lacks.
// It states the fact; how to get the capability is for the caller to say.
// Every package of arpdoctor reports a missing privilege with this type.
type PrivilegeError struct {
	// Op is what failed: "probing on eth0", "deleting the entry for ...".
	Op string
	// Cap is the capability: CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN.
	Cap string
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("%s needs %s", e.Op, e.Cap)
}

// The capabilities operations need.
const (
	CapNetRaw   = "CAP_NET_RAW"   // packet sockets: probes, live capture
	CapNetAdmin = "CAP_NET_ADMIN" // changing the neighbor table, writing sysctls
	CapSysAdmin = "CAP_SYS_ADMIN" // entering another network namespace
)
