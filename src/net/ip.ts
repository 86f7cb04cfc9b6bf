import { isIPv4, isIPv6 } from 'node:net';

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  /** 4 or 16 bytes, network order. */
  bytes: Buffer;
}

export interface IpPrefix extends IpAddress {
  prefixLen: number;
}

export const AF_INET = 2;
export const AF_INET6 = 10;

export function afOf(family: IpFamily): number {
  return family === 4 ? AF_INET : AF_INET6;
}

export function familyOfAf(af: number): IpFamily | undefined {
  return af === AF_INET ? 4 : af === AF_INET6 ? 6 : undefined;
}

function parseV4(text: string): Buffer {
  return Buffer.from(text.split('.').map((p) => Number.parseInt(p, 10)));
}

function parseV6(text: string): Buffer {
  let head = text;
  let tailV4: Buffer | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    tailV4 = parseV4(text.slice(lastColon + 1));
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [left = '', right] = head.split('::');
  const words = (s: string) => (s ? s.split(':').map((w) => Number.parseInt(w, 16)) : []);
  const l = words(left);
  const r = right === undefined ? [] : words(right);
  const all = [...l, ...new Array<number>(8 - l.length - r.length).fill(0), ...r];
  const out = Buffer.alloc(16);
  all.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  if (tailV4) tailV4.copy(out, 12);
  return out;
}

/** Parses "10.1.2.3" or "fd00::5" (a zone suffix such as %eth0 is ignored). */
export function parseIp(text: string): IpAddress {
  const bare = text.split('%')[0] ?? text;
  if (isIPv4(bare)) return { family: 4, bytes: parseV4(bare) };
  if (isIPv6(bare)) return { family: 6, bytes: parseV6(bare) };
  throw new Error(`not an IP address: "${text}"`);
}

/** Parses "10.1.2.3/24"; a bare address gets the full-length prefix. */
export function parsePrefix(text: string): IpPrefix {
  const [addr = '', len] = text.split('/');
  const ip = parseIp(addr);
  const max = ip.family === 4 ? 32 : 128;
  const prefixLen = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max) {
    throw new Error(`bad prefix length in "${text}"`);
  }
  return { ...ip, prefixLen };
}

/** Canonical text form (RFC 5952 for IPv6: lower case, longest zero run shortened). */
export function formatIp(bytes: Buffer): string {
  if (bytes.length === 4) return [...bytes].join('.');
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(bytes.readUInt16BE(i));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) [bestStart, bestLen] = [i, j - i];
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export function sameIp(a: string, b: string): boolean {
  return parseIp(a).bytes.equals(parseIp(b).bytes);
}

export function formatMac(bytes: Buffer): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(text: string): Buffer {
  const parts = text.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{2}$/.test(p))) {
    throw new Error(`not a MAC address: "${text}"`);
  }
  return Buffer.from(parts.map((p) => Number.parseInt(p, 16)));
}
