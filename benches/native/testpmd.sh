#!/usr/bin/env bash
# dpdk-testpmd as a macswap forwarder on a DPDK vdev over a kernel interface: the native baseline
# of Fastlane's DPDK backend.
#
#   testpmd.sh IFACE af_xdp|af_packet [--huge-dir DIR] [--burst 32] [--vdev-args K=V,...]
#
# Run it in the interface's namespace, pinned to one CPU; both of testpmd's lcores (main and
# forwarding) go onto the first CPU this script may run on:
#   nsenter --net=/run/netns/NS taskset -c 1 benches/native/testpmd.sh IF af_xdp
# Without --huge-dir it runs on ordinary pages (--no-huge -m 512). It prints testpmd's output;
# "testpmd.sh: forwarding" once the port is started and forwarding. SIGTERM or SIGINT stops the
# forwarding, prints testpmd's forward statistics and exits 0; the EAL's runtime directory is
# removed afterwards.
set -euo pipefail

usage() {
	echo "usage: $0 IFACE af_xdp|af_packet [--huge-dir DIR] [--burst N] [--vdev-args K=V,...]" >&2
	exit 2
}

(($# >= 2)) || usage
IFACE=$1 KIND=$2
shift 2
MEMORY=(--no-huge -m 512)
BURST=32
VDEV_ARGS=
while (($#)); do
	case $1 in
	--huge-dir) (($# >= 2)) || usage; MEMORY=(--huge-dir "$2" --in-memory -m 512); shift 2 ;;
	--burst) (($# >= 2)) || usage; BURST=$2; shift 2 ;;
	--vdev-args) (($# >= 2)) || usage; VDEV_ARGS=,$2; shift 2 ;;
	*) usage ;;
	esac
done
case $KIND in
af_xdp) VDEV="net_af_xdp0,iface=$IFACE,start_queue=0,queue_count=1$VDEV_ARGS" ;;
af_packet) VDEV="net_af_packet0,iface=$IFACE,qpairs=1$VDEV_ARGS" ;;
*) usage ;;
esac

# The first CPU of this process's affinity (what taskset gave it).
CPU=$(awk '/^Cpus_allowed_list:/ { split($2, a, /[,-]/); print a[1] }' /proc/self/status)
PREFIX=fl-testpmd-$$

# stdbuf: testpmd writes to a pipe here, which stdio would buffer until exit.
# --stats-period keeps a non-interactive testpmd running (it would otherwise wait for a key on
# stdin, and stdin is not a terminal here); the period is long enough never to print, and the
# loop checks for a stop signal once a second.
stdbuf -oL dpdk-testpmd --lcores="0@$CPU,1@$CPU" --no-pci "${MEMORY[@]}" --file-prefix="$PREFIX" \
	--vdev="$VDEV" --log-level=lib.eal:warning \
	-- --forward-mode=macswap --port-topology=loop --nb-cores=1 --total-num-mbufs=16384 \
	--burst="$BURST" --auto-start --stats-period=86400 \
	> >(sed -u '/packet forwarding - ports=/a testpmd.sh: forwarding') 2>&1 &
TESTPMD=$!

# bash runs traps only between commands: wait in the background child's stead.
stop() { kill -INT "$TESTPMD" 2>/dev/null || true; }
trap stop TERM INT
# A trapped signal interrupts `wait`: wait again until testpmd itself has finished, then ask
# for its status (bash keeps it for a background job).
wait "$TESTPMD" || true
while kill -0 "$TESTPMD" 2>/dev/null; do wait "$TESTPMD" || true; done
status=0
wait "$TESTPMD" || status=$?
rm -rf "/var/run/dpdk/$PREFIX"
# testpmd re-raises the signal after a clean shutdown: 128+SIGINT is a normal stop here.
((status == 0 || status == 130)) || exit "$status"
exit 0
