package neightest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Sysctl writes a network sysctl (such as "net.ipv4.conf.eth0.arp_notify"
// or "net/ipv4/neigh/eth0/base_reachable_time_ms") inside the namespace.
// /proc/sys/net shows the namespace of the thread that opens it; before
// writing, Sysctl checks that the thread really is inside ns, so a test can
// never change the host's own settings by mistake.
func (ns *Namespace) Sysctl(key, value string) error {
	return ns.Do(func() error {
		path, err := ns.sysctlPath(key)
		if err != nil {
			return err
		}
		return os.WriteFile(path, []byte(value), 0o644)
	})
}

// ReadSysctl reads a network sysctl inside the namespace.
func (ns *Namespace) ReadSysctl(key string) (string, error) {
	var v string
	err := ns.Do(func() error {
		path, err := ns.sysctlPath(key)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(path)
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

func (ns *Namespace) sysctlPath(key string) (string, error) {
	rel := key
	if !strings.Contains(key, "/") {
		// Dotted form; interface names with dots need the slash form.
		rel = strings.ReplaceAll(key, ".", "/")
	}
	if !strings.HasPrefix(rel, "net/") || strings.Contains(rel, "..") {
		return "", fmt.Errorf("sysctl %q: only net.* keys", key)
	}
	var here, want unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &here); err != nil {
		return "", err
	}
	if err := unix.Fstat(ns.Fd(), &want); err != nil {
		return "", err
	}
	if here.Ino != want.Ino || here.Dev != want.Dev {
		return "", fmt.Errorf("sysctl %q: the thread is not inside network namespace %s", key, ns.Name)
	}
	return filepath.Join("/proc/sys", rel), nil
}
