import { mkdirSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CniCode, CniError } from '../base/errors.ts';
import { pinnedLinkInfo } from '../bpf/tcx.ts';
import { ensurePinDir } from '../bpf/pins.ts';
import { mapDir } from './datapath.ts';

/**
 * Interface ids are owned in bpffs, not in a cache directory that may be wiped: id N is held by
 * the directory <bpfRoot>/mnp/links/N/, made with mkdir (atomic across processes and across braid
 * confs with different cniDirs sharing one pin root); its tcx links are pinned inside it as `in`
 * and `out`. Older builds pinned <links>/N-in and N-out directly; those still count as holding N.
 *
 * A slot is live while one of its links still has a device (a tcx link's ifindex drops to 0 when
 * its device goes). A slot nobody attached to within PENDING_MS of its mkdir (a crash between
 * mkdir and pin) and a slot whose links are all dead are stale: they are taken back.
 */
export const PENDING_MS = 60_000;
/** How far an allocation searches for a free id before it gives up. */
const MAX_PROBES = 4096;
const MAX_ID = 2 ** 31 - 1;

export function linksDir(bpfRoot: string): string {
  return join(mapDir(bpfRoot), 'links');
}

export function slotDir(bpfRoot: string, id: number): string {
  return join(linksDir(bpfRoot), String(id));
}

export function slotPins(bpfRoot: string, id: number): { in: string; out: string } {
  return { in: join(slotDir(bpfRoot, id), 'in'), out: join(slotDir(bpfRoot, id), 'out') };
}

function legacyPins(bpfRoot: string, id: number): string[] {
  return [join(linksDir(bpfRoot), `${id}-in`), join(linksDir(bpfRoot), `${id}-out`)];
}

export type SlotState = 'free' | 'live' | 'pending' | 'stale';

/** The link pins that hold id `id` (new layout and legacy), whether they exist or not. */
export function pinsOfSlot(bpfRoot: string, id: number): string[] {
  const p = slotPins(bpfRoot, id);
  return [p.in, p.out, ...legacyPins(bpfRoot, id)];
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

export function slotState(bpfRoot: string, id: number, now = Date.now()): SlotState {
  const dir = slotDir(bpfRoot, id);
  const dirExists = exists(dir);
  let anyPin = false;
  for (const pin of pinsOfSlot(bpfRoot, id)) {
    const info = pinnedLinkInfo(pin);
    if (!info) continue;
    anyPin = true;
    if (info.ifindex !== 0) return 'live';
  }
  if (anyPin) return 'stale';
  if (!dirExists) return 'free';
  let age = Infinity;
  try {
    age = now - statSync(dir).mtimeMs;
  } catch {
    return 'free';
  }
  return age < PENDING_MS ? 'pending' : 'stale';
}

/**
 * Reserves a free id, starting at `hint` (the registry's counter; ids are not reused while
 * anything holds them). A stale slot met on the way is handed to `reclaim` (which must unpin its
 * links and drop its map entries) and then taken.
 */
export function reserveSlot(bpfRoot: string, hint: number, reclaim: (id: number) => void): number {
  ensurePinDir(linksDir(bpfRoot));
  let id = hint >= 1 && hint <= MAX_ID ? hint : 1;
  for (let probe = 0; probe < MAX_PROBES; probe++, id = id >= MAX_ID ? 1 : id + 1) {
    const legacyHeld = legacyPins(bpfRoot, id).some(exists);
    if (!legacyHeld && tryMkdir(slotDir(bpfRoot, id))) return id;
    if (slotState(bpfRoot, id) !== 'stale') continue;
    reclaim(id);
    if (tryMkdir(slotDir(bpfRoot, id))) return id;
  }
  throw new CniError(
    CniCode.IoFailure,
    `no free policy interface id in ${linksDir(bpfRoot)} after ${MAX_PROBES} tries from ${hint}: every one is held by a live link`,
  );
}

function tryMkdir(dir: string): boolean {
  try {
    mkdirSync(dir, { mode: 0o700 });
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new CniError(CniCode.IoFailure, `cannot reserve policy slot ${dir}: ${(e as Error).message}`);
  }
}

/** Removes the slot's directory once its pins are gone; a slot someone else re-made is left alone. */
export function releaseSlotDir(bpfRoot: string, id: number): void {
  try {
    rmdirSync(slotDir(bpfRoot, id));
  } catch {
    // gone already, or it holds pins (not ours to remove)
  }
}

/** Every id that has a slot directory or legacy pins under the pin root. */
export function listSlots(bpfRoot: string): number[] {
  let names: string[];
  try {
    names = readdirSync(linksDir(bpfRoot));
  } catch {
    return [];
  }
  const ids = new Set<number>();
  for (const n of names) {
    const m = /^(\d+)(?:-(?:in|out))?$/.exec(n);
    if (m) ids.add(Number(m[1]));
  }
  return [...ids].sort((a, b) => a - b);
}
