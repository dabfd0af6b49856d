package neigh

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NamedNetNSDir is where `ip netns add` keeps named network namespaces.
const NamedNetNSDir = "/run/netns"

// NetNS is a network namespace held open by a file descriptor, or the
// namespace of the calling thread when it was opened from an empty spec.
type NetNS struct {
	// Spec is what the namespace was opened from: "" (the current
	// namespace), a name under /run/netns, or a path.
	Spec string
	// Path is the file that was opened; "" for the current namespace.
	Path   string
	handle netns.NsHandle
}

// OpenNetNS opens the network namespace named by spec: "" for the current
// namespace, a name as `ip -n NAME` takes it (a file under /run/netns), or a
// path such as /proc/PID/ns/net (anything with a slash in it).
func OpenNetNS(spec string) (*NetNS, error) {
	if spec == "" {
		return &NetNS{handle: netns.None()}, nil
	}
	path := spec
	if !strings.Contains(spec, "/") {
		if spec == "." || spec == ".." {
			return nil, fmt.Errorf("invalid network namespace name %q", spec)
		}
		path = filepath.Join(NamedNetNSDir, spec)
	}
	// A namespace file is a regular file (nsfs); anything else (a FIFO
	// would block the open below for ever) is not a namespace.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a network namespace", path)
	}
	h, err := netns.GetFromPath(path)
	if err != nil {
		return nil, netnsError(spec, path, "opening", err)
	}
	ns := &NetNS{Spec: spec, Path: path, handle: h}
	// Refuse anything that is not a network namespace now, with a clear
	// message, rather than fail later inside setns(2) with EINVAL.
	typ, err := unix.IoctlRetInt(int(h), unix.NS_GET_NSTYPE)
	if err != nil || typ != unix.CLONE_NEWNET {
		ns.Close()
		return nil, fmt.Errorf("%s is not a network namespace", path)
	}
	return ns, nil
}

func netnsError(spec, path, step string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist) && path != spec:
		return fmt.Errorf("network namespace %q not found: no %s (`ip netns list` shows the names)", spec, path)
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("network namespace %s not found", path)
	case errors.Is(err, unix.EPERM):
		return &PrivilegeError{Op: step + " network namespace " + path, Cap: CapSysAdmin}
	}
	return fmt.Errorf("%s network namespace %s: %w", step, path, err)
}

// IsCurrent reports whether ns stands for the caller's own namespace.
func (ns *NetNS) IsCurrent() bool { return !ns.handle.IsOpen() }

// String names the namespace for messages: its spec, or "current".
func (ns *NetNS) String() string {
	if ns.IsCurrent() {
		return "current"
	}
	return ns.Spec
}

// Close releases the namespace's file descriptor.
func (ns *NetNS) Close() error {
	if !ns.handle.IsOpen() {
		return nil
	}
	err := ns.handle.Close()
	ns.handle = netns.None()
	return err
}

// Do runs f with the calling goroutine's OS thread inside the namespace,
// and returns f's error. Sockets f creates stay in the namespace after Do
// returns, which is how the package reaches another namespace without moving
// the process: everything else in the process keeps running where it was.
// f must not start goroutines that expect to be inside the namespace.
func (ns *NetNS) Do(f func() error) error {
	if ns.IsCurrent() {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		// A fresh goroutine on a locked thread: if switching back fails,
		// the thread stays locked and the runtime discards it when this
		// goroutine ends, so no other goroutine ever runs in the wrong
		// namespace.
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("reading the current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns.handle); err != nil {
			runtime.UnlockOSThread()
			errc <- netnsError(ns.Spec, ns.Path, "entering", err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("returning from network namespace %s: %w", ns.Path, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Fd returns the namespace's file descriptor, -1 for the current namespace.
// It stays owned by ns.
func (ns *NetNS) Fd() int { return int(ns.handle) }
