import { join } from 'node:path';
import { u32 } from '../bpf/codec.ts';
import { BPF_F_NO_PREALLOC, BPF_MAP_TYPE_LPM_TRIE, createMap, mapFdById } from '../bpf/map-create.ts';
import { BpfMap, PerCpuMap } from '../bpf/maps.ts';
import { closeFd } from '../bpf/pins.ts';
import { isErrno } from '../net/errno.ts';
import { mapDir } from './datapath.ts';
import {
  BITS_SIZE,
  MAP_NAMES,
  TRIE_KEY_SIZE,
  TRIE_MAX_ENTRIES,
  bitsCodec,
  ctEntryCodec,
  ctKeyCodec,
  fragEntryCodec,
  fragKeyCodec,
  ifaceCfgCodec,
  ifaceKeyCodec,
  rawCodec,
  statsCodec,
  statsKeyCodec,
  type CtEntry,
  type CtKey,
  type FragEntry,
  type FragKey,
  type IfaceCfg,
  type IfaceKey,
  type Stats,
  type StatsKey,
  type TrieKind,
} from './layout.ts';

export type Trie = BpfMap<Buffer, bigint>;

function openOptional<T>(path: string, open: (path: string) => T): T | undefined {
  try {
    return open(path);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}

/**
 * The pinned policy maps, opened from bpffs. Per interface and direction there is one inner LPM
 * trie per kind (IPv4 peers, IPv6 peers, ports), reached through an outer hash-of-maps: dropping
 * an interface is one outer delete, and diffs read only that interface's own entries.
 */
export class PolicyMaps {
  private constructor(
    readonly iface: BpfMap<IfaceKey, IfaceCfg>,
    readonly outer: Record<TrieKind, BpfMap<number, number>>,
    readonly ct: BpfMap<CtKey, CtEntry>,
    readonly stats: PerCpuMap<StatsKey, Stats>,
    /** Undefined while only a build from before fragment tracking has been loaded. */
    readonly frag: BpfMap<FragKey, FragEntry> | undefined,
  ) {}

  /** Throws SyscallError ENOENT when the datapath was never loaded under bpfRoot. */
  static open(bpfRoot: string): PolicyMaps {
    const dir = mapDir(bpfRoot);
    const opened: { close(): void }[] = [];
    const track = <T extends { close(): void }>(m: T): T => (opened.push(m), m);
    try {
      return new PolicyMaps(
        track(BpfMap.pinned(join(dir, MAP_NAMES.iface), ifaceKeyCodec, ifaceCfgCodec)),
        {
          peer4: track(BpfMap.pinned(join(dir, MAP_NAMES.peer4), u32, u32)),
          peer6: track(BpfMap.pinned(join(dir, MAP_NAMES.peer6), u32, u32)),
          ports: track(BpfMap.pinned(join(dir, MAP_NAMES.ports), u32, u32)),
        },
        track(BpfMap.pinned(join(dir, MAP_NAMES.ct), ctKeyCodec, ctEntryCodec)),
        track(PerCpuMap.pinned(join(dir, MAP_NAMES.stats), statsKeyCodec, statsCodec)),
        openOptional(join(dir, MAP_NAMES.frag), (path) => track(BpfMap.pinned(path, fragKeyCodec, fragEntryCodec))),
      );
    } catch (e) {
      for (const m of opened) m.close();
      throw e;
    }
  }

  /** The inner trie of one scope, or undefined when it has none (the caller closes it). */
  openTrie(kind: TrieKind, scope: number): Trie | undefined {
    const id = this.outer[kind].lookup(scope);
    if (id === undefined) return undefined;
    const fd = mapFdById(id);
    try {
      return new BpfMap(fd, rawCodec(TRIE_KEY_SIZE[kind]), bitsCodec, true);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
  }

  /** A new, empty, unpublished trie; publish it with publishTrie once filled. */
  createTrie(kind: TrieKind, scope: number): Trie {
    const fd = createMap({
      type: BPF_MAP_TYPE_LPM_TRIE,
      name: `mnp_${kind}_${scope}`,
      keySize: TRIE_KEY_SIZE[kind],
      valueSize: BITS_SIZE,
      maxEntries: TRIE_MAX_ENTRIES,
      flags: BPF_F_NO_PREALLOC,
    });
    try {
      return new BpfMap(fd, rawCodec(TRIE_KEY_SIZE[kind]), bitsCodec, true);
    } catch (e) {
      closeFd(fd);
      throw e;
    }
  }

  publishTrie(kind: TrieKind, scope: number, trie: Trie): void {
    this.outer[kind].update(scope, trie.fd);
  }

  /** Drops the scope's trie (the kernel frees it once no program uses it). */
  dropTrie(kind: TrieKind, scope: number): boolean {
    return this.outer[kind].delete(scope);
  }

  close(): void {
    this.iface.close();
    for (const m of Object.values(this.outer)) m.close();
    this.ct.close();
    this.stats.close();
    this.frag?.close();
  }
}
