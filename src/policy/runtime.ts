import { rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isErrno } from '../net/errno.ts';
import { detachTcxPinned, pinnedLinkInfo } from '../bpf/tcx.ts';
import { buildClusterView, type LocalInterface } from './cluster.ts';
import { compileInterface } from './compile.ts';
import { F_ALLOW_DHCP, F_ALLOW_MLD } from './layout.ts';
import { PolicyMaps } from './maps.ts';
import type { ClusterView, MultiNetworkPolicy, PodView } from './model.ts';
import { applyState, desiredState, removeInterfaceState, type ApplyStats } from './reconcile.ts';
import { updateGoverned } from './governed.ts';
import { holdsSlot } from './ownership.ts';
import { removeRecord, saveRecord, type IfaceRecord } from './registry.ts';
import { ShadowStore } from './shadow.ts';
import { PolicyStore } from './store.ts';

/** What braid's ADD/DEL, the CLI and the agent pass to the policy runtime. */
export interface PolicyRuntimeOptions {
  /** Pin root, e.g. /sys/fs/bpf/braid/v1 (tests: a throwaway one). */
  bpfRoot: string;
  /** The local policy store. */
  policyDir: string;
  /** The local pod store: <podDir>/<ns>/<name>.yaml with labels and network-status. */
  podDir: string;
  /** braid's per-container cache directory. */
  cacheDir: string;
  /** mnp.o; default: $BRAID_BPF_DIR, next to the bundle, or the repo's dist/bpf. */
  objectPath?: string;
  /** Registry of enforced interfaces and the lock; default <cacheDir>/policy. */
  stateDir?: string;
  /** Let DHCP (v4 67/68, v6 546/547) pass isolated interfaces. Default false. */
  allowDhcp?: boolean;
  /** Let MLD (ICMPv6 130-132, 143) pass isolated interfaces. Default true. */
  allowMld?: boolean;
}

export function stateDirOf(opts: PolicyRuntimeOptions): string {
  return opts.stateDir ?? join(opts.cacheDir, 'policy');
}

export function shadowsOf(stateDir: string): ShadowStore {
  return new ShadowStore(join(stateDir, 'shadow'));
}

export function optionFlags(opts: PolicyRuntimeOptions): number {
  return (opts.allowDhcp ? F_ALLOW_DHCP : 0) | (opts.allowMld === false ? 0 : F_ALLOW_MLD);
}

export function ifaceKeyOf(rec: IfaceRecord) {
  return { cookie: BigInt(rec.hook.netnsCookie), ifindex: rec.hook.ifindex };
}

/** The pod a record belongs to, as the view knows it (labels and named ports), or a bare one. */
export function targetPod(view: ClusterView, rec: IfaceRecord): PodView {
  return (
    view.pods.find((p) => p.namespace === rec.pod.namespace && p.name === rec.pod.name) ?? {
      ...rec.pod,
      labels: {},
      namedPorts: [],
      attachments: [],
    }
  );
}

export interface ReconcileReport {
  interfaces: number;
  changed: number;
  written: number;
  deleted: number;
  /** Interfaces whose policies could not be compiled: they keep their previous entries. */
  errors: { ifaceId: number; message: string }[];
}

export interface PolicyInputs {
  policies: MultiNetworkPolicy[];
  view: ClusterView;
}

/** Policies from the store and the cluster view from the pod store, cache and registry. */
export function loadInputs(opts: PolicyRuntimeOptions, local: readonly LocalInterface[]): PolicyInputs {
  const store = new PolicyStore(opts.policyDir);
  const view = buildClusterView(opts.podDir, opts.cacheDir, local, store.namespaces());
  return { policies: store.policies(), view };
}

export function reconcileRecords(
  maps: PolicyMaps,
  records: readonly IfaceRecord[],
  inputs: PolicyInputs,
  shadows: ShadowStore,
  force = false,
  stateDir?: string,
): ReconcileReport {
  const report: ReconcileReport = { interfaces: records.length, changed: 0, written: 0, deleted: 0, errors: [] };
  for (const rec of records) {
    let stats: ApplyStats;
    try {
      const compiled = compileInterface(inputs.policies, inputs.view, {
        pod: targetPod(inputs.view, rec),
        network: rec.network,
        label: `${rec.pod.namespace}/${rec.pod.name} ${rec.ifname} on ${rec.network}`,
      });
      stats = applyState(maps, ifaceKeyOf(rec), desiredState(rec.ifaceId, compiled, rec.options), force, shadows);
      if (stateDir) indexPolicies(stateDir, rec, compiled.policies);
    } catch (e) {
      report.errors.push({ ifaceId: rec.ifaceId, message: (e as Error).message });
      continue;
    }
    if (stats.changed) report.changed++;
    report.written += stats.written;
    report.deleted += stats.deleted;
  }
  return report;
}

/** Keeps the governed index and the record's policy list in step with what it was compiled with. */
export function indexPolicies(stateDir: string, rec: IfaceRecord, policies: string[]): void {
  const before = rec.policies ?? [];
  if (before.length === policies.length && before.every((p, i) => p === policies[i])) return;
  updateGoverned(stateDir, rec.ifaceId, before, policies);
  rec.policies = policies;
  saveRecord(stateDir, rec);
}

/**
 * Removes these interfaces: their records always, their links and map entries only where they
 * still own them (see ownership.ts) or `own` says this call created them.
 */
export function removeInterfaces(
  maps: PolicyMaps | undefined,
  stateDir: string,
  records: readonly IfaceRecord[],
  own = false,
): void {
  const dropped = new Set<number>();
  for (const rec of records) {
    if (own || holdsSlot(rec)) {
      detachTcxPinned(rec.links.in);
      detachTcxPinned(rec.links.out);
      if (maps) removeInterfaceState(maps, ifaceKeyOf(rec), rec.ifaceId);
      dropped.add(rec.ifaceId);
    } else if (maps) {
      // Another owner holds the id now: only this interface's own config entry may go.
      const key = ifaceKeyOf(rec);
      if (maps.iface.lookup(key)?.ifaceId === rec.ifaceId) maps.iface.delete(key);
    }
  }
  if (maps && dropped.size > 0) {
    for (const k of maps.ct.keys()) if (dropped.has(k.ifaceId)) maps.ct.delete(k);
    for (const k of maps.frag?.keys() ?? []) if (dropped.has(k.ifaceId)) maps.frag!.delete(k);
  }
  const shadows = shadowsOf(stateDir);
  for (const rec of records) {
    if (dropped.has(rec.ifaceId) && isSlotPath(rec.links.in)) removeEmptyDir(dirname(rec.links.in));
    updateGoverned(stateDir, rec.ifaceId, rec.policies ?? [], []);
    shadows.remove(rec.ifaceId);
    removeRecord(stateDir, rec.ifaceId);
  }
}

function removeEmptyDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // gone, or someone pinned into it again
  }
}

function isSlotPath(pin: string): boolean {
  return /\/mnp\/links\/\d+\/in$/.test(pin);
}

/** Records whose device is gone (pod namespace deleted without DEL, or a reboot). */
export function deadRecords(records: readonly IfaceRecord[]): IfaceRecord[] {
  return records.filter((r) => {
    const info = pinnedLinkInfo(r.links.in);
    return !info || info.ifindex === 0;
  });
}

export function openMapsIfLoaded(bpfRoot: string): PolicyMaps | undefined {
  try {
    return PolicyMaps.open(bpfRoot);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return undefined;
    throw e;
  }
}
