/**
 * Frames the shared packet builder does not make, built on top of it: IPv6 extension headers,
 * fragments, VLAN tags, SCTP, ICMP errors that quote a packet.
 */
import {
  ETH_P_IPV6,
  IPPROTO_ICMPV6,
  TCP,
  icmp,
  inetChecksum,
  ipPacket,
  tcp,
  udp,
  type IpOptions,
  type L4,
} from '../helpers/packets.ts';

export const IPPROTO_SCTP = 132;

export function sctp(o: { sport?: number; dport?: number } = {}): L4 {
  return {
    proto: IPPROTO_SCTP,
    build() {
      const h = Buffer.alloc(12);
      h.writeUInt16BE(o.sport ?? 40000, 0);
      h.writeUInt16BE(o.dport ?? 9000, 2);
      return h;
    },
  };
}

/** An ICMP (v4) or ICMPv6 error about `quoted` (a frame; its IP header and 8 bytes of L4 are quoted). */
export function icmpError(quoted: Buffer, v6: boolean, type?: number, code = 3): L4 {
  const ip = quoted.subarray(14);
  const headerLen = v6 ? 40 : (ip[0]! & 0x0f) * 4;
  const body = Buffer.from(ip.subarray(0, headerLen + 8));
  return icmp({ v6, type: type ?? (v6 ? 1 : 3), code, id: 0, seq: 0, body });
}

/** Inserts IPv6 extension headers (hop-by-hop 0, routing 43, destination options 60) before the L4 header. */
export function withIpv6Extensions(frame: Buffer, types: number[]): Buffer {
  const ip = frame.subarray(14, 54);
  let next = ip[6]!;
  const exts: Buffer[] = [];
  for (const t of [...types].reverse()) {
    const ext = Buffer.alloc(8);
    ext[0] = next;
    ext[1] = 0; // 8 bytes
    if (t === 43)
      ext[2] = 0; // routing type 0, segments left 0
    else ext.writeUInt16BE(0x0104, 2); // PadN of 4 bytes
    exts.unshift(ext);
    next = t;
  }
  const header = Buffer.from(ip);
  header[6] = next;
  header.writeUInt16BE(header.readUInt16BE(4) + exts.length * 8, 4);
  return Buffer.concat([frame.subarray(0, 14), header, ...exts, frame.subarray(54)]);
}

export interface FragmentOptions {
  /** IPv4: 16 bits; IPv6: 32 bits. */
  id: number;
  /** Byte offset of this fragment's data in the datagram (a multiple of 8). */
  offset: number;
  /** More fragments follow (MF / M flag). */
  more: boolean;
  /** The fragment's data; default: the frame's own L4 bytes (header included). */
  data?: Buffer;
}

/**
 * One fragment of the datagram in `frame` (an option-less IPv4 header, or IPv6 without extension
 * headers): IPv4 with id and offset in its header, IPv6 with a fragment header.
 */
export function fragmentOf(frame: Buffer, o: FragmentOptions): Buffer {
  const v6 = frame.readUInt16BE(12) === ETH_P_IPV6;
  const headerLen = v6 ? 40 : 20;
  const data = o.data ?? frame.subarray(14 + headerLen);
  const ip = Buffer.from(frame.subarray(14, 14 + headerLen));
  if (v6) {
    const frag = Buffer.alloc(8);
    frag[0] = ip[6]!;
    frag.writeUInt16BE(o.offset | (o.more ? 1 : 0), 2);
    frag.writeUInt32BE(o.id >>> 0, 4);
    ip[6] = 44;
    ip.writeUInt16BE(8 + data.length, 4);
    return Buffer.concat([frame.subarray(0, 14), ip, frag, data]);
  }
  ip.writeUInt16BE(20 + data.length, 2);
  ip.writeUInt16BE(o.id & 0xffff, 4);
  ip.writeUInt16BE((o.more ? 0x2000 : 0) | (o.offset >> 3), 6);
  ip.writeUInt16BE(0, 10);
  ip.writeUInt16BE(inetChecksum(ip), 10);
  return Buffer.concat([frame.subarray(0, 14), ip, data]);
}

/** The first fragment of `frame`'s datagram: its L4 header, more to come. */
export function firstFragment(frame: Buffer, id: number): Buffer {
  return fragmentOf(frame, { id, offset: 0, more: true });
}

/** A later fragment of `frame`'s datagram (offset 1480); its data repeats the L4 header, as a decoy. */
export function laterFragment(frame: Buffer, id = 0x1234, more = false): Buffer {
  return fragmentOf(frame, { id, offset: 1480, more });
}

export function vlanTagged(frame: Buffer, vid = 10): Buffer {
  const tag = Buffer.alloc(4);
  tag.writeUInt16BE(0x8100, 0);
  tag.writeUInt16BE(vid, 2);
  return Buffer.concat([frame.subarray(0, 12), tag, frame.subarray(12)]);
}

/** ICMPv6 neighbor solicitation / advertisement / router solicitation / MLD report. */
export function icmpv6(o: IpOptions, type: number): Buffer {
  return ipPacket(o, icmp({ v6: true, type, id: 0, seq: 0, body: Buffer.alloc(16) }));
}

export { IPPROTO_ICMPV6 };

export type L4Name = 'tcp' | 'udp' | 'sctp' | 'icmp';

export interface FlowPacket {
  src: string;
  dst: string;
  proto?: L4Name;
  sport?: number;
  dport?: number;
  /** TCP flags; SYN by default. */
  flags?: number;
  /** ICMP: echo request (default) or reply. */
  echoReply?: boolean;
}

/** One frame of a flow; ICMP uses sport as the echo identifier. */
export function flowPacket(f: FlowPacket): Buffer {
  const v6 = f.src.includes(':');
  const l4 =
    f.proto === 'udp'
      ? udp({ sport: f.sport, dport: f.dport })
      : f.proto === 'sctp'
        ? sctp({ sport: f.sport, dport: f.dport })
        : f.proto === 'icmp'
          ? icmp({ v6, type: f.echoReply ? (v6 ? 129 : 0) : v6 ? 128 : 8, id: f.sport ?? 1 })
          : tcp({ sport: f.sport, dport: f.dport, flags: f.flags ?? TCP.SYN });
  return ipPacket({ src: f.src, dst: f.dst }, l4);
}

/** The answer to `f` (addresses and ports swapped); TCP answers SYN with SYN-ACK unless flags are given. */
export function replyTo(f: FlowPacket, flags?: number): FlowPacket {
  return {
    ...f,
    src: f.dst,
    dst: f.src,
    sport: f.proto === 'icmp' ? f.sport : f.dport,
    dport: f.proto === 'icmp' ? f.dport : f.sport,
    flags: flags ?? TCP.SYN | TCP.ACK,
    echoReply: f.proto === 'icmp' ? true : undefined,
  };
}
