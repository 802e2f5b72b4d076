"""PFCP through scapy (scapy.contrib.pfcp): an encoder and decoder no one here wrote.

Reads one JSON object on stdin: {"build": [scapy expression, ...], "decode": [hex, ...]}.
Prints {"built": [hex, ...], "decoded": [summary, ...]}, a summary being the header fields and
each IE as {"ietype", "fields", "ies"} (grouped IEs nest). Batched so a test file spawns it once.
"""
import json
import sys

from scapy.contrib import pfcp
from scapy.packet import Raw


def plain(v):
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, int) and abs(v) >= 2**53:
        return str(v)  # JSON numbers lose precision past 2^53 (SEIDs, volumes)
    if isinstance(v, (int, str, float)) or v is None:
        return v
    return str(v)


def ie_summary(ie):
    fields = {}
    children = []
    for f in ie.fields_desc:
        if f.name in ("ietype", "length"):
            continue
        if f.name == "IE_list":
            children = [ie_summary(c) for c in (ie.IE_list or [])]
            continue
        if hasattr(f, "_evalcond") and not f._evalcond(ie):
            continue
        fields[f.name] = plain(ie.getfieldval(f.name))
    return {"ietype": ie.ietype, "length": ie.length, "fields": fields, "ies": children}


def decode(hexstr):
    p = pfcp.PFCP(bytes.fromhex(hexstr))
    head = {k: plain(p.getfieldval(k)) for k in ("version", "MP", "S", "message_type", "length", "seq")}
    if p.S == 1:
        head["seid"] = str(p.seid)
    if p.MP == 1:
        head["priority"] = p.priority
    body = p.payload
    if isinstance(body, Raw) or not hasattr(body, "IE_list"):
        head["raw"] = bytes(body).hex()
        head["ies"] = []
    else:
        head["ies"] = [ie_summary(ie) for ie in (body.IE_list or [])]
    return head


def main():
    req = json.load(sys.stdin)
    env = {k: getattr(pfcp, k) for k in dir(pfcp) if not k.startswith("_")}
    built = [bytes(eval(expr, env)).hex() for expr in req.get("build", [])]
    decoded = [decode(h) for h in req.get("decode", [])]
    json.dump({"built": built, "decoded": decoded}, sys.stdout)


if __name__ == "__main__":
    main()
