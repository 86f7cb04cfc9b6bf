import { CniCode, CniError } from '../base/errors.ts';
import { trace } from '../base/trace.ts';
import { withNetns } from '../bpf/netns.ts';
import { attachTcxPinned, pinnedLinkInfo, type Direction } from '../bpf/tcx.ts';
import { compileInterface } from './compile.ts';
import { ensureDatapath, type PolicyPrograms } from './datapath.ts';
import { updateGoverned } from './governed.ts';
import type { HeldDatapath } from './held-datapath.ts';
import { zeroStats } from './layout.ts';
import { reserveSlot, slotPins } from './link-slots.ts';
import { locateHook } from './locate.ts';
import { PolicyMaps } from './maps.ts';
import { reclaimSlot } from './ownership.ts';
import { recordPodEntry, type PodInterface } from './pod-entries.ts';
import { affectedRecords, viewWithout } from './peers.ts';
import { applyState, desiredState } from './reconcile.ts';
import { allocateIfaceId, readRecord, saveRecord, withPolicyLock, type IfaceRecord } from './registry.ts';
import {
  ifaceKeyOf,
  optionFlags,
  reconcileRecords,
  removeInterfaces,
  shadowsOf,
  stateDirOf,
  targetPod,
  type PolicyInputs,
  type PolicyRuntimeOptions,
} from './runtime.ts';
import { localPolicySource, type PolicySource } from './source.ts';

export type { PolicyRuntimeOptions } from './runtime.ts';
export type { PodInterface } from './pod-entries.ts';

/** JSON-serialisable; braid keeps it in its per-container cache and hands it back at DEL. */
export type AttachedInterface = IfaceRecord;

/** What one ADD or DEL did to the node: the measure that must not grow with the pods on it. */
export interface PolicyWork {
  attached: number;
  /** Other interfaces recompiled because a policy governing them names the pod as a peer. */
  touched: number;
  written: number;
  deleted: number;
}

export interface AttachOptions {
  /** Policies and cluster; default: the local stores of `opts`. */
  source?: PolicySource;
  /** Every interface of the pod (peers see all its addresses); default: the ones attached. */
  podInterfaces?: PodInterface[];
  /** braid-agent's programs and maps, opened once. */
  held?: HeldDatapath;
  report?: (work: PolicyWork) => void;
}

function hooks(rec: IfaceRecord, progs: PolicyPrograms): { prog: number; dir: Direction; pin: string }[] {
  // On a host-side veth, the host's ingress is the pod's egress.
  const hostSide = rec.hook.place === 'host-veth';
  return [
    { prog: progs.in, dir: hostSide ? 'egress' : 'ingress', pin: rec.links.in },
    { prog: progs.out, dir: hostSide ? 'ingress' : 'egress', pin: rec.links.out },
  ];
}

function attachLinks(rec: IfaceRecord, progs: PolicyPrograms): void {
  const label = `${rec.hook.ifname} (${rec.pod.namespace}/${rec.pod.name} ${rec.ifname})`;
  // First in the tcx chain: before programs that redirect (braid-veth's fast path) would skip us.
  const attachAll = () => {
    for (const h of hooks(rec, progs)) attachTcxPinned(h.prog, rec.hook.ifindex, h.dir, h.pin, { first: true, label });
  };
  if (rec.hook.place === 'host-veth') attachAll();
  else withNetns(rec.netns, attachAll);
}

interface AttachContext {
  opts: PolicyRuntimeOptions;
  stateDir: string;
  maps: PolicyMaps;
  progs: PolicyPrograms;
  inputs: PolicyInputs;
}

function failure(e: unknown, what: string): CniError {
  const msg = (e as Error).message;
  if (e instanceof CniError && e.code !== CniCode.Internal) return new CniError(e.code, `${what}: ${msg}`, e.details);
  return new CniError(CniCode.IoFailure, `${what}: ${msg}`);
}

/** Takes back a stale slot for reuse; a record of ours that still names it goes with it. */
function reclaim(ctx: AttachContext, id: number): void {
  reclaimSlot(ctx.opts.bpfRoot, ctx.maps, id);
  const old = readRecord(ctx.stateDir, id);
  if (old) removeInterfaces(ctx.maps, ctx.stateDir, [old], true);
}

export function attachOne(iface: PodInterface, ctx: AttachContext): IfaceRecord {
  const { opts, stateDir, maps } = ctx;
  const label = `${iface.pod.namespace}/${iface.pod.name} ${iface.ifname} on ${iface.network}`;
  const loc = locateHook(iface.netns, iface.ifname, label, iface.placement === 'pod');
  const ifaceId = allocateIfaceId(stateDir, (hint) => reserveSlot(opts.bpfRoot, hint, (id) => reclaim(ctx, id)));
  const rec: IfaceRecord = {
    ifaceId,
    containerId: iface.containerId,
    pod: { ...iface.pod },
    network: iface.network,
    ifname: iface.ifname,
    netns: iface.netns,
    ips: [...iface.ips],
    hook: { place: loc.place, ifname: loc.ifname, ifindex: loc.ifindex, netnsCookie: loc.netnsCookie.toString() },
    links: slotPins(opts.bpfRoot, ifaceId),
    options: optionFlags(opts),
  };
  if (iface.mac) rec.mac = iface.mac;
  // Recorded before anything is attached, so that DEL or GC finds whatever a crash leaves.
  saveRecord(stateDir, rec);
  try {
    for (const dir of [0, 1]) maps.stats.update({ ifaceId, dir }, zeroStats());
    // The maps describe the interface before its first packet meets the programs.
    const compiled = compileInterface(ctx.inputs.policies, ctx.inputs.view, {
      pod: targetPod(ctx.inputs.view, rec),
      network: rec.network,
      label,
    });
    applyState(maps, ifaceKeyOf(rec), desiredState(ifaceId, compiled, rec.options), true, shadowsOf(stateDir));
    attachLinks(rec, ctx.progs);
    rec.linkIds = { in: pinnedLinkInfo(rec.links.in)?.id ?? 0, out: pinnedLinkInfo(rec.links.out)?.id ?? 0 };
    rec.policies = compiled.policies;
    updateGoverned(stateDir, ifaceId, [], compiled.policies);
    saveRecord(stateDir, rec);
  } catch (e) {
    // Only what this call created: the slot it reserved, the links it pinned there.
    removeInterfaces(maps, stateDir, [rec], true);
    throw failure(e, `policy for ${label} (hook ${loc.ifname}, pin ${rec.links.in})`);
  }
  return rec;
}

/**
 * Attaches the policy programs to these interfaces of one pod and fills their map entries; then
 * recompiles the other interfaces whose policies name the pod as a peer (found through the
 * governed index: nothing else on the node is read or written). On failure, everything this
 * call attached is removed again and the error is thrown.
 */
export function attachPodInterfaces(
  ifaces: PodInterface[],
  opts: PolicyRuntimeOptions,
  o: AttachOptions = {},
): AttachedInterface[] {
  const all = o.podInterfaces ?? ifaces;
  if (all.length === 0) return [];
  const stateDir = stateDirOf(opts);
  const source = o.source ?? localPolicySource(opts);
  let progs: PolicyPrograms | undefined;
  try {
    progs = o.held ? o.held.programs() : ensureDatapath(opts.bpfRoot, stateDir, opts.objectPath);
  } catch (e) {
    throw failure(e, `load the policy datapath under ${opts.bpfRoot}`);
  }
  trace('policy: programs ready');
  try {
    return withPolicyLock(stateDir, () => {
      const maps = o.held ? o.held.maps() : PolicyMaps.open(opts.bpfRoot);
      const done: IfaceRecord[] = [];
      try {
        const touched = affectedRecords(stateDir, source, all);
        // The new pod's addresses count as peers already, before braid writes its network-status.
        const inputs = { policies: source.policies(), view: source.view([...all, ...touched]) };
        trace('policy: inputs read');
        for (const iface of ifaces) done.push(attachOne(iface, { opts, stateDir, maps, progs: progs!, inputs }));
        trace('policy: interfaces attached');
        const report = reconcileRecords(maps, touched, inputs, shadowsOf(stateDir), false, stateDir);
        if (report.errors.length > 0) {
          process.stderr.write(
            `braid: policy for other interfaces not updated: ${report.errors.map((e) => e.message).join('; ')}\n`,
          );
        }
        recordPodEntry(stateDir, source.pod(all[0]!.pod.namespace, all[0]!.pod.name), all, done);
        o.report?.({
          attached: done.length,
          touched: touched.length,
          written: report.written,
          deleted: report.deleted,
        });
        return done;
      } catch (e) {
        removeInterfaces(maps, stateDir, done, true);
        throw failure(e, 'attach policy');
      } finally {
        if (!o.held) maps.close();
      }
    });
  } finally {
    if (!o.held) progs.close();
  }
}

export interface DetachOptions {
  source?: PolicySource;
  held?: HeldDatapath;
  report?: (work: PolicyWork) => void;
}

/**
 * Detaches and forgets the interfaces of one DEL: unpins their links (fine when the pod's
 * namespace or the device is already gone), removes their map entries and tracked connections,
 * then recompiles the interfaces whose policies named the pod, without its addresses. Idempotent.
 */
export function detachPodInterfaces(
  attached: AttachedInterface[],
  opts: PolicyRuntimeOptions,
  o: DetachOptions = {},
): void {
  if (attached.length === 0) return;
  const stateDir = stateDirOf(opts);
  const source = o.source ?? localPolicySource(opts);
  withPolicyLock(stateDir, () => {
    const maps = o.held ? (o.held.loaded() ? o.held.maps() : undefined) : openMaps(opts.bpfRoot);
    try {
      removeInterfaces(maps, stateDir, attached);
      if (!maps) return;
      const touched = affectedRecords(stateDir, source, attached);
      const inputs = { policies: source.policies(), view: viewWithout(source.view(touched), attached) };
      const report = reconcileRecords(maps, touched, inputs, shadowsOf(stateDir), false, stateDir);
      o.report?.({ attached: 0, touched: touched.length, written: report.written, deleted: report.deleted });
    } finally {
      if (!o.held) maps?.close();
    }
  });
}

function openMaps(bpfRoot: string): PolicyMaps | undefined {
  try {
    return PolicyMaps.open(bpfRoot);
  } catch {
    return undefined;
  }
}
