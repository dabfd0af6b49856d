#!/bin/sh
# Measure `arpdoctor exporter` in a lab of two network namespaces: what
# docs/benchmarks.md reports, by the commands it shows.
#
#   sudo sh docs/exporter-bench.sh up [ENTRIES]   # the lab, ENTRIES (default 60) STALE entries in xb-srv
#   sudo sh docs/exporter-bench.sh idle ARPDOCTOR [SECONDS]
#   sudo sh docs/exporter-bench.sh load ARPDOCTOR [SECONDS] [RATE]
#   sudo sh docs/exporter-bench.sh scrape ARPDOCTOR [SCRAPES] [NETNS]
#   sudo sh docs/exporter-bench.sh down
#   sudo sh docs/private-kernel.sh sh docs/exporter-bench.sh table ENTRIES NETNS
#   sudo sh docs/private-kernel.sh sh -c 'sh docs/exporter-bench.sh pods PODS ENTRIES && sh docs/exporter-bench.sh series ARPDOCTOR'
#
# xb-srv (eth0 198.51.100.1, a TCP server on port 8080) and xb-cli (eth0
# 198.51.100.2) are joined by a veth pair; only documentation addresses and
# locally administered MACs, only the lab's own namespaces and their own
# sysctls. The host's interfaces, tables and settings are not touched. The
# kernel's neighbor table thresholds count every namespace's entries
# together: keep ENTRIES small on a shared machine. "scrape" compares
# arpdoctor's scrape with node_exporter's arp collector, both run in NETNS
# (xb-srv by default; docs/benchmarks.md builds a 20,000-entry one for a
# test machine). Needs iproute2, python3 and curl; "scrape" also Debian's
# prometheus-node-exporter.
#
# "table" fills NETNS (made for it) with ENTRIES entries, every IPv4
# documentation address on as many veth interfaces as it takes, alternately
# PERMANENT and STALE, after raising the kernel's gc_thresh1..3 above
# ENTRIES so that none is collected. Those thresholds and the table they
# hold are the kernel's, for every namespace: "table" runs only in a kernel
# of its own (docs/private-kernel.sh), never on a shared machine.
#
# "pods" is a Kubernetes node in the same kernel: PODS namespaces pod-N,
# each joined to the node's namespace by a veth pair (vethN on the node,
# eth0 in the pod, 2001:db8:N::/64 between them), and ENTRIES entries in
# all: one per pod on the node's side, the rest spread evenly over the
# pods, half PERMANENT and half STALE, IPv6 documentation addresses.
# "series" runs `arpdoctor --all-netns exporter` in the node's namespace
# and counts the series of one scrape, by metric.
set -eu
S=xb-srv C=xb-cli
PORT=8080
EXPORTER=127.0.0.1:19877 NODE=127.0.0.1:19100

# cpu PID: utime+stime of PID, in clock ticks (fields 14 and 15 of stat).
cpu() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' /proc/$1/stat; }

# start_exporter NETNS ARPDOCTOR ARGS...: the exporter in NETNS, listening
# there; its PID in $EPID once it answers.
start_exporter() {
	ns=$1 bin=$2
	shift 2
	ip netns exec "$ns" "$bin" exporter --web.listen-address $EXPORTER "$@" 2>/tmp/xb-exporter.log &
	EPID=$!
	i=0
	until ip netns exec "$ns" curl -sf -o /dev/null http://$EXPORTER/metrics; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "the exporter does not answer" >&2; exit 2; }
		sleep 0.1
	done
}

case ${1:-} in
up)
	n=${2:-60}
	ip netns add $S
	ip netns add $C
	ip -n $S link add eth0 type veth peer name eth0 netns $C
	ip -n $S link set eth0 address 02:00:00:00:0b:01
	ip -n $C link set eth0 address 02:00:00:00:0b:02
	ip -n $S addr add 198.51.100.1/24 dev eth0
	ip -n $C addr add 198.51.100.2/24 dev eth0
	for ns in $S $C; do
		ip -n $ns link set lo up
		ip -n $ns link set eth0 up
	done
	# Enough ports and TIME_WAIT reuse for a thousand connects a second,
	# in the client's namespace only.
	ip netns exec $C sh -c 'echo 10000 65000 >/proc/sys/net/ipv4/ip_local_port_range; echo 1 >/proc/sys/net/ipv4/tcp_tw_reuse'
	ip netns exec $S sh -c 'echo 4096 >/proc/sys/net/core/somaxconn'
	# The table: ENTRIES STALE entries on eth0, none of them answering.
	i=0
	while [ $i -lt "$n" ]; do
		ip -n $S neigh replace 198.51.100.$((10 + i % 240)) lladdr 02:00:00:01:$(printf %02x $((i / 240))):$(printf %02x $((i % 240))) dev eth0 nud stale
		i=$((i + 1))
	done
	# A server that accepts connections and closes them.
	ip netns exec $S python3 -c "
import socket
s = socket.create_server(('198.51.100.1', $PORT), backlog=4096)
while True: s.accept()[0].close()" </dev/null >/dev/null 2>&1 &
	echo $! >/tmp/xb-server.pid
	;;
table)
	n=${2:?ENTRIES} ns=${3:?NETNS}
	[ "${ARPDOCTOR_PRIVATE_KERNEL:-}" = 1 ] || {
		echo "$0 table: the table's thresholds are the whole machine's: run it under docs/private-kernel.sh" >&2
		exit 2
	}
	for i in 1 2 3; do echo $((n + 10000 * i)) >/proc/sys/net/ipv4/neigh/default/gc_thresh$i; done
	ip netns add "$ns"
	ip -n "$ns" link set lo up
	awk -v n="$n" 'BEGIN { k = 0; split("192.0.2 198.51.100 203.0.113", nets, " ")
	  for (i = 0; k < n; i++) {
	    printf "link add eth%d type veth peer name peer%d\nlink set eth%d up\nlink set peer%d up\n", i, i, i, i
	    for (j = 1; j <= 3 && k < n; j++)
	      for (h = 1; h <= 254 && k < n; h++) {
	        printf "neigh replace %s.%d lladdr 02:00:00:%02x:%02x:%02x dev eth%d nud %s\n",
	          nets[j], h, int(k / 65536) % 256, int(k / 256) % 256, k % 256, i, k % 2 ? "stale" : "permanent"
	        k++
	      }
	  } }' | ip -n "$ns" -batch -
	echo "table: $(ip -n "$ns" neigh show | wc -l) entries in $ns"
	;;
pods)
	pods=${2:?PODS} n=${3:?ENTRIES}
	[ "${ARPDOCTOR_PRIVATE_KERNEL:-}" = 1 ] || {
		echo "$0 pods: the table's thresholds are the whole machine's: run it under docs/private-kernel.sh" >&2
		exit 2
	}
	for i in 1 2 3; do echo $((n + 10000 * i)) >/proc/sys/net/ipv6/neigh/default/gc_thresh$i; done
	per=$(((n - pods) / pods))
	i=1
	while [ $i -le "$pods" ]; do
		ip netns add pod-$i
		ip link add veth$i type veth peer name eth0 netns pod-$i
		ip link set veth$i up
		ip -n pod-$i link set lo up
		ip -n pod-$i link set eth0 up
		ip -n pod-$i addr add 2001:db8:$i::2/64 dev eth0 nodad
		ip addr add 2001:db8:$i::1/64 dev veth$i nodad
		ip neigh replace 2001:db8:$i::2 lladdr 02:00:00:00:$(printf %02x $((i / 256))):$(printf %02x $((i % 256))) dev veth$i nud stale
		awk -v i=$i -v per=$per 'BEGIN { for (h = 0; h < per; h++)
		  printf "neigh replace 2001:db8:%d::%x lladdr 02:00:%02x:%02x:%02x:%02x dev eth0 nud %s\n",
		    i, h + 16, int(i / 256), i % 256, int(h / 256), h % 256, h % 2 ? "stale" : "permanent" }' | ip -n pod-$i -batch -
		i=$((i + 1))
	done
	echo "pods: $pods namespaces, $(for ns in $(ip netns list | cut -d' ' -f1) ""; do ip ${ns:+-n $ns} -6 neigh show; done | wc -l) entries"
	;;
series)
	ip link set lo up
	"$2" --all-netns exporter --web.listen-address $EXPORTER --rediscover-interval 5s 2>/tmp/xb-exporter.log &
	EPID=$!
	until curl -sf -o /dev/null http://$EXPORTER/metrics; do sleep 0.2; done
	sleep 8 # a round over every namespace
	curl -s http://$EXPORTER/metrics | grep -v '^#' >/tmp/xb-scrape.txt
	echo "series in one scrape: $(wc -l </tmp/xb-scrape.txt) ($(grep -c '^arpdoctor_' /tmp/xb-scrape.txt) arpdoctor_*)"
	sed 's/[{ ].*//' /tmp/xb-scrape.txt | sort | uniq -c | sort -rn | head -12
	grep -E '^arpdoctor_netns_(discovered|read)' /tmp/xb-scrape.txt
	echo "peak RSS: $(awk '/VmHWM/ { print $2, $3 }' /proc/$EPID/status)"
	kill $EPID
	wait $EPID || true
	;;
down)
	[ -f /tmp/xb-server.pid ] && kill "$(cat /tmp/xb-server.pid)" 2>/dev/null || true
	rm -f /tmp/xb-server.pid
	ip netns del $C 2>/dev/null || true
	ip netns del $S 2>/dev/null || true
	;;
idle)
	secs=${3:-60}
	start_exporter $S "$2" --trace-interface eth0
	sleep 2
	t0=$(cpu $EPID)
	sleep "$secs"
	t1=$(cpu $EPID)
	kill $EPID
	wait $EPID || true
	echo "idle: $((t1 - t0)) ticks of $(getconf CLK_TCK)/s CPU in ${secs} s"
	;;
load)
	secs=${3:-30} rate=${4:-1000}
	start_exporter $S "$2" --trace-interface eth0
	sleep 2
	t0=$(cpu $EPID)
	# rate connects a second for secs seconds, paced per millisecond
	# batch, each a full handshake then a close.
	ip netns exec $C python3 -c "
import socket, time
rate, secs = $rate, $secs
end = time.monotonic() + secs
n = 0
start = time.monotonic()
while time.monotonic() < end:
    s = socket.create_connection(('198.51.100.1', $PORT), timeout=1)
    s.close()
    n += 1
    ahead = start + n / rate - time.monotonic()
    if ahead > 0: time.sleep(ahead)
print(f'load: {n} connects in {time.monotonic() - start:.1f} s')"
	t1=$(cpu $EPID)
	ip netns exec $S curl -s http://$EXPORTER/metrics | grep -E '^arpdoctor_handshake_findings_total' | grep -v ' 0$' || true
	kill $EPID
	wait $EPID || true
	echo "load: $((t1 - t0)) ticks of $(getconf CLK_TCK)/s CPU in ${secs} s"
	;;
scrape)
	n=${3:-100} ns=${4:-$S}
	# The table alone: no trace, no sysctl rules.
	start_exporter "$ns" "$2" --profile none
	ip netns exec "$ns" prometheus-node-exporter --collector.disable-defaults --collector.arp \
		--web.listen-address $NODE 2>/tmp/xb-node.log &
	NPID=$!
	until ip netns exec "$ns" curl -sf -o /dev/null http://$NODE/metrics; do sleep 0.1; done
	for url in http://$EXPORTER/metrics http://$NODE/metrics; do
		ip netns exec "$ns" curl -s -o /dev/null "$url" # warm up
		ip netns exec "$ns" sh -c "i=0; while [ \$i -lt $n ]; do curl -s -o /dev/null -w '%{time_total}\n' $url; i=\$((i + 1)); done" |
			sort -n | awk -v url="$url" '{ t[NR] = $1 } END { printf "%s: %d scrapes, median %.1f ms, p90 %.1f ms\n", url, NR, 1000 * t[int(NR / 2) + 1], 1000 * t[int(NR * 0.9)] }'
	done
	ip netns exec "$ns" curl -s http://$EXPORTER/metrics >/tmp/xb-scrape.txt
	grep -c '^arpdoctor_' /tmp/xb-scrape.txt | sed 's/^/arpdoctor series: /'
	grep -E '^arpdoctor_collector_duration_seconds|^go_memstats_(heap_inuse|heap_sys|sys)_bytes ' /tmp/xb-scrape.txt
	ip netns exec "$ns" curl -s http://$NODE/metrics | grep -c '^node_arp' | sed 's/^/node_exporter arp series: /'
	echo "peak RSS: arpdoctor $(awk '/VmHWM/ { print $2, $3 }' /proc/$EPID/status), node_exporter $(awk '/VmHWM/ { print $2, $3 }' /proc/$NPID/status)"
	kill $EPID $NPID
	wait $EPID $NPID || true
	;;
*)
	echo "usage: $0 up [ENTRIES] | table ENTRIES NETNS | pods PODS ENTRIES | series ARPDOCTOR | idle ARPDOCTOR [SECONDS] | load ARPDOCTOR [SECONDS] [RATE] | scrape ARPDOCTOR [SCRAPES] [NETNS] | down" >&2
	exit 2
	;;
esac
