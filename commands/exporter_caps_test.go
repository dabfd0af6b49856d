package commands

import (
	"context"
	"maps"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// withoutCapability runs f on a thread of its own whose effective set
// lacks the capability bit: what a process without it gets from every
// operation f tries on that thread. The thread is never handed back: the
// runtime ends it with the goroutine, capabilities and all. Never the
// main thread, which the runtime cannot end and whose capabilities
// /proc/self/status shows for the whole process.
func withoutCapability(t *testing.T, bit uint, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Held here, the main thread runs no other goroutine: the
			// next one gets a thread that can be ended.
			defer runtime.UnlockOSThread()
			withoutCapability(t, bit, f)
			return
		}
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			t.Errorf("reading the thread's capabilities: %v", err)
			return
		}
		data[bit/32].Effective &^= 1 << (bit % 32)
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			t.Errorf("dropping capability %d: %v", bit, err)
			return
		}
		f()
	}()
	<-done
}

// TestExporterMissingCapability: what a detector needs of the kernel is
// tried at the start; without the capability the exporter does not start
// at all (one line naming it, and how to grant it, exit 2) rather than
// fail every round in its log. The exporter reads its own namespace here
// (it only opens sockets, it sends nothing): entering another one would
// run on a thread that has every capability.
func TestExporterMissingCapability(t *testing.T) {
	before := currentPrivileges()
	t.Cleanup(func() {
		if after := currentPrivileges(); !maps.Equal(before.caps, after.caps) {
			t.Errorf("the process's capabilities changed: %v, were %v", after.caps, before.caps)
		}
	})
	for _, tc := range []struct {
		bit  uint
		args []string
		want string
	}{
		{unix.CAP_NET_RAW, []string{"exporter", "--verify-interval", "10s"}, "arpdoctor: --verify-interval: verifying: opening a probe socket needs CAP_NET_RAW: run as root, or grant CAP_NET_RAW: AmbientCapabilities=CAP_NET_RAW in the systemd unit"},
		{unix.CAP_SYS_ADMIN, []string{"--all-netns", "exporter"}, "arpdoctor: --all-netns: reading every network namespace: entering other network namespaces needs CAP_SYS_ADMIN: run as root, or grant CAP_SYS_ADMIN: AmbientCapabilities=CAP_SYS_ADMIN in the systemd unit"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			// Ended already: an exporter that started after all stops
			// at once rather than serve for ever.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			ios, _, out, errOut := TestStreams()
			code := -1
			withoutCapability(t, tc.bit, func() {
				code = mainWith(ctx, ios, kernelSeams(), append(tc.args, "--web.listen-address", "127.0.0.1:0", "--log.level", "error"))
			})
			if code != ExitTrouble {
				t.Errorf("exit code %d, want %d", code, ExitTrouble)
			}
			if msg := errOut.String(); strings.Count(msg, "\n") != 1 || !strings.HasPrefix(msg, tc.want) {
				t.Errorf("stderr %q: want one line starting %q", msg, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout %q", out)
			}
		})
	}
}
