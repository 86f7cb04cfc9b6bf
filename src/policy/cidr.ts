import { formatIp, parseIp, parsePrefix } from '../net/ip.ts';

/** An IP prefix as a number: `addr` holds the full-width address with the host bits cleared. */
export interface Prefix {
  family: 4 | 6;
  addr: bigint;
  len: number;
}

export function familyWidth(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

function bytesToBigint(bytes: Buffer): bigint {
  return BigInt(`0x${bytes.toString('hex') || '0'}`);
}

export function bigintToBytes(value: bigint, size: number): Buffer {
  return Buffer.from(value.toString(16).padStart(size * 2, '0'), 'hex');
}

/** Clears the bits below the prefix length. */
export function maskTo(addr: bigint, len: number, width: number): bigint {
  const host = BigInt(width - len);
  return (addr >> host) << host;
}

/** "10.1.0.0/16", "fd00::/64"; host bits are cleared ("10.1.2.3/16" is 10.1.0.0/16). */
export function parseCidr(text: string): Prefix {
  if (!text.includes('/')) throw new Error(`"${text}" is not a CIDR (address/length)`);
  const p = parsePrefix(text.trim());
  const width = familyWidth(p.family);
  return { family: p.family, addr: maskTo(bytesToBigint(p.bytes), p.prefixLen, width), len: p.prefixLen };
}

/** The /32 or /128 of one address. */
export function hostPrefix(ip: string): Prefix {
  const a = parseIp(ip);
  return { family: a.family, addr: bytesToBigint(a.bytes), len: familyWidth(a.family) };
}

/** True when `outer` contains `inner` (equal prefixes contain each other). */
export function containsPrefix(outer: Prefix, inner: Prefix): boolean {
  if (outer.family !== inner.family || inner.len < outer.len) return false;
  return maskTo(inner.addr, outer.len, familyWidth(outer.family)) === outer.addr;
}

export function formatPrefix(p: Prefix): string {
  return `${formatIp(bigintToBytes(p.addr, p.family === 4 ? 4 : 16))}/${p.len}`;
}

/**
 * The smallest list of aligned prefixes of a `width`-bit space that covers exactly [start, end]
 * (at most 2 * width - 2 of them): a port range as LPM entries.
 */
export function rangeToPrefixes(start: number, end: number, width: number): { value: number; len: number }[] {
  const out: { value: number; len: number }[] = [];
  let cur = start;
  while (cur <= end) {
    // The largest block that starts at `cur` (alignment) and does not pass `end`.
    let size = 1;
    while (size * 2 <= 2 ** width && cur % (size * 2) === 0 && cur + size * 2 - 1 <= end) size *= 2;
    out.push({ value: cur, len: width - Math.log2(size) });
    cur += size;
  }
  return out;
}
