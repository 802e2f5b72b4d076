"""A packet agent for the UPF's end-to-end tests, run inside one namespace of the test bed
(`ip netns exec NS python gtpu_agent.py IFACE`): it sends frames scapy builds and captures
frames decoded by scapy (scapy.contrib.gtp), so what the tests check is an independent
decoder's reading of the UPF's output, not ours.

Speaks JSON lines: one command per stdin line, one answer per stdout line.
  {"op": "start"}                                begin capturing on IFACE (everything received)
  {"op": "send", "frames": [EXPR...], "gap_us": N, "repeat": R}
                                                 build each scapy expression and send it (the
                                                 list R times), N microseconds apart
  {"op": "stop"}                                 stop capturing; answer every frame captured
  {"op": "quit"}
A captured frame's summary: "layers" (each layer's name and fields, as plain JSON), "checks"
(for each IP/UDP/TCP/ICMP layer, whether its checksum and length are what scapy computes from the
bytes), "hex" and "time".
"""
import json
import sys
import time

from scapy.all import (  # noqa: F401  (the expressions use these names)
    ARP, ICMP, IP, UDP, TCP, Ether, IPv6, ICMPv6EchoRequest, Raw, AsyncSniffer, Padding,
    sendp, conf, raw,
)
from scapy.contrib.gtp import (  # noqa: F401
    GTP_U_Header, GTPPDUSessionContainer, GTPEchoRequest, GTPEchoResponse, GTPErrorIndication,
    IE_TEIDI, IE_GSNAddress, IE_Recovery,
)
from scapy.layers.inet6 import _ICMPv6  # noqa: F401

IFACE = sys.argv[1]
conf.verb = 0


def plain(v):
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, (int, str, float, bool)) or v is None:
        return v
    if isinstance(v, list):
        return [plain(x) for x in v]
    if hasattr(v, "fields"):
        return {k: plain(x) for k, x in v.fields.items()}
    return str(v)


def padding_len(frame):
    pad = frame.getlayer(Padding)
    return len(pad.load) if pad is not None else 0


def checks(frame):
    """Each checksummed layer: its checksum and length as scapy would write them."""
    out = []
    pad = padding_len(frame)
    index = 0
    layer = frame
    while layer is not None and not isinstance(layer, (Raw, Padding)):
        name = layer.__class__.__name__
        entry = None
        if name in ("IP", "UDP", "TCP", "ICMP", "IPv6") or name.startswith("ICMPv6"):
            entry = {"layer": name, "index": index}
            if "chksum" in layer.fields or "cksum" in layer.fields:
                field = "chksum" if "chksum" in layer.fields else "cksum"
                copy = frame.copy()
                target = copy
                for _ in range(index):
                    target = target.payload
                setattr(target, field, None)
                rebuilt = Ether(raw(copy))
                for _ in range(index):
                    rebuilt = rebuilt.payload
                entry["checksum_ok"] = getattr(rebuilt, field) == getattr(layer, field)
                entry["checksum"] = getattr(layer, field)
            length = len(raw(layer)) - pad
            if name == "IP":
                entry["length_ok"] = layer.len == length
            elif name == "IPv6":
                entry["length_ok"] = layer.plen == length - 40
            elif name == "UDP":
                entry["length_ok"] = layer.len == length
        elif name == "GTP_U_Header":
            entry = {"layer": name, "index": index, "length_ok": layer.length == len(raw(layer)) - pad - 8}
        if entry is not None:
            out.append(entry)
        layer = layer.payload if layer.payload else None
        index += 1
    return out


def redissect(frame):
    """scapy 2.8 stops at an extension header before an Error Indication's IEs (the UDP Port
    extension header TS 29.281 clause 5.2.2.1 puts there): the rest is dissected, by scapy, as
    the Error Indication it is."""
    gtp = frame.getlayer(GTP_U_Header)
    rest = frame.getlayer(Raw)
    if gtp is not None and gtp.gtp_type == 26 and rest is not None and frame.getlayer(GTPErrorIndication) is None:
        under = rest.underlayer
        load = rest.load
        under.remove_payload()
        under.add_payload(GTPErrorIndication(load))
    return frame


def summary(frame):
    frame = redissect(frame)
    layers = []
    layer = frame
    while layer:
        if isinstance(layer, Padding):
            break
        layers.append({"name": layer.__class__.__name__, "fields": {k: plain(v) for k, v in layer.fields.items()}})
        layer = layer.payload
    return {"layers": layers, "checks": checks(frame), "hex": raw(frame).hex(), "time": float(frame.time)}


sniffer = None
for line in sys.stdin:
    command = json.loads(line)
    op = command["op"]
    answer = {"ok": True}
    try:
        if op == "start":
            # An L2 socket (not a listening one) leaves out what this interface sends: no BPF
            # filter, so neither libpcap nor tcpdump is needed.
            sniffer = AsyncSniffer(opened_socket=conf.L2socket(iface=IFACE), store=True)
            sniffer.start()
            time.sleep(0.3)  # the socket is open before the test sends
        elif op == "send":
            gap = command.get("gap_us", 0) / 1e6
            frames = [eval(expr) for expr in command["frames"]]  # noqa: S307 (test input)
            frames = [raw(f) for f in frames] * command.get("repeat", 1)
            socket = conf.L2socket(iface=IFACE)
            started = time.monotonic()
            try:
                for i, frame in enumerate(frames):
                    if gap:
                        wait = started + i * gap - time.monotonic()
                        if wait > 0:
                            time.sleep(wait)
                    socket.send(frame)
            finally:
                socket.close()
            answer["seconds"] = time.monotonic() - started
        elif op == "stop":
            time.sleep(command.get("linger_ms", 300) / 1000)
            captured = sniffer.stop() if sniffer is not None else []
            sniffer = None
            answer["frames"] = [summary(f) for f in captured]
        elif op == "quit":
            print(json.dumps(answer), flush=True)
            break
        else:
            raise ValueError(f"unknown op {op}")
    except Exception as e:  # noqa: BLE001 (reported to the test, which fails)
        answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
    print(json.dumps(answer), flush=True)
