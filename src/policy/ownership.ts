import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { detachTcxPinned, pinnedLinkInfo } from '../bpf/tcx.ts';
import { DIR_IN, DIR_OUT, TRIE_KINDS, scopeOf } from './layout.ts';
import { listSlots, pinsOfSlot, releaseSlotDir, slotState } from './link-slots.ts';
import type { PolicyMaps } from './maps.ts';
import type { IfaceRecord } from './registry.ts';

/**
 * Who may remove what. bpffs is shared by every braid conf on the node, so a registry record is
 * not proof of ownership: a record's pins and map entries are removed only while its slot still
 * holds its own links (same kernel link ids), or nobody holds the slot at all. A rollback, a DEL
 * and GC therefore never take away another pod's programs.
 */
export function holdsSlot(rec: IfaceRecord): boolean {
  if (!rec.linkIds) {
    // Written before ids were recorded (or before its links were pinned): its own paths decide.
    return [rec.links.in, rec.links.out].every((pin) => {
      const info = pinnedLinkInfo(pin);
      return info === undefined || info.ifindex === 0 || !isSlotPath(pin);
    });
  }
  let present = 0;
  for (const [pin, id] of [
    [rec.links.in, rec.linkIds.in],
    [rec.links.out, rec.linkIds.out],
  ] as const) {
    const info = pinnedLinkInfo(pin);
    if (!info) continue;
    if (info.id !== id) return false;
    present++;
  }
  // No pins left: the slot is ours to drop unless someone reserved it again meanwhile.
  return present > 0 || !isSlotPath(rec.links.in) || !existsSync(dirname(rec.links.in));
}

function isSlotPath(pin: string): boolean {
  return /\/links\/\d+\/(in|out)$/.test(pin);
}

/** Drops every map entry of these ids: tries, counters, tracked connections, interface configs. */
export function dropIdState(maps: PolicyMaps, ids: ReadonlySet<number>): void {
  if (ids.size === 0) return;
  for (const id of ids) {
    for (const dir of [DIR_IN, DIR_OUT]) {
      for (const kind of TRIE_KINDS) maps.dropTrie(kind, scopeOf(id, dir));
      maps.stats.delete({ ifaceId: id, dir });
    }
  }
  for (const k of maps.ct.keys()) if (ids.has(k.ifaceId)) maps.ct.delete(k);
  for (const [k, v] of maps.iface.entries()) if (ids.has(v.ifaceId)) maps.iface.delete(k);
}

/** Takes back a stale slot: unpins its dead links, removes its directory, drops its map entries. */
export function reclaimSlot(bpfRoot: string, maps: PolicyMaps | undefined, id: number): void {
  for (const pin of pinsOfSlot(bpfRoot, id)) detachTcxPinned(pin);
  releaseSlotDir(bpfRoot, id);
  if (maps) dropIdState(maps, new Set([id]));
}

/**
 * GC from bpffs itself (a wiped cache directory does not hide anything): every slot whose links
 * lost their devices, and every reservation never attached to, is reclaimed. Returns the ids.
 */
export function collectDeadSlots(bpfRoot: string, maps: PolicyMaps | undefined): number[] {
  const dead: number[] = [];
  for (const id of listSlots(bpfRoot)) {
    if (slotState(bpfRoot, id) !== 'stale') continue;
    reclaimSlot(bpfRoot, maps, id);
    dead.push(id);
  }
  return dead;
}
