#!/bin/sh
# Reproduce the stale-entry incident in network namespaces, to watch
# arpdoctor name it: docs/incident.md shows what it says.
#
#   sudo sh docs/incident-lab.sh up     # build the lab
#   sudo sh docs/incident-lab.sh down   # remove it
#
# Only documentation addresses, only namespaces of its own (inc-*): the
# host's interfaces, tables and settings are not touched. Needs iproute2
# and python3 (for a TCP server and client).
set -eu
P=inc
SERVER_IP=192.0.2.10 SERVER_MAC=02:00:00:00:00:10
CLIENT_IP=192.0.2.50 OLD_MAC=02:00:00:00:50:a1 NEW_MAC=02:00:00:00:50:b2
PORT=6379

# plug HOST MAC ADDR: a host on the lab's switch, its interface eth0.
plug() {
	ip netns add $P-$1
	ip -n $P-sw link add port-$1 type veth peer name eth0 netns $P-$1
	ip -n $P-sw link set port-$1 master br0 up
	ip -n $P-$1 link set eth0 address $2
	ip -n $P-$1 addr add $3/24 dev eth0
	ip -n $P-$1 link set eth0 up
	ip -n $P-$1 link set lo up
}

case ${1:-} in
up)
	ip netns add $P-sw
	ip -n $P-sw link add br0 type bridge
	ip -n $P-sw link set br0 up
	plug server $SERVER_MAC $SERVER_IP
	# A server that accepts connections and closes them (think Redis).
	ip netns exec $P-server python3 -c "
import socket
s = socket.create_server(('', $PORT))
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
	# cloud network answers ARP for the server, so the new instance never
	# asks, and the server's cache is not corrected by its request.
	plug new $NEW_MAC $CLIENT_IP
	ip -n $P-new neigh replace $SERVER_IP lladdr $SERVER_MAC dev eth0 nud permanent
	# A cloud network delivers a frame only to the owner of its destination
	# MAC; a Linux bridge floods frames for MACs it does not know.
	ip -n $P-sw link set dev port-new type bridge_slave flood off
	echo "lab up: server $SERVER_IP in netns $P-server, new client $CLIENT_IP in netns $P-new"
	echo "connect: ip netns exec $P-new python3 -c \"import socket; socket.create_connection(('$SERVER_IP', $PORT), 30).close()\""
	;;
down)
	[ -f /run/$P-server.pid ] && kill "$(cat /run/$P-server.pid)" 2>/dev/null || true
	rm -f /run/$P-server.pid
	for ns in new old server sw; do ip netns del $P-$ns 2>/dev/null || true; done
	;;
*)
	echo "usage: $0 up|down" >&2
	exit 2
	;;
esac
