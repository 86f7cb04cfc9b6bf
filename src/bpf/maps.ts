import { SyscallError } from '../net/errno.ts';
import { encodeWith, type Codec } from './codec.ts';
import { errnoFromResult, libbpf } from './libbpf.ts';
import { closeFd, openPinned } from './pins.ts';

export const BPF_ANY = 0n;
export const BPF_NOEXIST = 1n;
export const BPF_EXIST = 2n;
const ENOENT = 2;

export interface MapInfo {
  id: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  name: string;
}

export function mapInfo(fd: number): MapInfo {
  // struct bpf_map_info: type 0, id 4, key_size 8, value_size 12, max_entries 16, name 24..40.
  const info = Buffer.alloc(88);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(info.length);
  const rc = libbpf().bpf_obj_get_info_by_fd(fd, info, len);
  if (rc < 0) throw new SyscallError(`read map info of fd ${fd}`, errnoFromResult(rc));
  const name = info.subarray(24, 40);
  const nul = name.indexOf(0);
  return {
    type: info.readUInt32LE(0),
    id: info.readUInt32LE(4),
    keySize: info.readUInt32LE(8),
    valueSize: info.readUInt32LE(12),
    maxEntries: info.readUInt32LE(16),
    name: name.subarray(0, nul < 0 ? 16 : nul).toString(),
  };
}

const PERCPU_TYPES = new Set([5 /* PERCPU_HASH */, 6 /* PERCPU_ARRAY */, 10 /* LRU_PERCPU_HASH */]);

/**
 * Typed access to one map. For per-CPU maps a value is an array with one entry per possible CPU
 * (use `PerCpuMap`). Keys and values are checked against the kernel's sizes on construction, so
 * a TS layout that drifted from the C struct fails loudly instead of corrupting entries.
 */
export class BpfMap<K, V> {
  readonly info: MapInfo;

  constructor(
    readonly fd: number,
    protected readonly key: Codec<K>,
    protected readonly value: Codec<V>,
    private readonly ownsFd = false,
  ) {
    this.info = mapInfo(fd);
    if (this.info.keySize !== key.size || this.info.valueSize !== value.size) {
      throw new Error(
        `map ${this.info.name}: kernel sizes key=${this.info.keySize} value=${this.info.valueSize}, ` +
          `codec sizes key=${key.size} value=${value.size}`,
      );
    }
  }

  /** Opens a pinned map; the returned map owns (and closes) its fd. */
  static pinned<K, V>(path: string, key: Codec<K>, value: Codec<V>): BpfMap<K, V> {
    const fd = openPinned(path);
    try {
      return new BpfMap(fd, key, value, true);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
  }

  protected get valueBytes(): number {
    return this.value.size;
  }

  protected lookupRaw(k: K): Buffer | undefined {
    const out = Buffer.alloc(this.valueBytes);
    const rc = libbpf().bpf_map_lookup_elem(this.fd, encodeWith(this.key, k), out);
    if (rc === -ENOENT) return undefined;
    if (rc < 0) throw new SyscallError(`lookup in map ${this.info.name}`, errnoFromResult(rc));
    return out;
  }

  protected updateRaw(k: K, v: Buffer, flags: bigint): void {
    const rc = libbpf().bpf_map_update_elem(this.fd, encodeWith(this.key, k), v, flags);
    if (rc < 0) throw new SyscallError(`update map ${this.info.name}`, errnoFromResult(rc));
  }

  lookup(k: K): V | undefined {
    const raw = this.lookupRaw(k);
    return raw && this.value.decode(raw);
  }

  update(k: K, v: V, flags = BPF_ANY): void {
    this.updateRaw(k, encodeWith(this.value, v), flags);
  }

  /** Deletes the entry; false when there was none. */
  delete(k: K): boolean {
    const rc = libbpf().bpf_map_delete_elem(this.fd, encodeWith(this.key, k));
    if (rc === -ENOENT) return false;
    if (rc < 0) throw new SyscallError(`delete from map ${this.info.name}`, errnoFromResult(rc));
    return true;
  }

  /** All keys at the time of the call (a concurrent delete may restart the walk: no duplicates). */
  keys(): K[] {
    const out: K[] = [];
    const seen = new Set<string>();
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.key.size);
      const rc = libbpf().bpf_map_get_next_key(this.fd, prev, next);
      if (rc === -ENOENT) return out;
      if (rc < 0) throw new SyscallError(`iterate map ${this.info.name}`, errnoFromResult(rc));
      const hex = next.toString('hex');
      if (seen.has(hex)) return out;
      seen.add(hex);
      out.push(this.key.decode(next));
      prev = next;
    }
  }

  entries(): [K, V][] {
    const out: [K, V][] = [];
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v !== undefined) out.push([k, v]);
    }
    return out;
  }

  close(): void {
    if (this.ownsFd) closeFd(this.fd);
  }
}

/** A per-CPU hash or array: values are read and written as one entry per possible CPU. */
export class PerCpuMap<K, V> extends BpfMap<K, V> {
  readonly cpus = libbpf().libbpf_num_possible_cpus();
  private readonly stride: number;

  constructor(fd: number, key: Codec<K>, value: Codec<V>, ownsFd = false) {
    super(fd, key, value, ownsFd);
    if (!PERCPU_TYPES.has(this.info.type)) throw new Error(`map ${this.info.name} is not per-CPU`);
    this.stride = (value.size + 7) & ~7;
  }

  static override pinned<K, V>(path: string, key: Codec<K>, value: Codec<V>): PerCpuMap<K, V> {
    const fd = openPinned(path);
    try {
      return new PerCpuMap(fd, key, value, true);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
  }

  protected override get valueBytes(): number {
    return this.stride * this.cpus;
  }

  lookupPerCpu(k: K): V[] | undefined {
    const raw = this.lookupRaw(k);
    if (!raw) return undefined;
    const out: V[] = [];
    for (let c = 0; c < this.cpus; c++) out.push(this.value.decode(raw.subarray(c * this.stride)));
    return out;
  }

  /** Sets every CPU's slot to `v` (use a zero value to create or reset counters). */
  override update(k: K, v: V, flags = BPF_ANY): void {
    const raw = Buffer.alloc(this.valueBytes);
    const one = encodeWith(this.value, v);
    for (let c = 0; c < this.cpus; c++) one.copy(raw, c * this.stride);
    this.updateRaw(k, raw, flags);
  }

  /** The first CPU's value; use lookupPerCpu or a reducer for totals. */
  override lookup(k: K): V | undefined {
    return this.lookupPerCpu(k)?.[0];
  }
}
