/**
 * Builds test packets byte by byte: Ethernet + ARP, IPv4 or IPv6 + TCP, UDP, ICMP or ICMPv6,
 * with correct lengths and checksums. Addresses are text ("10.0.0.1", "fd00::1",
 * "02:00:00:00:00:01"); everything else has a sensible default.
 */
import { isIPv4 } from 'node:net';
import { parseIp, parseMac } from '../../src/net/ip.ts';

export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_ICMPV6 = 58;
export const TCP = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export interface EthOptions {
  src?: string;
  dst?: string;
}

export function ethernet(type: number, payload: Buffer, o: EthOptions = {}): Buffer {
  const h = Buffer.alloc(14);
  parseMac(o.dst ?? '02:00:00:00:00:02').copy(h, 0);
  parseMac(o.src ?? '02:00:00:00:00:01').copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

/** The Internet checksum (RFC 1071) of the concatenated buffers. */
export function inetChecksum(...parts: Buffer[]): number {
  const all = Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i + 1 < all.length; i += 2) sum += all.readUInt16BE(i);
  if (all.length % 2) sum += (all[all.length - 1] ?? 0) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

export interface L4 {
  proto: number;
  /** Builds the segment given the pseudo-header bytes (for its checksum). */
  build(pseudo: Buffer): Buffer;
}

export interface TcpOptions {
  sport?: number;
  dport?: number;
  flags?: number;
  seq?: number;
  ack?: number;
  payload?: Buffer;
}

export function tcp(o: TcpOptions = {}): L4 {
  return {
    proto: IPPROTO_TCP,
    build(pseudo) {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(o.sport ?? 40000, 0);
      h.writeUInt16BE(o.dport ?? 80, 2);
      h.writeUInt32BE(o.seq ?? 1, 4);
      h.writeUInt32BE(o.ack ?? 0, 8);
      h.writeUInt8(5 << 4, 12);
      h.writeUInt8(o.flags ?? TCP.SYN, 13);
      h.writeUInt16BE(65535, 14);
      const seg = Buffer.concat([h, o.payload ?? Buffer.alloc(0)]);
      seg.writeUInt16BE(inetChecksum(pseudo, seg), 16);
      return seg;
    },
  };
}

export function udp(o: { sport?: number; dport?: number; payload?: Buffer } = {}): L4 {
  return {
    proto: IPPROTO_UDP,
    build(pseudo) {
      const payload = o.payload ?? Buffer.from('braid');
      const h = Buffer.alloc(8);
      h.writeUInt16BE(o.sport ?? 40000, 0);
      h.writeUInt16BE(o.dport ?? 53, 2);
      h.writeUInt16BE(8 + payload.length, 4);
      const seg = Buffer.concat([h, payload]);
      seg.writeUInt16BE(inetChecksum(pseudo, seg) || 0xffff, 6);
      return seg;
    },
  };
}

/** ICMP (IPv4) or ICMPv6 message; echo request by default. */
export function icmp(
  o: { type?: number; code?: number; id?: number; seq?: number; v6?: boolean; body?: Buffer } = {},
): L4 {
  return {
    proto: o.v6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP,
    build(pseudo) {
      const h = Buffer.alloc(8);
      h.writeUInt8(o.type ?? (o.v6 ? 128 : 8), 0);
      h.writeUInt8(o.code ?? 0, 1);
      h.writeUInt16BE(o.id ?? 1, 4);
      h.writeUInt16BE(o.seq ?? 1, 6);
      const msg = Buffer.concat([h, o.body ?? Buffer.from('ping')]);
      // ICMPv4 has no pseudo-header; ICMPv6 does.
      msg.writeUInt16BE(o.v6 ? inetChecksum(pseudo, msg) : inetChecksum(msg), 2);
      return msg;
    },
  };
}

export interface IpOptions {
  src: string;
  dst: string;
  ttl?: number;
  eth?: EthOptions;
}

export function ipv4Packet(o: IpOptions, l4: L4): Buffer {
  const src = parseIp(o.src).bytes;
  const dst = parseIp(o.dst).bytes;
  const pseudo = Buffer.alloc(12);
  src.copy(pseudo, 0);
  dst.copy(pseudo, 4);
  pseudo.writeUInt8(l4.proto, 9);
  const probe = l4.build(Buffer.concat([pseudo.subarray(0, 10), Buffer.from([0, 0])]));
  pseudo.writeUInt16BE(probe.length, 10);
  const seg = l4.build(pseudo);
  const h = Buffer.alloc(20);
  h.writeUInt8(0x45, 0);
  h.writeUInt16BE(20 + seg.length, 2);
  h.writeUInt16BE(0x1234, 4);
  h.writeUInt16BE(0x4000, 6);
  h.writeUInt8(o.ttl ?? 64, 8);
  h.writeUInt8(l4.proto, 9);
  src.copy(h, 12);
  dst.copy(h, 16);
  h.writeUInt16BE(inetChecksum(h), 10);
  return ethernet(ETH_P_IP, Buffer.concat([h, seg]), o.eth);
}

export function ipv6Packet(o: IpOptions, l4: L4): Buffer {
  const src = parseIp(o.src).bytes;
  const dst = parseIp(o.dst).bytes;
  const pseudo = Buffer.alloc(40);
  src.copy(pseudo, 0);
  dst.copy(pseudo, 16);
  pseudo.writeUInt8(l4.proto, 39);
  const probe = l4.build(pseudo);
  pseudo.writeUInt32BE(probe.length, 32);
  const seg = l4.build(pseudo);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(seg.length, 4);
  h.writeUInt8(l4.proto, 6);
  h.writeUInt8(o.ttl ?? 64, 7);
  src.copy(h, 8);
  dst.copy(h, 24);
  return ethernet(ETH_P_IPV6, Buffer.concat([h, seg]), o.eth);
}

/** IPv4 or IPv6 depending on the source address. */
export function ipPacket(o: IpOptions, l4: L4): Buffer {
  return isIPv4(o.src) ? ipv4Packet(o, l4) : ipv6Packet(o, l4);
}

export function arpPacket(o: {
  op?: 1 | 2;
  senderMac?: string;
  senderIp: string;
  targetMac?: string;
  targetIp: string;
  eth?: EthOptions;
}): Buffer {
  const b = Buffer.alloc(28);
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(ETH_P_IP, 2);
  b.writeUInt8(6, 4);
  b.writeUInt8(4, 5);
  b.writeUInt16BE(o.op ?? 1, 6);
  parseMac(o.senderMac ?? '02:00:00:00:00:01').copy(b, 8);
  parseIp(o.senderIp).bytes.copy(b, 14);
  parseMac(o.targetMac ?? '00:00:00:00:00:00').copy(b, 18);
  parseIp(o.targetIp).bytes.copy(b, 24);
  return ethernet(ETH_P_ARP, b, { dst: 'ff:ff:ff:ff:ff:ff', ...o.eth });
}

/** Fields a test wants to check in a (rewritten) IPv4 or IPv6 frame. */
export function describeFrame(frame: Buffer): {
  dstMac: string;
  srcMac: string;
  type: number;
  ttl?: number;
  ipv4CsumOk?: boolean;
} {
  const mac = (off: number) => [...frame.subarray(off, off + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
  const type = frame.readUInt16BE(12);
  const out: ReturnType<typeof describeFrame> = { dstMac: mac(0), srcMac: mac(6), type };
  if (type === ETH_P_IP) {
    out.ttl = frame.readUInt8(22);
    out.ipv4CsumOk = inetChecksum(frame.subarray(14, 34)) === 0;
  } else if (type === ETH_P_IPV6) {
    out.ttl = frame.readUInt8(21);
  }
  return out;
}
