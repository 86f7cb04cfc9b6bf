/**
 * Fixed-size binary codecs for map keys and values. A struct codec lays fields out exactly like
 * the C struct (the caller gives offsets); host byte order is little-endian, addresses and ports
 * inside packets stay in network order as raw bytes.
 */
export interface Codec<T> {
  readonly size: number;
  encode(value: T, into: Buffer): void;
  decode(from: Buffer): T;
}

export const u32: Codec<number> = {
  size: 4,
  encode: (v, b) => void b.writeUInt32LE(v >>> 0, 0),
  decode: (b) => b.readUInt32LE(0),
};

export const u64: Codec<bigint> = {
  size: 8,
  encode: (v, b) => void b.writeBigUInt64LE(v, 0),
  decode: (b) => b.readBigUInt64LE(0),
};

export function bytes(size: number): Codec<Buffer> {
  return {
    size,
    encode: (v, b) => {
      if (v.length !== size) throw new Error(`expected ${size} bytes, got ${v.length}`);
      v.copy(b, 0);
    },
    decode: (b) => Buffer.from(b.subarray(0, size)),
  };
}

/** A codec from explicit encode/decode functions over a zero-filled buffer of `size` bytes. */
export function structCodec<T>(size: number, encode: (v: T, b: Buffer) => void, decode: (b: Buffer) => T): Codec<T> {
  return { size, encode, decode };
}

/** A struct made only of u64 counters, in declaration order (per-CPU statistics values). */
export function counters<K extends string>(names: readonly K[]): Codec<Record<K, bigint>> {
  return {
    size: names.length * 8,
    encode: (v, b) => names.forEach((n, i) => b.writeBigUInt64LE(v[n], i * 8)),
    decode: (b) => Object.fromEntries(names.map((n, i) => [n, b.readBigUInt64LE(i * 8)])) as Record<K, bigint>,
  };
}

export function encodeWith<T>(codec: Codec<T>, value: T): Buffer {
  const b = Buffer.alloc(codec.size);
  codec.encode(value, b);
  return b;
}
