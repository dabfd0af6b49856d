#!/bin/sh
# 200 empty network namespaces named nsb-N, each with lo up and a dummy
# veth pair holding 2 PERMANENT entries (documentation addresses): what
# --all-netns reads on a busy node, without a table large enough to start
# the machine's garbage collector.
set -e
case $1 in
up) for i in $(seq 1 200); do
      ip netns add nsb-$i
      ip -n nsb-$i link set lo up
      ip -n nsb-$i link add eth0 type veth peer name eth1
      ip -n nsb-$i link set eth0 up
      ip -n nsb-$i addr add 192.0.2.1/24 dev eth0
      ip -n nsb-$i neigh replace 192.0.2.2 lladdr 02:00:00:00:00:02 dev eth0 nud permanent
    done ;;
down) for i in $(seq 1 200); do ip netns del nsb-$i 2>/dev/null || true; done ;;
esac
