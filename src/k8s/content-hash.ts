/**
 * FNV-1a over 64 bits: a cheap content fingerprint for cache keys and lock names, where loading
 * node:crypto (about 10 ms of a plugin's start-up on this kind of machine) is not worth it.
 * Not for anything that must resist a deliberate collision.
 *
 * The 64-bit state is four 16-bit limbs in plain numbers: BigInt arithmetic per byte cost a
 * thin-mode call about 0.1 ms per KB of manifest even once compiled. The prime is 2^40 + 0x1b3,
 * so a multiplication is the state times 0x1b3 plus the state shifted left by 40 bits; every
 * intermediate stays below 2^53.
 */
export function fnv1a64(text: string): string {
  let h0 = 0x2325;
  let h1 = 0x8422;
  let h2 = 0x9ce4;
  let h3 = 0xcbf2;
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i++) {
    h0 ^= bytes[i]!;
    const t0 = h0 * 0x1b3;
    const t1 = h1 * 0x1b3 + (t0 >>> 16);
    const t2 = h2 * 0x1b3 + (t1 >>> 16) + ((h0 << 8) & 0xffff);
    const t3 = h3 * 0x1b3 + (t2 >>> 16) + (((h0 >>> 8) | (h1 << 8)) & 0xffff);
    h0 = t0 & 0xffff;
    h1 = t1 & 0xffff;
    h2 = t2 & 0xffff;
    h3 = t3 & 0xffff;
  }
  return [h3, h2, h1, h0].map((limb) => limb.toString(16).padStart(4, '0')).join('');
}
