#!/bin/sh
# Run a command as root inside a Linux kernel of its own: User-Mode Linux
# (Debian's user-mode-linux package), booted with this machine's root
# filesystem mounted read-only, a fresh tmpfs on /run and /tmp,
# and no network device but its own loopback.
#
#   sudo sh docs/private-kernel.sh [-m MEM] COMMAND [ARG...]
#
# What the kernel's neighbor table makes machine-wide (gc_thresh1..3, the
# entry count they are held against, the garbage collector that retires
# entries once gc_thresh1 is passed) is then that kernel's alone: a
# benchmark can fill a table with 20,000 entries and raise the thresholds
# without touching a single entry or setting of the machine it runs on. The
# command runs in the current directory, which it sees read-only, like
# every file of the machine: build what it runs there first (the
# repository's /arpdoctor is ignored by git). The guest has one CPU. Its
# exit status is the command's.
#
# Needs: user-mode-linux, kmod (insmod), and whatever the command needs
# (iproute2, curl, ...), installed on this machine.
set -eu
mem=2G
if [ "${1:-}" = -m ]; then
	mem=$2
	shift 2
fi
[ $# -gt 0 ] || {
	echo "usage: $0 [-m MEM] COMMAND [ARG...]" >&2
	exit 2
}
command -v linux.uml >/dev/null || {
	echo "$0: linux.uml not found: apt-get install user-mode-linux" >&2
	exit 2
}
dir=$(mktemp -d /var/tmp/arpdoctor-uml.XXXXXX)
trap 'rm -rf "$dir"' EXIT
# quote ARG: ARG quoted for a shell.
quote() { printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }
cmd=
for a in "$@"; do cmd="$cmd $(quote "$a")"; done
cat >"$dir/init" <<EOF
#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/tmp ARPDOCTOR_PRIVATE_KERNEL=1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
# Modules by path: the guest has no modules.dep of its own.
for m in lib/crc-ccitt net/ipv6/ipv6 drivers/net/veth "drivers/net/dummy numdummies=0"; do
	set -- \$m
	insmod /usr/lib/uml/modules/\$(uname -r)/kernel/\$1.ko \$2 2>/dev/null || true
done
ip link set lo up
cd $(quote "$(pwd)")
echo "private-kernel: begin"
$cmd </dev/null
echo "private-kernel: exit \$?"
echo o >/proc/sysrq-trigger
sleep 10
EOF
chmod +x "$dir/init"
# The guest's memory is a file under TMPDIR: on tmpfs when there is room.
tmp=$dir
[ "$(df -k --output=avail /dev/shm 2>/dev/null | tail -1)" -gt 3000000 ] 2>/dev/null && tmp=/dev/shm
TMPDIR=$tmp linux.uml mem="$mem" rootfstype=hostfs rootflags=/ ro quiet \
	init="$dir/init" con=null con0=null,fd:1 </dev/null 2>&1 | tr -d '\r' | tee "$dir/out" |
	sed -n '/^private-kernel: begin$/,/^private-kernel: exit/{/^private-kernel: /!p}' || true
status=$(sed -n 's/^private-kernel: exit \([0-9]*\)$/\1/p' "$dir/out")
[ -n "$status" ] || {
	echo "$0: the private kernel stopped before the command ended" >&2
	exit 2
}
exit "$status"
