package exporter

import (
	"errors"
	"fmt"
	"runtime"
	"strings"

	"github.com/arpdoctor/arpdoctor/neigh"
	"golang.org/x/sys/unix"
)

// The collectors' names, as the collector label has them.
const (
	CollectorNeighbor  = "neighbor"
	CollectorTable     = "table"
	CollectorSettings  = "settings"
	CollectorEvents    = "events"
	CollectorHandshake = "handshake"
	CollectorVerify    = "verify"
	CollectorNetNS     = "netns"
)

// StartError says a collector that was asked for cannot work: Open tries
// what each needs of the kernel (a packet socket, entering a namespace)
// once, so that a missing privilege stops the exporter at the start rather
// than failing every round in the log.
type StartError struct {
	// Collector is CollectorHandshake, CollectorVerify or CollectorNetNS.
	Collector string
	Err       error
}

func (e *StartError) Error() string { return e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// tryProbeSocket opens and closes the kind of socket verification probes
// with, inside ns. Capabilities are not the only gate (a seccomp profile,
// a security module): trying the socket answers for all of them.
func tryProbeSocket(ns *neigh.NetNS) error {
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
		if err != nil {
			return err
		}
		return unix.Close(fd)
	})
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return &neigh.PrivilegeError{Op: "opening a probe socket", Cap: neigh.CapNetRaw}
	}
	return err
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// tryEnterNetNS enters the calling thread's own network namespace: what
// reading another namespace takes (setns(2), which needs CAP_SYS_ADMIN
// and which seccomp profiles allow only with it), without leaving this
// one.
func tryEnterNetNS() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	err = unix.Setns(fd, unix.CLONE_NEWNET)
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return &neigh.PrivilegeError{Op: "entering other network namespaces", Cap: neigh.CapSysAdmin}
	}
	return err
}

// NetNSDeletedError says the namespace the exporter reads is no longer the
// one its name (or path) opens: `ip netns del` removed the name, or made
// it anew for another namespace. The exporter holds the namespace open, so
// it lives on, reachable by nothing but the exporter.
type NetNSDeletedError struct {
	// Spec is the name or path the namespace was opened from.
	Spec string
}

func (e *NetNSDeletedError) Error() string {
	what := "name"
	if strings.Contains(e.Spec, "/") {
		what = "path"
	}
	return fmt.Sprintf("network namespace %s was deleted: its %s no longer refers to the namespace this exporter holds", e.Spec, what)
}

// heldNetNSGone compares the namespace ns holds with the one its path
// opens now, by device and inode. What cannot be read is no proof of
// anything: only a path that is gone or names another namespace is.
func heldNetNSGone(ns *neigh.NetNS) error {
	var held, now unix.Stat_t
	if err := unix.Fstat(ns.Fd(), &held); err != nil {
		return nil
	}
	err := unix.Stat(ns.Path, &now)
	switch {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		return nil
	case now.Dev == held.Dev && now.Ino == held.Ino:
		return nil
	}
	return &NetNSDeletedError{Spec: ns.Spec}
}
