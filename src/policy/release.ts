import { existsSync } from 'node:fs';
import { detachPodInterfaces, type AttachedInterface, type PolicyWork } from './attach.ts';
import type { HeldDatapath } from './held-datapath.ts';
import { PolicyMaps } from './maps.ts';
import { collectDeadSlots } from './ownership.ts';
import { listPodEntries, readPodEntry, removePodEntry } from './pod-entries.ts';
import { affectedRecords, viewWithout } from './peers.ts';
import { listRecords, readRecord, withPolicyLock, type IfaceRecord } from './registry.ts';
import { deadRecords, reconcileRecords, shadowsOf, stateDirOf, type PolicyRuntimeOptions } from './runtime.ts';
import { localPolicySource, type PolicySource } from './source.ts';

export interface ReleaseOptions {
  source?: PolicySource;
  held?: HeldDatapath;
  report?: (work: PolicyWork) => void;
}

function openMaps(bpfRoot: string, held?: HeldDatapath): PolicyMaps | undefined {
  if (held) return held.loaded() ? held.maps() : undefined;
  try {
    return PolicyMaps.open(bpfRoot);
  } catch {
    return undefined;
  }
}

/** The container's enforced interfaces: from its pod entry, or (entry lost) by reading the registry. */
function enforcedOf(stateDir: string, containerId: string): IfaceRecord[] {
  const entry = readPodEntry(stateDir, containerId);
  if (entry)
    return entry.ifaceIds
      .map((id) => readRecord(stateDir, id))
      .filter((r): r is IfaceRecord => r?.containerId === containerId);
  return listRecords(stateDir).filter((r) => r.containerId === containerId);
}

/**
 * DEL by container id: its programs and pins go, and the interfaces whose policies named it as a
 * peer are recompiled without its addresses, also when it had no programs of its own.
 */
export function detachContainer(containerId: string, opts: PolicyRuntimeOptions, o: ReleaseOptions = {}): number {
  const stateDir = stateDirOf(opts);
  const source = o.source ?? localPolicySource(opts);
  const mine = enforcedOf(stateDir, containerId);
  if (mine.length > 0) detachPodInterfaces(mine, opts, o);
  const entry = readPodEntry(stateDir, containerId);
  if (mine.length === 0 && entry && entry.ifaces.length > 0) {
    // No programs of its own, but it may be a peer of others.
    withPolicyLock(stateDir, () => {
      const touched = affectedRecords(stateDir, source, entry.ifaces);
      if (touched.length === 0) return;
      const maps = openMaps(opts.bpfRoot, o.held);
      if (!maps) return;
      try {
        const inputs = { policies: source.policies(), view: viewWithout(source.view(touched), entry.ifaces) };
        const report = reconcileRecords(maps, touched, inputs, shadowsOf(stateDir), false, stateDir);
        o.report?.({ attached: 0, touched: touched.length, written: report.written, deleted: report.deleted });
      } finally {
        if (!o.held) maps.close();
      }
    });
  }
  removePodEntry(stateDir, containerId);
  return mine.length;
}

/**
 * GC: interfaces whose device is gone (namespace deleted without DEL, reboot), those of
 * containers not in `validContainers` (CNI GC's cni.dev/valid-attachments), and, found from
 * bpffs itself, every link slot whose devices are gone, whichever conf or lost cache it was of.
 */
export function collectPolicyGarbage(
  opts: PolicyRuntimeOptions,
  validContainers?: ReadonlySet<string>,
  o: ReleaseOptions = {},
): AttachedInterface[] {
  const stateDir = stateDirOf(opts);
  const records = listRecords(stateDir);
  const stale = new Set(deadRecords(records));
  if (validContainers) for (const r of records) if (!validContainers.has(r.containerId)) stale.add(r);
  const byContainer = new Map<string, IfaceRecord[]>();
  for (const r of stale) byContainer.set(r.containerId, [...(byContainer.get(r.containerId) ?? []), r]);
  for (const group of byContainer.values()) detachPodInterfaces(group, opts, o);
  // Pod entries of containers the runtime no longer lists, or whose sandboxes are all gone.
  for (const e of listPodEntries(stateDir)) {
    const gone = validContainers ? !validContainers.has(e.containerId) : e.ifaces.every((i) => !existsSync(i.netns));
    if (!gone) continue;
    for (const r of enforcedOf(stateDir, e.containerId)) stale.add(r);
    detachContainer(e.containerId, opts, o);
  }
  withPolicyLock(stateDir, () => {
    const maps = openMaps(opts.bpfRoot, o.held);
    try {
      collectDeadSlots(opts.bpfRoot, maps);
    } finally {
      if (!o.held) maps?.close();
    }
  });
  return [...stale];
}
