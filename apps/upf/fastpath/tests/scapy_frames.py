"""Builds and decodes Ethernet frames with scapy (an encoder and decoder no one here wrote) for
the UPF fast path's tests. One request per line on stdin, one answer per line on stdout:

- `build EXPR`: EXPR is a scapy expression (`Ether()/IP()/...`); the answer is the frame in hex.
- `decode HEX`: the answer is a JSON object listing the frame's layers with their fields, and
  `mismatches`: every length and checksum field whose value differs from what scapy computes
  when it rebuilds the frame with those fields left to it (a UDP checksum of 0 over IPv4,
  "none", is reported as `udp_none` instead).
"""

import json
import sys

from scapy.all import *  # noqa: F401,F403 (the names `build` expressions use)
from scapy.contrib.gtp import *  # noqa: F401,F403
from scapy.contrib.gtp import GTP_U_Header, GTPErrorIndication
from scapy.layers.l2 import Ether
from scapy.packet import Raw

COMPUTED = ("len", "length", "plen", "chksum", "ihl")


def plain(value):
    if isinstance(value, (int, str, float)) or value is None:
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "fields"):
        return {"name": type(value).__name__, "fields": {k: plain(v) for k, v in value.fields.items()}}
    return str(value)


def layers(packet):
    out = []
    layer = packet
    while layer and not isinstance(layer, Raw):
        out.append({"name": type(layer).__name__, "fields": {k: plain(v) for k, v in layer.fields.items()}})
        layer = layer.payload
    if isinstance(layer, Raw):
        gtp = packet.getlayer(GTP_U_Header)
        if gtp is not None and gtp.gtp_type == 26:
            # scapy does not dispatch past the UDP Port extension header an Error Indication
            # carries: its IEs are decoded here.
            out.extend(layers(GTPErrorIndication(layer.load)))
        else:
            out.append({"name": "Raw", "fields": {"load": layer.load.hex()}})
    return out


def mismatches(frame):
    original = Ether(frame)
    rebuilt = Ether(frame)
    layer = rebuilt
    udp_none = False
    over_ipv4 = False
    while layer and not isinstance(layer, Raw):
        name = type(layer).__name__
        if name == "IP":
            over_ipv4 = True
        elif name == "IPv6":
            over_ipv4 = False
        for field in COMPUTED:
            if field in layer.fields:
                if name == "UDP" and field == "chksum" and layer.fields[field] == 0 and over_ipv4:
                    udp_none = True
                    continue
                layer.fields[field] = None
        layer = layer.payload
    rebuilt = Ether(bytes(rebuilt))
    found = []
    a, b, depth = original, rebuilt, 0
    while a and b and not isinstance(a, Raw):
        for field in COMPUTED:
            if field in a.fields and a.fields[field] != b.fields.get(field):
                if type(a).__name__ == "UDP" and field == "chksum" and a.fields[field] == 0 and udp_none:
                    continue
                found.append(f"{type(a).__name__}[{depth}].{field}: {a.fields[field]} != {b.fields.get(field)}")
        a, b, depth = a.payload, b.payload, depth + 1
    return found, udp_none


for line in sys.stdin:
    request, _, argument = line.strip().partition(" ")
    if request == "build":
        print(bytes(eval(argument)).hex())  # noqa: S307 (the tests' own expressions)
    elif request == "decode":
        frame = bytes.fromhex(argument)
        found, udp_none = mismatches(frame)
        print(json.dumps({"layers": layers(Ether(frame)), "mismatches": found, "udp_none": udp_none, "len": len(frame)}))
    else:
        sys.exit(f"unknown request {request!r}")
    sys.stdout.flush()
