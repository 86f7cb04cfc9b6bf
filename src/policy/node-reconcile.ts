import { existsSync } from 'node:fs';
import { attachOne } from './attach.ts';
import { ensureDatapath, type PolicyPrograms } from './datapath.ts';
import type { HeldDatapath } from './held-datapath.ts';
import { PolicyMaps } from './maps.ts';
import { selectingPolicies } from './compile.ts';
import { collectDeadSlots } from './ownership.ts';
import { listPodEntries, savePodEntry, type PodEntry, type PodInterface } from './pod-entries.ts';
import { listRecords, withPolicyLock, type IfaceRecord } from './registry.ts';
import {
  deadRecords,
  loadInputs,
  openMapsIfLoaded,
  reconcileRecords,
  removeInterfaces,
  shadowsOf,
  stateDirOf,
  type PolicyInputs,
  type PolicyRuntimeOptions,
  type ReconcileReport,
} from './runtime.ts';

/** Interfaces of pods braid added that have no programs yet. */
function unenforced(
  entries: readonly PodEntry[],
  records: readonly IfaceRecord[],
): { entry: PodEntry; iface: PodInterface }[] {
  const enforced = new Set(records.map((r) => `${r.containerId}/${r.ifname}`));
  return entries.flatMap((entry) =>
    entry.ifaces.filter((i) => !enforced.has(`${i.containerId}/${i.ifname}`)).map((iface) => ({ entry, iface })),
  );
}

function selected(inputs: PolicyInputs, iface: PodInterface, labels: Record<string, string>): boolean {
  const known = inputs.view.pods.find((p) => p.namespace === iface.pod.namespace && p.name === iface.pod.name);
  const pod = known ?? { ...iface.pod, labels, namedPorts: [], attachments: [] };
  return selectingPolicies(inputs.policies, pod, iface.network).length > 0;
}

export interface NodeReconcileOptions {
  force?: boolean;
  held?: HeldDatapath;
}

/**
 * Recompiles every enforced interface of the node from the inputs `inputsFor` gives and writes
 * what changed. Dead interfaces and dead link slots (found in bpffs) are cleaned up first; pods
 * a policy has come to select since their ADD get their programs here.
 */
export function reconcileNode(
  opts: PolicyRuntimeOptions,
  inputsFor: (local: readonly (IfaceRecord | PodInterface)[]) => PolicyInputs,
  o: NodeReconcileOptions = {},
): ReconcileReport {
  const stateDir = stateDirOf(opts);
  // Loading takes the policy lock itself, so programs are made ready before it is held here.
  let progs: PolicyPrograms | undefined;
  const waiting = unenforced(listPodEntries(stateDir), listRecords(stateDir));
  if (waiting.length > 0) progs = o.held ? o.held.programs() : ensureDatapath(opts.bpfRoot, stateDir, opts.objectPath);
  try {
    return withPolicyLock(stateDir, () => {
      let maps = o.held ? (o.held.loaded() ? o.held.maps() : undefined) : openMapsIfLoaded(opts.bpfRoot);
      try {
        let records = listRecords(stateDir);
        const dead = deadRecords(records);
        removeInterfaces(maps, stateDir, dead);
        collectDeadSlots(opts.bpfRoot, maps);
        records = records.filter((r) => !dead.includes(r));
        const candidates = unenforced(listPodEntries(stateDir), records);
        // Nothing enforced and nothing waiting: the cluster is not even asked.
        if (!maps && (!progs || candidates.length === 0))
          return { interfaces: records.length, changed: 0, written: 0, deleted: 0, errors: [] };
        const inputs = inputsFor([...records, ...candidates.map((c) => c.iface)]);
        const attached: IfaceRecord[] = [];
        if (progs) {
          maps ??= PolicyMaps.open(opts.bpfRoot);
          for (const { entry, iface } of candidates) {
            // A pod whose sandbox is gone waits for its DEL or GC, not for programs.
            if (!existsSync(iface.netns) || !selected(inputs, iface, entry.labels)) continue;
            try {
              const rec = attachOne(iface, { opts, stateDir, maps, progs, inputs });
              attached.push(rec);
              entry.ifaceIds = [...new Set([...entry.ifaceIds, rec.ifaceId])];
              savePodEntry(stateDir, entry);
            } catch (e) {
              process.stderr.write(`braid: ${(e as Error).message}\n`);
            }
          }
        }
        if (!maps) return { interfaces: records.length, changed: 0, written: 0, deleted: 0, errors: [] };
        const report = reconcileRecords(maps, records, inputs, shadowsOf(stateDir), o.force ?? false, stateDir);
        return {
          ...report,
          interfaces: report.interfaces + attached.length,
          changed: report.changed + attached.length,
        };
      } finally {
        if (!o.held) maps?.close();
      }
    });
  } finally {
    if (!o.held) progs?.close();
  }
}

/** reconcileNode with the local stores as inputs (after a policy, namespace or pod change). */
export function reconcileAll(opts: PolicyRuntimeOptions, force = false): ReconcileReport {
  return reconcileNode(opts, (local) => loadInputs(opts, local), { force });
}
