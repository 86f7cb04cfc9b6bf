import { describe, expect, it } from 'vitest';
import { rangeToPrefixes } from '../../../src/policy/cidr.ts';
import { flatten, lookupFlat, type Member } from '../../../src/policy/flatten.ts';

const W = 8; // a small address space so that every address can be checked

function randomPrefix(rand: () => number, minLen = 0): { addr: bigint; len: number } {
  const len = minLen + Math.floor(rand() * (W + 1 - minLen));
  const addr = (BigInt(Math.floor(rand() * 256)) >> BigInt(W - len)) << BigInt(W - len);
  return { addr, len };
}

function contains(p: { addr: bigint; len: number }, a: bigint): boolean {
  const s = BigInt(W - p.len);
  return a >> s === p.addr >> s;
}

/** The meaning of the members, address by address. */
function bruteForce(members: Member[], a: bigint): bigint {
  let bits = 0n;
  for (const m of members) {
    if (contains(m.include, a) && !m.exclude.some((e) => contains(e, a))) bits |= 1n << BigInt(m.bit);
  }
  return bits;
}

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

describe('flatten', () => {
  it('gives every address exactly the bits of the members that contain it (random sets)', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rand = lcg(seed);
      const members: Member[] = Array.from({ length: 1 + Math.floor(rand() * 8) }, () => {
        const include = randomPrefix(rand);
        const exclude = Array.from({ length: Math.floor(rand() * 3) }, () => randomPrefix(rand, include.len + 1))
          .filter((e) => e.len > include.len)
          .map((e) => ({ addr: (e.addr & ((1n << BigInt(W - include.len)) - 1n)) | include.addr, len: e.len }))
          .map((e) => ({ addr: (e.addr >> BigInt(W - e.len)) << BigInt(W - e.len), len: e.len }));
        return { bit: Math.floor(rand() * 5), include, exclude };
      });
      const entries = flatten(members, W);
      for (let a = 0n; a < 256n; a++) {
        expect(lookupFlat(entries, a, W), `seed ${seed} address ${a}`).toBe(bruteForce(members, a));
      }
    }
  });

  it('leaves out entries that repeat their parent and top-level entries without bits', () => {
    const entries = flatten(
      [
        { bit: 0, include: { addr: 0n, len: 1 }, exclude: [] },
        { bit: 0, include: { addr: 0n, len: 4 }, exclude: [] },
      ],
      W,
    );
    expect(entries).toEqual([{ addr: 0n, len: 1, bits: 1n }]);
  });
});

describe('rangeToPrefixes', () => {
  it('covers a range exactly with aligned blocks', () => {
    for (const [start, end] of [
      [0, 65535],
      [1, 65534],
      [80, 80],
      [1000, 1999],
      [32768, 40000],
    ] as const) {
      const prefixes = rangeToPrefixes(start, end, 16);
      expect(prefixes.length).toBeLessThanOrEqual(30);
      const covered = prefixes.flatMap((p) => Array.from({ length: 2 ** (16 - p.len) }, (_, i) => p.value + i));
      expect(covered.sort((a, b) => a - b)).toEqual(Array.from({ length: end - start + 1 }, (_, i) => start + i));
    }
    expect(rangeToPrefixes(0, 65535, 16)).toEqual([{ value: 0, len: 0 }]);
  });
});
