import { counters, structCodec, type Codec } from '../bpf/codec.ts';
import { bigintToBytes } from './cidr.ts';
import type { FlatEntry } from './flatten.ts';

/**
 * Binary layouts of bpf/mnp.h (keep both in step) and the encoding of compiled entries into
 * inner-map keys. Inner tries are keyed {prefixlen, data}; their values are 128-bit group masks.
 */
export const DIR_IN = 0;
export const DIR_OUT = 1;
export const F_ISOLATED_IN = 0x1;
export const F_ISOLATED_OUT = 0x2;
export const F_ALLOW_DHCP = 0x4;
export const F_ALLOW_MLD = 0x8;

export const MAP_NAMES = {
  iface: 'mnp_iface',
  peer4: 'mnp_peer4',
  peer6: 'mnp_peer6',
  ports: 'mnp_ports',
  ct: 'mnp_ct',
  stats: 'mnp_stats',
  frag: 'mnp_frag',
} as const;
export const PROGRAMS = ['mnp_in', 'mnp_out'] as const;
export type TrieKind = 'peer4' | 'peer6' | 'ports';
export const TRIE_KINDS: readonly TrieKind[] = ['peer4', 'peer6', 'ports'];
export const TRIE_KEY_SIZE: Record<TrieKind, number> = { peer4: 8, peer6: 20, ports: 8 };
export const BITS_SIZE = 16;
/** Inner tries are allocated lazily (BPF_F_NO_PREALLOC); this only caps them. */
export const TRIE_MAX_ENTRIES = 1 << 20;

/** Outer-map key of one interface and direction. */
export function scopeOf(ifaceId: number, dir: number): number {
  return ((ifaceId << 1) | dir) >>> 0;
}

export interface IfaceKey {
  cookie: bigint;
  ifindex: number;
}

export const ifaceKeyCodec: Codec<IfaceKey> = structCodec(
  16,
  (v, b) => {
    b.writeBigUInt64LE(v.cookie, 0);
    b.writeUInt32LE(v.ifindex, 8);
  },
  (b) => ({ cookie: b.readBigUInt64LE(0), ifindex: b.readUInt32LE(8) }),
);

export interface DirCfg {
  anyPeer: bigint;
  anyPort: bigint;
}

export interface IfaceCfg {
  ifaceId: number;
  flags: number;
  gen: number;
  hash: bigint;
  dir: [DirCfg, DirCfg];
}

const MASK64 = (1n << 64n) - 1n;

function writeBits(b: Buffer, off: number, v: bigint): void {
  b.writeBigUInt64LE(v & MASK64, off);
  b.writeBigUInt64LE((v >> 64n) & MASK64, off + 8);
}

function readBits(b: Buffer, off: number): bigint {
  return b.readBigUInt64LE(off) | (b.readBigUInt64LE(off + 8) << 64n);
}

export const ifaceCfgCodec: Codec<IfaceCfg> = structCodec(
  88,
  (v, b) => {
    b.writeUInt32LE(v.ifaceId, 0);
    b.writeUInt32LE(v.flags, 4);
    b.writeUInt32LE(v.gen >>> 0, 8);
    b.writeBigUInt64LE(v.hash, 16);
    v.dir.forEach((d, i) => {
      writeBits(b, 24 + i * 32, d.anyPeer);
      writeBits(b, 40 + i * 32, d.anyPort);
    });
  },
  (b) => ({
    ifaceId: b.readUInt32LE(0),
    flags: b.readUInt32LE(4),
    gen: b.readUInt32LE(8),
    hash: b.readBigUInt64LE(16),
    dir: [0, 1].map((i) => ({ anyPeer: readBits(b, 24 + i * 32), anyPort: readBits(b, 40 + i * 32) })) as [
      DirCfg,
      DirCfg,
    ],
  }),
);

export const bitsCodec: Codec<bigint> = structCodec(
  BITS_SIZE,
  (v, b) => writeBits(b, 0, v),
  (b) => readBits(b, 0),
);

/** Raw bytes, for inner tries whose keys are compared as hex strings when diffing. */
export function rawCodec(size: number): Codec<Buffer> {
  return structCodec(
    size,
    (v, b) => v.copy(b, 0),
    (b) => Buffer.from(b.subarray(0, size)),
  );
}

/** The LPM key of one flattened entry, as bytes. */
export function trieKey(kind: TrieKind, e: FlatEntry): Buffer {
  const b = Buffer.alloc(TRIE_KEY_SIZE[kind]);
  b.writeUInt32LE(e.len, 0);
  if (kind === 'peer4') bigintToBytes(e.addr, 4).copy(b, 4);
  else if (kind === 'peer6') bigintToBytes(e.addr, 16).copy(b, 4);
  else bigintToBytes(e.addr, 3).copy(b, 4); // proto, port high, port low
  return b;
}

export interface CtKey {
  ifaceId: number;
  family: number;
  proto: number;
  podPort: number;
  peerPort: number;
  podAddr: Buffer;
  peerAddr: Buffer;
}

export const ctKeyCodec: Codec<CtKey> = structCodec(
  44,
  (v, b) => {
    b.writeUInt32LE(v.ifaceId, 0);
    b.writeUInt8(v.family, 4);
    b.writeUInt8(v.proto, 5);
    b.writeUInt16BE(v.podPort, 8);
    b.writeUInt16BE(v.peerPort, 10);
    v.podAddr.copy(b, 12);
    v.peerAddr.copy(b, 28);
  },
  (b) => ({
    ifaceId: b.readUInt32LE(0),
    family: b.readUInt8(4),
    proto: b.readUInt8(5),
    podPort: b.readUInt16BE(8),
    peerPort: b.readUInt16BE(10),
    podAddr: Buffer.from(b.subarray(12, 28)),
    peerAddr: Buffer.from(b.subarray(28, 44)),
  }),
);

export const CT_SEEN_REPLY = 0x1;
export const CT_CLOSING = 0x2;
export const CT_REVOKED = 0x4;

export interface CtEntry {
  expires: bigint;
  gen: number;
  origin: number;
  flags: number;
}

export const ctEntryCodec: Codec<CtEntry> = structCodec(
  16,
  (v, b) => {
    b.writeBigUInt64LE(v.expires, 0);
    b.writeUInt32LE(v.gen >>> 0, 8);
    b.writeUInt8(v.origin, 12);
    b.writeUInt8(v.flags, 13);
  },
  (b) => ({ expires: b.readBigUInt64LE(0), gen: b.readUInt32LE(8), origin: b.readUInt8(12), flags: b.readUInt8(13) }),
);

/** The datagram a fragment belongs to (struct mnp_frag_key). */
export interface FragKey {
  ifaceId: number;
  family: number;
  proto: number;
  dir: number;
  /** IPv4's 16-bit id or IPv6's 32-bit fragment id (both kept as on the wire, first bytes first). */
  id: number;
  src: Buffer;
  dst: Buffer;
}

export const fragKeyCodec: Codec<FragKey> = structCodec(
  44,
  (v, b) => {
    b.writeUInt32LE(v.ifaceId, 0);
    b.writeUInt8(v.family, 4);
    b.writeUInt8(v.proto, 5);
    b.writeUInt8(v.dir, 6);
    if (v.family === 4) b.writeUInt16BE(v.id & 0xffff, 8);
    else b.writeUInt32BE(v.id >>> 0, 8);
    v.src.copy(b, 12);
    v.dst.copy(b, 28);
  },
  (b) => ({
    ifaceId: b.readUInt32LE(0),
    family: b.readUInt8(4),
    proto: b.readUInt8(5),
    dir: b.readUInt8(6),
    id: b.readUInt8(4) === 4 ? b.readUInt16BE(8) : b.readUInt32BE(8),
    src: Buffer.from(b.subarray(12, 28)),
    dst: Buffer.from(b.subarray(28, 44)),
  }),
);

/** A first fragment's verdict, for the fragments after it (struct mnp_frag_entry). */
export interface FragEntry {
  expires: bigint;
  sport: number;
  dport: number;
  allowed: boolean;
  /** Index into STAT_NAMES of the reason the first fragment was counted under. */
  reason: number;
}

export const fragEntryCodec: Codec<FragEntry> = structCodec(
  16,
  (v, b) => {
    b.writeBigUInt64LE(v.expires, 0);
    b.writeUInt16BE(v.sport, 8);
    b.writeUInt16BE(v.dport, 10);
    b.writeUInt8(v.allowed ? 1 : 0, 12);
    b.writeUInt8(v.reason, 13);
  },
  (b) => ({
    expires: b.readBigUInt64LE(0),
    sport: b.readUInt16BE(8),
    dport: b.readUInt16BE(10),
    allowed: b.readUInt8(12) !== 0,
    reason: b.readUInt8(13),
  }),
);

export interface StatsKey {
  ifaceId: number;
  dir: number;
}

export const statsKeyCodec: Codec<StatsKey> = structCodec(
  8,
  (v, b) => {
    b.writeUInt32LE(v.ifaceId, 0);
    b.writeUInt32LE(v.dir, 4);
  },
  (b) => ({ ifaceId: b.readUInt32LE(0), dir: b.readUInt32LE(4) }),
);

/** enum mnp_stat, in order. */
export const STAT_NAMES = [
  'allowedPackets',
  'allowedBytes',
  'deniedPackets',
  'deniedBytes',
  'allowUnisolated',
  'allowPolicy',
  'allowEstablished',
  'allowReply',
  'allowRelated',
  'allowInfra',
  'allowDhcp',
  'denyPolicy',
  'denyRevoked',
  'denyFragmentOrder',
  'denyMalformed',
  'ctCreated',
] as const;
export type StatName = (typeof STAT_NAMES)[number];
export type Stats = Record<StatName, bigint>;
export const statsCodec: Codec<Stats> = counters(STAT_NAMES);

export function zeroStats(): Stats {
  return Object.fromEntries(STAT_NAMES.map((n) => [n, 0n])) as Stats;
}
