package neightest

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// docs/private-kernel.sh is how the benchmarks whose table is the whole
// machine's concern run without touching the machine: the command runs in
// a kernel of its own, its exit status comes back, and what it changes in
// that kernel's table and settings stays there.
func TestPrivateKernel(t *testing.T) {
	RequireCommand(t, "linux.uml")
	RequireCommand(t, "insmod")
	host, err := os.ReadFile("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
	if err != nil {
		t.Skipf("reading the host's gc_thresh3: %v", err)
	}
	// In the guest: raise the threshold, fill a namespace past the host's
	// gc_thresh1 with PERMANENT entries on a veth pair, and say what it sees.
	script := `set -e
echo 65536 >/proc/sys/net/ipv4/neigh/default/gc_thresh3
ip netns add big
ip -n big link add eth0 type veth peer name eth1
ip -n big link set eth0 up
for h in $(seq 1 254); do echo "neigh replace 192.0.2.$h lladdr 02:00:00:00:00:01 dev eth0 nud permanent"; done | ip -n big -batch -
echo "private=$ARPDOCTOR_PRIVATE_KERNEL entries=$(ip -n big neigh show | wc -l) thresh3=$(cat /proc/sys/net/ipv4/neigh/default/gc_thresh3)"
touch /written-by-the-guest 2>/dev/null && echo "root is writable"
exit 3`
	cmd := exec.Command("sh", "../../docs/private-kernel.sh", "-m", "256M", "sh", "-c", script)
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "stopped before the command ended") {
		// A sandbox that lets no kernel of its own boot: nothing of the
		// script's to test here, and a failure where it must run.
		Skip(t, "User-Mode Linux does not boot here:\n%s", out)
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("err = %v, want exit status 3; output:\n%s", err, out)
	}
	if want := "private=1 entries=254 thresh3=65536"; !strings.Contains(string(out), want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if strings.Contains(string(out), "root is writable") {
		t.Errorf("the guest could write the machine's root file system:\n%s", out)
	}
	if _, err := os.Stat("/written-by-the-guest"); err == nil {
		os.Remove("/written-by-the-guest")
		t.Error("the guest wrote /written-by-the-guest on the machine")
	}
	after, err := os.ReadFile("/proc/sys/net/ipv4/neigh/default/gc_thresh3")
	if err != nil || string(after) != string(host) {
		t.Errorf("the host's gc_thresh3 went from %q to %q (%v)", host, after, err)
	}
}
