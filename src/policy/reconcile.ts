import { createHash } from 'node:crypto';
import type { CompiledDirection, CompiledInterface } from './compile.ts';
import {
  DIR_IN,
  DIR_OUT,
  F_ISOLATED_IN,
  F_ISOLATED_OUT,
  TRIE_KINDS,
  scopeOf,
  trieKey,
  type IfaceCfg,
  type IfaceKey,
  type TrieKind,
} from './layout.ts';
import type { PolicyMaps, Trie } from './maps.ts';
import type { ShadowStore, TrieContents } from './shadow.ts';

/**
 * The reconciler: brings one interface's map entries to what the compiler produced, writing
 * only the entries that differ. New and changed entries are written before stale ones are
 * removed, and the interface's config (with its generation) last, so that connections re-check
 * their verdict only once the tries are complete. A digest of the desired state is kept in the
 * config: an interface whose policies did not change costs one lookup.
 */

export interface DesiredState {
  cfg: IfaceCfg;
  tries: Record<number, Record<TrieKind, TrieContents>>;
}

export interface ApplyStats {
  changed: boolean;
  written: number;
  deleted: number;
}

function contentsOf(d: CompiledDirection): Record<TrieKind, TrieContents> {
  const out = {} as Record<TrieKind, TrieContents>;
  for (const kind of TRIE_KINDS) {
    out[kind] = new Map(d[kind].map((e) => [trieKey(kind, e).toString('hex'), e.bits]));
  }
  return out;
}

export function desiredState(ifaceId: number, compiled: CompiledInterface, options: number): DesiredState {
  const tries: DesiredState['tries'] = {
    [DIR_IN]: contentsOf(compiled.ingress),
    [DIR_OUT]: contentsOf(compiled.egress),
  };
  const flags =
    options | (compiled.ingress.isolated ? F_ISOLATED_IN : 0) | (compiled.egress.isolated ? F_ISOLATED_OUT : 0);
  const dir: IfaceCfg['dir'] = [
    { anyPeer: compiled.ingress.anyPeer, anyPort: compiled.ingress.anyPort },
    { anyPeer: compiled.egress.anyPeer, anyPort: compiled.egress.anyPort },
  ];
  const h = createHash('sha256').update(`${ifaceId};${flags};${dir.map((d) => `${d.anyPeer}/${d.anyPort}`).join(';')}`);
  for (const d of [DIR_IN, DIR_OUT]) {
    for (const kind of TRIE_KINDS) {
      h.update(`|${d}${kind}`);
      for (const [k, v] of [...tries[d]![kind]].sort((a, b) => (a[0] < b[0] ? -1 : 1)))
        h.update(`${k}=${v.toString(16)},`);
    }
  }
  const hash = h.digest().readBigUInt64LE(0);
  return { cfg: { ifaceId, flags, gen: 0, hash, dir }, tries };
}

function readTrie(trie: Trie): TrieContents {
  return new Map(trie.entries().map(([k, v]) => [k.toString('hex'), v]));
}

function syncTrie(
  maps: PolicyMaps,
  kind: TrieKind,
  scope: number,
  want: TrieContents,
  stats: ApplyStats,
  known?: TrieContents,
): void {
  const trie = maps.openTrie(kind, scope);
  if (want.size === 0) {
    if (trie) {
      stats.deleted += trie.keys().length;
      trie.close();
      maps.dropTrie(kind, scope);
    }
    return;
  }
  if (!trie) {
    // Filled before it is published: the program never sees a half-written trie.
    const fresh = maps.createTrie(kind, scope);
    try {
      for (const [k, v] of want) fresh.update(Buffer.from(k, 'hex'), v);
      maps.publishTrie(kind, scope, fresh);
      stats.written += want.size;
    } finally {
      fresh.close();
    }
    return;
  }
  try {
    const have = known ?? readTrie(trie);
    for (const [k, v] of want) {
      if (have.get(k) === v) continue;
      trie.update(Buffer.from(k, 'hex'), v);
      stats.written++;
    }
    for (const k of have.keys()) {
      if (want.has(k)) continue;
      trie.delete(Buffer.from(k, 'hex'));
      stats.deleted++;
    }
  } finally {
    trie.close();
  }
}

/**
 * Makes the maps hold `desired` for the interface at `key`; `force` ignores the digest shortcut.
 * With a shadow store, the previous contents come from it when it matches the kernel's digest.
 */
export function applyState(
  maps: PolicyMaps,
  key: IfaceKey,
  desired: DesiredState,
  force = false,
  shadows?: ShadowStore,
): ApplyStats {
  const stats: ApplyStats = { changed: false, written: 0, deleted: 0 };
  const id = desired.cfg.ifaceId;
  const current = maps.iface.lookup(key);
  const ours = current !== undefined && current.ifaceId === id;
  if (!force && ours && current.hash === desired.cfg.hash) return stats;
  const shadow = ours ? shadows?.read(id) : undefined;
  const known = shadow && shadow.hash === current?.hash ? shadow.tries : undefined;
  shadows?.markDirty(id);
  for (const dir of [DIR_IN, DIR_OUT]) {
    for (const kind of TRIE_KINDS) {
      syncTrie(maps, kind, scopeOf(id, dir), desired.tries[dir]![kind], stats, known?.[dir]?.[kind]);
    }
  }
  maps.iface.update(key, { ...desired.cfg, gen: ours ? (current.gen + 1) >>> 0 : 1 });
  shadows?.save(id, { hash: desired.cfg.hash, tries: desired.tries });
  stats.changed = true;
  return stats;
}

/** Removes every entry of one interface; fine when some or all are already gone. */
export function removeInterfaceState(maps: PolicyMaps, key: IfaceKey | undefined, ifaceId: number): void {
  if (key) {
    const current = maps.iface.lookup(key);
    if (current && current.ifaceId === ifaceId) maps.iface.delete(key);
  }
  for (const dir of [DIR_IN, DIR_OUT]) {
    for (const kind of TRIE_KINDS) maps.dropTrie(kind, scopeOf(ifaceId, dir));
    maps.stats.delete({ ifaceId, dir });
  }
}
