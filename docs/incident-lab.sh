#!/bin/sh
# Reproduce the stale-entry incident in network namespaces, to watch
# arpdoctor name it: docs/incident.md shows what it says.
#
#   sudo sh docs/incident-lab.sh up     # build the lab, over IPv4 (ARP)
#   sudo sh docs/incident-lab.sh up6    # or over IPv6 (NDP)
#   sudo sh docs/incident-lab.sh down   # remove either
#
# Only documentation addresses, only namespaces of its own (inc-*): the
# host's interfaces, tables and settings are not touched. Needs iproute2
# and python3 (for a TCP server and client).
set -eu
P=inc
SERVER_MAC=02:00:00:00:00:10 OLD_MAC=02:00:00:00:50:a1 NEW_MAC=02:00:00:00:50:b2
PORT=6379

# quiet6 NS: over IPv6, interfaces made in NS from now on send no neighbor
# discovery messages of their own accord: no duplicate address detection
# (addresses are usable at once, no solicitation is sent for them), no
# unsolicited advertisements, no router solicitations, and they accept no
# router advertisements (there is no router). Only the lab's own namespace
# NS is changed.
quiet6() {
	[ "$FAMILY" = 6 ] || return 0
	ip netns exec $1 sh -c 'for k in accept_dad ndisc_notify accept_ra router_solicitations; do echo 0 >/proc/sys/net/ipv6/conf/default/$k; done'
}

# plug HOST MAC ADDR: a host on the lab's switch, its interface eth0.
plug() {
	ip netns add $P-$1
	quiet6 $P-$1
	ip -n $P-sw link add port-$1 type veth peer name eth0 netns $P-$1
	ip -n $P-sw link set port-$1 master br0 up
	ip -n $P-$1 link set eth0 address $2
	ip -n $P-$1 addr add $3/$LEN dev eth0
	ip -n $P-$1 link set eth0 up
	ip -n $P-$1 link set lo up
}

case ${1:-} in
up | up6)
	if [ "$1" = up6 ]; then
		FAMILY=6 LEN=64 SERVER_IP=2001:db8::10 CLIENT_IP=2001:db8::50
		LISTEN="socket.create_server(('::', $PORT), family=socket.AF_INET6)"
	else
		FAMILY=4 LEN=24 SERVER_IP=192.0.2.10 CLIENT_IP=192.0.2.50
		LISTEN="socket.create_server(('', $PORT))"
	fi
	ip netns add $P-sw
	quiet6 $P-sw
	# Multicast flooded to every port: IPv6 neighbor solicitations reach
	# every host without a multicast querier on the segment.
	ip -n $P-sw link add br0 type bridge mcast_snooping 0
	ip -n $P-sw link set br0 up
	plug server $SERVER_MAC $SERVER_IP
	# A server that accepts connections and closes them (think Redis).
	ip netns exec $P-server python3 -c "
import socket
s = $LISTEN
while True: s.accept()[0].close()" </dev/null >/dev/null 2>&1 &
	echo $! > /run/$P-server.pid
	sleep 1

	# The old instance talks to the server: the server caches its MAC.
	plug old $OLD_MAC $CLIENT_IP
	ip netns exec $P-old python3 -c "import socket; socket.create_connection(('$SERVER_IP', $PORT), 3).close()"
	# The old instance dies.
	ip -n $P-sw link del port-old
	# In time the server's entry goes STALE, and with fewer entries than
	# gc_thresh1 the garbage collector never removes it. Skip the wait.
	ip -n $P-server neigh change $CLIENT_IP lladdr $OLD_MAC dev eth0 nud stale

	# The new instance gets the old one's IP and a MAC of its own. The
	# cloud network answers ARP (or NDP) for the server, so the new
	# instance never asks, and the server's cache is not corrected by its
	# request.
	plug new $NEW_MAC $CLIENT_IP
	ip -n $P-new neigh replace $SERVER_IP lladdr $SERVER_MAC dev eth0 nud permanent
	# A cloud network delivers a frame only to the owner of its destination
	# MAC; a Linux bridge floods frames for MACs it does not know.
	ip -n $P-sw link set dev port-new type bridge_slave flood off
	echo "lab up: server $SERVER_IP in netns $P-server, new client $CLIENT_IP in netns $P-new"
	echo "connect: ip netns exec $P-new python3 -c \"import socket; socket.create_connection(('$SERVER_IP', $PORT), 30).close()\""
	;;
down | down6)
	[ -f /run/$P-server.pid ] && kill "$(cat /run/$P-server.pid)" 2>/dev/null || true
	rm -f /run/$P-server.pid
	for ns in new old server sw; do ip netns del $P-$ns 2>/dev/null || true; done
	;;
*)
	echo "usage: $0 up|up6|down" >&2
	exit 2
	;;
esac
