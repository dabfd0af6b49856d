package namespaces

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/arpdoctor/arpdoctor/neigh"
	"golang.org/x/sys/unix"
)

// ErrGone says a discovered namespace no longer exists: its name was
// deleted, its mount unmounted, its last process exited.
var ErrGone = errors.New("network namespace is gone")

// Spec is what neigh.Open and neigh.OpenNetNS take to reach the
// namespace: its name when it lives under /run/netns, else its path.
//
// A spec is only a path and may come to mean another namespace: a name
// deleted and made anew, and above all /proc/PID/ns/net, which opens
// whatever namespace the next process with that PID has once the process
// exits. Open and OpenNetNS close that race; use a bare Spec only for
// showing.
func (n Namespace) Spec() string {
	if n.Name != "" && n.Path == filepath.Join(neigh.NamedNetNSDir, n.Name) {
		return n.Name
	}
	return n.Path
}

// Open connects a neigh.Client to the namespace. It opens Path, or when
// that has gone (a process that exited) each of the namespace's processes
// in turn, and checks that what it opened is this namespace by its device
// and inode, so a recycled PID is never mistaken for it. It returns an
// error wrapping ErrGone when no way to the namespace is left, and a
// *neigh.PrivilegeError without CAP_SYS_ADMIN. Once open, the client holds
// the namespace: it lives on while the client does, whatever happens to
// its processes, so close it when done: a client kept for long keeps a
// deleted pod's namespace alive. The client's NetNS shows the namespace's Spec and Path,
// not the descriptor it was reached through.
func (n Namespace) Open() (*neigh.Client, error) {
	var c *neigh.Client
	err := n.pinned(func(spec string) (err error) {
		c, err = neigh.Open(spec)
		if err == nil {
			c.NetNS().Spec, c.NetNS().Path = n.Spec(), n.Path
		}
		return err
	})
	return c, err
}

// OpenNetNS opens the namespace, with Open's checks, to run code inside it
// with (*neigh.NetNS).Do.
func (n Namespace) OpenNetNS() (*neigh.NetNS, error) {
	var ns *neigh.NetNS
	err := n.pinned(func(spec string) (err error) {
		ns, err = neigh.OpenNetNS(spec)
		if err == nil {
			ns.Spec, ns.Path = n.Spec(), n.Path
		}
		return err
	})
	return ns, err
}

// pinned holds the namespace open on a descriptor of its own, checked to
// be this namespace, while open reopens it through /proc/self/fd: what
// open gets can then be nothing else.
func (n Namespace) pinned(open func(spec string) error) error {
	for _, path := range n.paths() {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
		switch {
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESRCH):
			continue
		case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
			return &neigh.PrivilegeError{Op: "opening network namespace " + path, Cap: neigh.CapSysAdmin}
		case err != nil:
			return fmt.Errorf("opening network namespace %s: %w", path, err)
		}
		id, err := fdNetNS(fd, path)
		if err != nil || id != n.ID {
			// Another namespace now (a recycled PID, a name made
			// anew), or no namespace at all.
			unix.Close(fd)
			continue
		}
		err = open("/proc/self/fd/" + strconv.Itoa(fd))
		unix.Close(fd)
		return err
	}
	return fmt.Errorf("network namespace %s (%s): %w", n.Label(), n.Path, ErrGone)
}

// paths lists the ways to the namespace, best first.
func (n Namespace) paths() []string {
	out := []string{n.Path}
	for _, p := range n.Processes {
		path := filepath.Join(n.procRoot, strconv.Itoa(p.PID), "ns", "net")
		if path != n.Path {
			out = append(out, path)
		}
	}
	return out
}
