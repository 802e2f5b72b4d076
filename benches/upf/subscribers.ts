// The benchmark's subscribers: for each UE its addresses and tunnel ids, the PFCP-shaped rules of
// its session, and the frames the generator cycles over (one per UE and direction).
//
// Per session: an uplink PDR (by the UPF's F-TEID, QFI 9, outer header removal) and a downlink PDR
// (by the UE's address), each with its own FAR (to the core; to the gNB's F-TEID with outer
// header creation) and URR (volume), and one QER (gates open, an MBR far above what one UE gets
// here, so that the token buckets run without holding anything back): 10K UEs make 20K PDRs,
// 20K FARs, 10K QERs and 20K URRs.

import type { SessionRules } from '../../apps/upf/src/sessions/types';
import { udpFrame } from '../../src-ts/traffic';
import type { UpfTestbed } from '../../apps/upf/test/testbed';

/** UDP port of the UEs' traffic, both ends. */
export const UE_PORT = 9000;
export const GTPU_PORT = 2152;
export const QFI = 9;
/** 1 Gbit/s per direction and UE. */
const MBR_KBPS = 1_000_000;
/** Bytes GTP-U adds on N3: IPv4, UDP, the GTP-U header, its optional fields, one PDU Session Container. */
export const GTPU_OVERHEAD = 20 + 8 + 8 + 4 + 4;
/** Uplink F-TEIDs the UPF hands out, and the gNB's downlink ones. */
const UPF_TEID_BASE = 0x0001_0000;
const GNB_TEID_BASE = 0x0002_0000;

/** The pool holds 65,536 addresses; the benchmark's counts stay below. */
export const MAX_UES = 65_000;

export function ueAddress(ue: number): string {
  const n = ue + 1;
  return `10.45.${n >> 8}.${n & 0xff}`;
}

export const upfTeid = (ue: number) => UPF_TEID_BASE + ue;
export const gnbTeid = (ue: number) => GNB_TEID_BASE + ue;
export const seid = (ue: number) => BigInt(ue + 1);

/** The addresses a session's rules name (the UPF's on N3, the gNB's), and the N6 gateway's. */
export interface Peers {
  n3: string;
  gnb: string;
  n6Gateway: string;
}

export const peersOf = (bed: UpfTestbed): Peers => ({ n3: bed.n3.ipv4, gnb: bed.gnb.ipv4, n6Gateway: bed.dn.ipv4 });

export function sessionRules(ue: number, peers: Peers): SessionRules {
  return {
    pdrs: [
      {
        pdrId: 1,
        precedence: 100,
        pdi: { sourceInterface: 'access', localFTeid: { teid: upfTeid(ue), ipv4: peers.n3 }, qfi: QFI },
        outerHeaderRemoval: 'gtpu-udp-ipv4',
        farId: 1,
        qerIds: [1],
        urrIds: [1],
      },
      {
        pdrId: 2,
        precedence: 100,
        pdi: { sourceInterface: 'core', ueIpAddress: { ipv4: ueAddress(ue) } },
        farId: 2,
        qerIds: [1],
        urrIds: [2],
      },
    ],
    fars: [
      { farId: 1, applyAction: { forward: true }, forwardingParameters: { destinationInterface: 'core' } },
      {
        farId: 2,
        applyAction: { forward: true },
        forwardingParameters: {
          destinationInterface: 'access',
          outerHeaderCreation: { teid: gnbTeid(ue), ipv4: peers.gnb },
        },
      },
    ],
    qers: [
      {
        qerId: 1,
        gateStatus: { uplink: 'open', downlink: 'open' },
        mbr: { uplinkKbps: MBR_KBPS, downlinkKbps: MBR_KBPS },
        qfi: QFI,
      },
    ],
    urrs: [1, 2].map((urrId) => ({ urrId, measurementMethod: { volume: true }, reportingTriggers: {} })),
  };
}

/**
 * Every UE's uplink frame, `innerLen` bytes of inner frame (Ethernet + IP as on N6, FCS
 * excluded) inside GTP-U/UDP/IPv4 from the gNB to the UPF's N3 address: a G-PDU to the UE's
 * F-TEID with a PDU Session Container (uplink, QFI 9) around UDP from the UE to the DN host.
 */
export function uplinkFrames(bed: UpfTestbed, ues: number, innerLen: number): Buffer[] {
  return Array.from({ length: ues }, (_, ue) => {
    const inner = udpFrame(
      { srcMac: bed.gnb.mac, dstMac: bed.n3.mac, srcIp: ueAddress(ue), dstIp: bed.dn.ipv4, srcPort: UE_PORT, dstPort: UE_PORT },
      innerLen,
    ).subarray(14);
    return gtpuFrame(bed, upfTeid(ue), inner);
  });
}

/** Every UE's downlink frame: UDP from the DN host to the UE, `frameLen` bytes (FCS excluded). */
export function downlinkFrames(bed: UpfTestbed, ues: number, frameLen: number): Buffer[] {
  return Array.from({ length: ues }, (_, ue) =>
    udpFrame(
      { srcMac: bed.dn.mac, dstMac: bed.n6.mac, srcIp: bed.dn.ipv4, dstIp: ueAddress(ue), srcPort: UE_PORT, dstPort: UE_PORT },
      frameLen,
    ),
  );
}

function gtpuFrame(bed: UpfTestbed, teid: number, inner: Buffer): Buffer {
  const f = Buffer.alloc(14 + GTPU_OVERHEAD + inner.length);
  macBytes(bed.n3.mac).copy(f, 0);
  macBytes(bed.gnb.mac).copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  // IPv4: no options, don't fragment, TTL 64, UDP.
  const ip = 14;
  f.writeUInt8(0x45, ip);
  f.writeUInt16BE(f.length - ip, ip + 2);
  f.writeUInt16BE(0x4000, ip + 6);
  f.writeUInt8(64, ip + 8);
  f.writeUInt8(17, ip + 9);
  ipv4Bytes(bed.gnb.ipv4).copy(f, ip + 12);
  ipv4Bytes(bed.n3.ipv4).copy(f, ip + 16);
  f.writeUInt16BE(ipv4Checksum(f.subarray(ip, ip + 20)), ip + 10);
  // UDP, checksum 0 (none: allowed over IPv4, as gNBs send it).
  const udp = ip + 20;
  f.writeUInt16BE(GTPU_PORT, udp);
  f.writeUInt16BE(GTPU_PORT, udp + 2);
  f.writeUInt16BE(f.length - udp, udp + 4);
  // GTP-U v1, PT 1, E: G-PDU; sequence number, N-PDU number, next extension: PDU Session Container.
  const gtp = udp + 8;
  f.writeUInt8(0x34, gtp);
  f.writeUInt8(0xff, gtp + 1);
  f.writeUInt16BE(f.length - gtp - 8, gtp + 2);
  f.writeUInt32BE(teid, gtp + 4);
  f.writeUInt8(0x85, gtp + 11);
  // PDU Session Container: 1 × 4 bytes, PDU type 1 (UL PDU session information), QFI, no next.
  f.writeUInt8(1, gtp + 12);
  f.writeUInt8(0x10, gtp + 13);
  f.writeUInt8(QFI, gtp + 14);
  inner.copy(f, gtp + 16);
  return f;
}

function ipv4Checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) {
    sum += header.readUInt16BE(i);
  }
  while (sum > 0xffff) {
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  return ~sum & 0xffff;
}

const macBytes = (mac: string) => Buffer.from(mac.split(':').map((b) => parseInt(b, 16)));
const ipv4Bytes = (address: string) => Buffer.from(address.split('.').map(Number));
