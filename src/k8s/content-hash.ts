/**
 * FNV-1a over 64 bits: a cheap content fingerprint for cache keys and lock names, where loading
 * node:crypto (about 10 ms of a plugin's start-up on this kind of machine) is not worth it.
 * Not for anything that must resist a deliberate collision.
 */
export function fnv1a64(text: string): string {
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text)) {
    hash ^= BigInt(byte);
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return hash.toString(16).padStart(16, '0');
}
