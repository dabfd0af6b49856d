package neigh

import "fmt"

// PrivilegeError says an operation needs a capability the process lacks.
// Its message names the capability and what to do, on one line.
type PrivilegeError struct {
	// Op is what failed: "probing on eth0", "deleting the entry for ...".
	Op string
	// Cap is the capability: CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_ADMIN.
	Cap string
	// Hint says how to get it.
	Hint string
}

func (e *PrivilegeError) Error() string {
	return fmt.Sprintf("%s needs %s: %s", e.Op, e.Cap, e.Hint)
}

const (
	hintRoot   = "run as root"
	hintNetRaw = "run as root, or give the binary the capability: setcap cap_net_raw+ep $(command -v arpdoctor)"
)
