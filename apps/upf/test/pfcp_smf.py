"""An SMF's end of N4 driven by a test: scapy (scapy.contrib.pfcp) builds every request and
decodes every datagram the UPF sends, over a real UDP socket.

argv: the address to bind. Prints {"ready": port}; then reads one JSON command per line and answers
each with one JSON line:
  {"op": "send", "build": scapy expression | "hex": bytes, "to": [host, port]} -> {"sent": hex}
  {"op": "recv", "timeout": seconds} -> {"from": [host, port], "hex": ..., "msg": summary} | {"timeout": true}
A summary is pfcp_scapy.decode's: header fields and IEs as scapy reads them.
"""
import json
import select
import socket
import sys

from scapy.contrib import pfcp

from pfcp_scapy import decode


def main():
    addr = sys.argv[1]
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((addr, 0))
    env = {k: getattr(pfcp, k) for k in dir(pfcp) if not k.startswith("_")}
    print(json.dumps({"ready": sock.getsockname()[1]}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["op"] == "send":
                data = bytes.fromhex(cmd["hex"]) if "hex" in cmd else bytes(eval(cmd["build"], env))
                sock.sendto(data, (cmd["to"][0], cmd["to"][1]))
                out = {"sent": data.hex()}
            elif cmd["op"] == "recv":
                ready, _, _ = select.select([sock], [], [], cmd.get("timeout", 2.0))
                if not ready:
                    out = {"timeout": True}
                else:
                    data, peer = sock.recvfrom(65535)
                    out = {"from": [peer[0], peer[1]], "hex": data.hex(), "msg": decode(data.hex())}
            else:
                out = {"error": "unknown op " + cmd["op"]}
        except Exception as e:  # the test sees the failure instead of a hang
            out = {"error": repr(e)}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
