#!/usr/bin/env python3
"""Functional check of a native baseline from the generator's side.

  check_forwarder.py macswap IFACE DST_MAC SRC_IP DST_IP [--port 9000] [--count 1000]
      Sends IPv4 UDP frames out of IFACE with an AF_PACKET socket; every frame must come
      back byte for byte with its Ethernet addresses swapped.
  check_forwarder.py echo DST_IP [--port 9000] [--count 1000]
      Sends UDP datagrams from a kernel socket; every one must be echoed back unchanged.

Exits 0 when every packet came back, 1 otherwise, printing sent/received counts.
"""
import argparse
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_RCVBUFFORCE = 33
RCVBUF_BYTES = 32 << 20  # Python drains slowly: keep bursts of large frames in the socket
BURST = 32
TIMEOUT_S = 2.0


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(dst_mac, src_mac, src_ip, dst_ip, sport, dport, payload):
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, socket.IPPROTO_UDP,
                     0, socket.inet_aton(src_ip), socket.inet_aton(dst_ip))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + ip + udp


def check_macswap(args) -> bool:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES)
    sock.bind((args.iface, 0))
    src_mac = sock.getsockname()[4]
    dst_mac = bytes.fromhex(args.dst_mac.replace(":", ""))
    requests, expected = [], {}
    for i in range(args.count):
        payload = f"flb-macswap-{i:08d}".encode().ljust(args.size, b".")
        frame = udp_frame(dst_mac, src_mac, args.src_ip, args.dst_ip, 40000 + i % 1000, args.port,
                          payload)
        requests.append(frame)
        expected[frame[6:12] + frame[0:6] + frame[12:]] = i
    sent = received = wrong = 0
    sock.settimeout(0.0)
    for start in range(0, len(requests), BURST):
        for frame in requests[start:start + BURST]:
            sock.send(frame)
            sent += 1
        received, wrong = drain(sock, expected, received, wrong, 0.002)
    received, wrong = drain(sock, expected, received, wrong, TIMEOUT_S)
    # Frames the packet socket itself dropped were lost by this checker, not by the forwarder.
    _, socket_drops = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    print(f"macswap: sent={sent} received={received} unexpected={wrong} "
          f"checker_socket_drops={socket_drops}")
    return received == sent


def drain(sock, expected, received, wrong, wait_s):
    deadline = time.monotonic() + wait_s
    while expected and time.monotonic() < deadline:
        try:
            data, addr = sock.recvfrom(65536)
        except BlockingIOError:
            time.sleep(0.0005)
            continue
        if addr[2] == PACKET_OUTGOING:
            continue
        if expected.pop(data, None) is not None:
            received += 1
        elif b"flb-macswap-" in data:
            wrong += 1
    return received, wrong


def check_echo(args) -> bool:
    # Unconnected: a kernel ICMP error (nothing listening) must not abort the check.
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES)
    server = (args.dst_ip, args.port)
    sock.settimeout(0.0)
    expected = set()
    sent = received = 0

    def receive(wait_s):
        nonlocal received
        deadline = time.monotonic() + wait_s
        while expected and time.monotonic() < deadline:
            try:
                data, source = sock.recvfrom(65536)
            except BlockingIOError:
                time.sleep(0.0005)
                continue
            if source == server and data in expected:
                expected.discard(data)
                received += 1

    for i in range(args.count):
        payload = f"flb-echo-{i:08d}".encode().ljust(args.size, b".")
        expected.add(payload)
        sock.sendto(payload, server)
        sent += 1
        if sent % BURST == 0:
            receive(0.002)
    receive(TIMEOUT_S)
    print(f"echo: sent={sent} received={received}")
    return received == sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    macswap = sub.add_parser("macswap")
    macswap.add_argument("iface")
    macswap.add_argument("dst_mac")
    macswap.add_argument("src_ip")
    macswap.add_argument("dst_ip")
    echo = sub.add_parser("echo")
    echo.add_argument("dst_ip")
    for p in (macswap, echo):
        p.add_argument("--port", type=int, default=9000)
        p.add_argument("--count", type=int, default=1000)
        p.add_argument("--size", type=int, default=18, help="UDP payload bytes")
    args = parser.parse_args()
    ok = check_macswap(args) if args.mode == "macswap" else check_echo(args)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
