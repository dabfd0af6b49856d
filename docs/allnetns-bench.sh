#!/bin/sh
# 200 network namespaces named nsb-N, each with lo up and a veth pair
# holding PER PERMANENT entries (documentation addresses; 1 by default):
# what --all-netns reads on a busy node.
#
#   sudo sh docs/allnetns-bench.sh up          # 200 entries: safe on a shared machine
#   sudo sh docs/private-kernel.sh sh -c 'sh docs/allnetns-bench.sh up 50 && ...'
#   sudo sh docs/allnetns-bench.sh down
#
# More than one entry per namespace takes the kernel's one table past
# gc_thresh1, where the periodic collector starts retiring the machine's
# own stale entries: that runs only in a kernel of its own
# (docs/private-kernel.sh), which raises the thresholds first.
set -e
per=${2:-1}
case $1 in
up)
	if [ "$per" -gt 1 ]; then
		[ "${ARPDOCTOR_PRIVATE_KERNEL:-}" = 1 ] || {
			echo "$0 up $per: the table's thresholds are the whole machine's: run it under docs/private-kernel.sh" >&2
			exit 2
		}
		for i in 1 2 3; do echo $((200 * per + 10000 * i)) >/proc/sys/net/ipv4/neigh/default/gc_thresh$i; done
	fi
	for i in $(seq 1 200); do
		ip netns add nsb-$i
		ip -n nsb-$i link set lo up
		ip -n nsb-$i link add eth0 type veth peer name eth1
		ip -n nsb-$i link set eth0 up
		ip -n nsb-$i link set eth1 up
		ip -n nsb-$i addr add 192.0.2.1/24 dev eth0
		# One STALE entry among them, as a stale entry in one pod.
		awk -v per="$per" -v i="$i" 'BEGIN { for (h = 2; h < per + 2; h++)
		  printf "neigh replace 192.0.2.%d lladdr 02:00:00:00:%02x:%02x dev eth0 nud %s\n",
		    h, i % 256, h, h == 2 && i == 1 ? "stale" : "permanent" }' | ip -n nsb-$i -batch -
	done
	;;
down) for i in $(seq 1 200); do ip netns del nsb-$i 2>/dev/null || true; done ;;
*)
	echo "usage: $0 up [PER] | down" >&2
	exit 2
	;;
esac
