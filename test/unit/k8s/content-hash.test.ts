import { describe, expect, it } from 'vitest';
import { fnv1a64 } from '../../../src/k8s/content-hash.ts';

/** FNV-1a 64 as the specification writes it, in BigInt: the reference the fast version must equal. */
function reference(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, '0');
}

describe('fnv1a64', () => {
  it('gives the published FNV-1a 64 values', () => {
    expect(fnv1a64('')).toBe('cbf29ce484222325');
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c');
    expect(fnv1a64('foobar')).toBe('85944171f73967e8');
  });

  it('equals the BigInt reference on UTF-8 text of every length up to 2 KB (names of cache files on disk stay the same)', () => {
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let len = 0; len < 2048; len += 13) {
      const text = Array.from({ length: len }, () => String.fromCodePoint(next() % 0x3000)).join('');
      expect(fnv1a64(text), `length ${len}`).toBe(reference(text));
    }
  });
});
