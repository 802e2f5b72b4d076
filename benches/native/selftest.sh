#!/usr/bin/env bash
# Functional self-test of the native baselines on a veth pair between two namespaces.
# Needs root. Leaves no namespace and no XDP program behind, even when a check fails.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=$HERE/build
GEN_NS=flb-gen FWD_NS=flb-fwd GEN_IF=flb-g0 FWD_IF=flb-f0
GEN_IP=10.78.0.1 FWD_IP=10.78.0.2
OUT=$(mktemp -d)
FORWARDER_PID=
FAILURES=0

cleanup() {
	if [[ -n $FORWARDER_PID ]]; then
		kill -KILL "$FORWARDER_PID" 2>/dev/null || true
		wait "$FORWARDER_PID" 2>/dev/null || true
	fi
	ip netns del "$GEN_NS" 2>/dev/null || true
	ip netns del "$FWD_NS" 2>/dev/null || true
	rm -rf "$OUT"
}
trap cleanup EXIT

in_gen() { ip netns exec "$GEN_NS" "$@"; }
check() { # NAME COMMAND...: records a failure instead of stopping
	if "${@:2}"; then echo "PASS $1"; else echo "FAIL $1"; FAILURES=$((FAILURES + 1)); fi
}
fwd_has_xdp() { ip -n "$FWD_NS" link show "$FWD_IF" | grep -q 'prog/xdp'; }
not() { ! "$@"; }

start() { # starts a forwarder in the fwd namespace on CPU 1
	# nsenter execs taskset which execs the forwarder: $! is the forwarder itself.
	nsenter --net=/run/netns/$FWD_NS taskset -c 1 "$@" >"$OUT/stdout" 2>"$OUT/stderr" &
	FORWARDER_PID=$!
	sleep 0.5
}
stop() { # SIGNAL EXPECTED_STDOUT_REGEX: stops the forwarder and checks its exit and counts
	local status=0
	kill "-$1" "$FORWARDER_PID"
	wait "$FORWARDER_PID" || status=$?
	FORWARDER_PID=
	check "exit status 0 after SIG$1" test "$status" -eq 0
	check "counts '$2'" grep -Eq "^$2\$" "$OUT/stdout"
	[[ $status -eq 0 ]] || cat "$OUT/stderr" >&2
}

make -C "$HERE" >/dev/null
ip netns add "$GEN_NS"
ip netns add "$FWD_NS"
ip link add "$GEN_IF" type veth peer name "$FWD_IF"
ip link set "$GEN_IF" netns "$GEN_NS"
ip link set "$FWD_IF" netns "$FWD_NS"
ip -n "$GEN_NS" addr add "$GEN_IP/24" dev "$GEN_IF"
ip -n "$FWD_NS" addr add "$FWD_IP/24" dev "$FWD_IF"
for ns in "$GEN_NS" "$FWD_NS"; do ip -n "$ns" link set lo up; done
ip -n "$GEN_NS" link set "$GEN_IF" up
ip -n "$FWD_NS" link set "$FWD_IF" up
FWD_MAC=$(ip -n "$FWD_NS" -br link show "$FWD_IF" | awk '{print $3}')
macswap() { in_gen python3 -B "$HERE/check_forwarder.py" macswap "$GEN_IF" "$FWD_MAC" "$GEN_IP" "$FWD_IP" "$@"; }

echo "== xsk_macswap, default options"
start "$BUILD/xsk_macswap" "$FWD_IF"
check "native XDP attached" fwd_has_xdp
check "2000 frames come back MAC-swapped" macswap --count 2000
check "ping still answered by the kernel" in_gen ping -c 2 -W 1 -q "$FWD_IP"
stop TERM "rx_packets=2000 tx_packets=2000"
check "no XDP program left after SIGTERM" not fwd_has_xdp

# The benchmark's generator end carries a native XDP program: check the return path with one.
ip -n "$GEN_NS" link set dev "$GEN_IF" xdpdrv obj "$BUILD/xdp_pass.bpf.o" sec xdp

echo "== xsk_macswap --copy --busy-poll --batch 1, 1400-byte frames"
start "$BUILD/xsk_macswap" "$FWD_IF" --copy --busy-poll --batch 1
check "2000 frames come back MAC-swapped" macswap --count 2000 --size 1358
stop INT "rx_packets=2000 tx_packets=2000"
check "no XDP program left after SIGINT" not fwd_has_xdp

echo "== xsk_macswap --port 9001"
start "$BUILD/xsk_macswap" "$FWD_IF" --port 9001 --batch 256
check "frames to port 9001 come back MAC-swapped" macswap --count 500 --port 9001
check "frames to port 9000 are left to the kernel" not macswap --count 20
stop TERM "rx_packets=500 tx_packets=500"

echo "== xsk_macswap --duration 1"
start "$BUILD/xsk_macswap" "$FWD_IF" --duration 1
sleep 1
check "exits 0 by itself" wait "$FORWARDER_PID"
FORWARDER_PID=
check "no XDP program left after --duration" not fwd_has_xdp

echo "== udp_echo"
ip -n "$GEN_NS" link set dev "$GEN_IF" xdpdrv off
start "$BUILD/udp_echo" "$FWD_IP:9000"
check "2000 datagrams echoed" in_gen python3 -B "$HERE/check_forwarder.py" echo "$FWD_IP" --count 2000
check "1472-byte datagrams echoed" in_gen python3 -B "$HERE/check_forwarder.py" echo "$FWD_IP" --count 500 --size 1472
stop TERM "rx_packets=2500 tx_packets=2500"

echo "== tpacket_reflector"
# Frames sent by an AF_PACKET socket take the ordinary veth path: no XDP program is needed.
start "$BUILD/tpacket_reflector" "$FWD_IF"
check "2000 frames come back MAC-swapped" macswap --count 2000
check "1400-byte frames come back MAC-swapped" macswap --count 500 --size 1358
check "frames to port 9001 are filtered out" not macswap --count 20 --port 9001
check "ping still answered by the kernel" in_gen ping -c 2 -W 1 -q "$FWD_IP"
stop TERM "rx_packets=2500 tx_packets=2500"

echo "== tpacket_reflector --port 9001 --block-size 4096 --block-timeout-ms 0, return path with native XDP"
ip -n "$GEN_NS" link set dev "$GEN_IF" xdpdrv obj "$BUILD/xdp_pass.bpf.o" sec xdp
start "$BUILD/tpacket_reflector" "$FWD_IF" --port 9001 --block-size 4096 --block-count 64 --block-timeout-ms 0
check "frames to port 9001 come back MAC-swapped" macswap --count 1000 --port 9001
stop INT "rx_packets=1000 tx_packets=1000"
ip -n "$GEN_NS" link set dev "$GEN_IF" xdpdrv off

echo "== tpacket_reflector --duration 1"
start "$BUILD/tpacket_reflector" "$FWD_IF" --duration 1
sleep 1
check "exits 0 by itself" wait "$FORWARDER_PID"
FORWARDER_PID=

for kind in af_xdp af_packet; do
	echo "== testpmd.sh $kind"
	start "$HERE/testpmd.sh" "$FWD_IF" "$kind"
	for _ in $(seq 300); do grep -q '^testpmd.sh: forwarding$' "$OUT/stdout" && break; sleep 0.1; done
	check "forwarding" grep -q '^testpmd.sh: forwarding$' "$OUT/stdout"
	# net_af_xdp sends with XDP: the generator's end needs a native program to receive.
	ip -n "$GEN_NS" link set dev "$GEN_IF" xdpdrv obj "$BUILD/xdp_pass.bpf.o" sec xdp
	check "2000 frames come back MAC-swapped" macswap --count 2000
	ip -n "$GEN_NS" link set dev "$GEN_IF" xdpdrv off
	# Also counted: the kernel's own IPv6 chatter on the interface.
	stop TERM "  TX-packets: (200[0-9]|20[1-9][0-9]) +TX-dropped: 0 +TX-total: [0-9]+"
	check "EAL runtime directory removed" not ls -d /var/run/dpdk/fl-testpmd-* 2>/dev/null
	check "no XDP program left" not fwd_has_xdp
done

if ((FAILURES)); then
	echo "$FAILURES check(s) failed"
	exit 1
fi
echo "all checks passed"
