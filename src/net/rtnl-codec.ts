/**
 * Encoding and decoding of netlink messages and route-netlink attributes (rtattr/nlattr):
 * a 4-byte header {len u16, type u16} followed by the payload, each padded to 4 bytes.
 * Only what braid uses; host byte order is little-endian (x86_64, arm64).
 */

export const NLMSG_HDRLEN = 16;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;

export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
export const NLM_F_DUMP = 0x300;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
/** Error message flag: extended-ack attributes follow the embedded request. */
export const NLM_F_ACK_TLVS = 0x200;
export const NLMSGERR_ATTR_MSG = 1;

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
  NEWNEIGH: 28,
  DELNEIGH: 29,
  GETNEIGH: 30,
} as const;

const NLA_TYPE_MASK = 0x3fff;

const align4 = (n: number) => (n + 3) & ~3;

export function attr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

export function attrU8(type: number, v: number): Buffer {
  return attr(type, Buffer.from([v & 0xff]));
}

export function attrU32(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return attr(type, b);
}

export function attrString(type: number, s: string): Buffer {
  return attr(type, Buffer.concat([Buffer.from(s, 'utf8'), Buffer.alloc(1)]));
}

export function attrNested(type: number, children: Buffer[]): Buffer {
  return attr(type, Buffer.concat(children));
}

/** Attributes by type; for repeated types the last one wins (braid needs none of those). */
export type Attrs = Map<number, Buffer>;

export function parseAttrs(buf: Buffer, offset = 0, end = buf.length): Attrs {
  const out: Attrs = new Map();
  let pos = offset;
  while (pos + 4 <= end) {
    const len = buf.readUInt16LE(pos);
    if (len < 4 || pos + len > end) break;
    out.set(buf.readUInt16LE(pos + 2) & NLA_TYPE_MASK, buf.subarray(pos + 4, pos + len));
    pos += align4(len);
  }
  return out;
}

export function attrStringValue(a: Buffer | undefined): string | undefined {
  if (!a) return undefined;
  const nul = a.indexOf(0);
  return a.subarray(0, nul < 0 ? a.length : nul).toString('utf8');
}

export function attrU32Value(a: Buffer | undefined): number | undefined {
  return a && a.length >= 4 ? a.readUInt32LE(0) : undefined;
}

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  /** Everything after the 16-byte nlmsghdr. */
  payload: Buffer;
}

export function encodeMessage(type: number, flags: number, seq: number, body: Buffer[]): Buffer {
  const payload = Buffer.concat(body);
  const hdr = Buffer.alloc(NLMSG_HDRLEN);
  hdr.writeUInt32LE(NLMSG_HDRLEN + payload.length, 0);
  hdr.writeUInt16LE(type, 4);
  hdr.writeUInt16LE(flags, 6);
  hdr.writeUInt32LE(seq, 8);
  return Buffer.concat([hdr, payload]);
}

/** Splits one datagram into its messages. */
export function decodeMessages(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let pos = 0;
  while (pos + NLMSG_HDRLEN <= buf.length) {
    const len = buf.readUInt32LE(pos);
    if (len < NLMSG_HDRLEN || pos + len > buf.length) break;
    out.push({
      type: buf.readUInt16LE(pos + 4),
      flags: buf.readUInt16LE(pos + 6),
      seq: buf.readUInt32LE(pos + 8),
      payload: buf.subarray(pos + NLMSG_HDRLEN, pos + len),
    });
    pos += align4(len);
  }
  return out;
}

/** An NLMSG_ERROR payload: negative errno (0 = ACK) and the kernel's extended-ack text, if any. */
export function decodeError(msg: NetlinkMessage): { errno: number; text?: string } {
  const errno = msg.payload.readInt32LE(0);
  if (!(msg.flags & NLM_F_ACK_TLVS)) return { errno };
  // The echoed request is only its header when the socket has NETLINK_CAP_ACK set.
  const echoedLen = msg.payload.readUInt32LE(4);
  const capped = msg.flags & 0x100; /* NLM_F_CAPPED */
  const tlvStart = 4 + (capped ? NLMSG_HDRLEN : align4(echoedLen));
  const text = attrStringValue(parseAttrs(msg.payload, tlvStart).get(NLMSGERR_ATTR_MSG));
  return text ? { errno, text } : { errno };
}
