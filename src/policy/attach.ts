import { CniCode, CniError } from '../cni/errors.ts';
import { withNetns } from '../bpf/netns.ts';
import { attachTcxPinned, type Direction } from '../bpf/tcx.ts';
import { compileInterface } from './compile.ts';
import { ensureDatapath, linkPin, type PolicyPrograms } from './datapath.ts';
import { zeroStats } from './layout.ts';
import { locateHook } from './locate.ts';
import { PolicyMaps } from './maps.ts';
import { applyState, desiredState } from './reconcile.ts';
import { allocateIfaceId, listRecords, saveRecord, withPolicyLock, type IfaceRecord } from './registry.ts';
import {
  deadRecords,
  ifaceKeyOf,
  loadInputs,
  openMapsIfLoaded,
  optionFlags,
  reconcileRecords,
  removeInterfaces,
  shadowsOf,
  stateDirOf,
  targetPod,
  type PolicyInputs,
  type PolicyRuntimeOptions,
} from './runtime.ts';

export type { PolicyRuntimeOptions } from './runtime.ts';

/** One interface braid's attachments created in a pod (what ADD hands to the policy runtime). */
export interface PodInterface {
  containerId: string;
  pod: { namespace: string; name: string };
  /** `ns/nad` */
  network: string;
  ifname: string;
  /** Path of the pod's network namespace. */
  netns: string;
  mac?: string;
  ips: string[];
  /**
   * Where the programs go: "auto" (default) is the host side of a veth, else the device in the
   * pod; "pod" forces the pod device. Use "pod" when a program on the host side redirects
   * traffic past the host veth's egress (braid-veth's fast path uses bpf_redirect_peer).
   */
  placement?: 'auto' | 'pod';
}

/** JSON-serialisable; braid keeps it in its per-container cache and hands it back at DEL. */
export type AttachedInterface = IfaceRecord;

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

function attachOne(iface: PodInterface, opts: PolicyRuntimeOptions, maps: PolicyMaps, progs: PolicyPrograms, inputs: PolicyInputs): IfaceRecord {
  const stateDir = stateDirOf(opts);
  const label = `${iface.pod.namespace}/${iface.pod.name} ${iface.ifname} on ${iface.network}`;
  const loc = locateHook(iface.netns, iface.ifname, label, iface.placement === 'pod');
  const ifaceId = allocateIfaceId(stateDir);
  const rec: IfaceRecord = {
    ifaceId,
    containerId: iface.containerId,
    pod: { ...iface.pod },
    network: iface.network,
    ifname: iface.ifname,
    netns: iface.netns,
    ips: [...iface.ips],
    hook: { place: loc.place, ifname: loc.ifname, ifindex: loc.ifindex, netnsCookie: loc.netnsCookie.toString() },
    links: { in: linkPin(opts.bpfRoot, ifaceId, 'in'), out: linkPin(opts.bpfRoot, ifaceId, 'out') },
    options: optionFlags(opts),
  };
  if (iface.mac) rec.mac = iface.mac;
  // Recorded before anything is attached, so that DEL or GC finds whatever a crash leaves.
  saveRecord(stateDir, rec);
  try {
    for (const dir of [0, 1]) maps.stats.update({ ifaceId, dir }, zeroStats());
    // The maps describe the interface before its first packet meets the programs.
    const compiled = compileInterface(inputs.policies, inputs.view, { pod: targetPod(inputs.view, rec), network: rec.network, label });
    applyState(maps, ifaceKeyOf(rec), desiredState(ifaceId, compiled, rec.options), true, shadowsOf(stateDir));
    attachLinks(rec, progs);
  } catch (e) {
    removeInterfaces(maps, stateDir, [rec]);
    throw e;
  }
  return rec;
}

/**
 * Attaches the policy programs to every interface of one ADD and fills their map entries; then
 * recompiles the node's other interfaces, whose peers may include the new pod. On failure,
 * everything this call attached is removed again and the error is thrown.
 */
export function attachPodInterfaces(ifaces: PodInterface[], opts: PolicyRuntimeOptions): AttachedInterface[] {
  if (ifaces.length === 0) return [];
  const stateDir = stateDirOf(opts);
  const progs = ensureDatapath(opts.bpfRoot, stateDir, opts.objectPath);
  try {
    return withPolicyLock(stateDir, () => {
      const maps = PolicyMaps.open(opts.bpfRoot);
      const done: IfaceRecord[] = [];
      try {
        const existing = listRecords(stateDir);
        // The new pod's addresses count as peers already, before braid writes its network-status.
        const inputs = loadInputs(opts, [...ifaces, ...existing]);
        for (const iface of ifaces) done.push(attachOne(iface, opts, maps, progs, inputs));
        const report = reconcileRecords(maps, existing, inputs, shadowsOf(stateDir));
        if (report.errors.length > 0) {
          process.stderr.write(`braid: policy for other interfaces not updated: ${report.errors.map((e) => e.message).join('; ')}\n`);
        }
        return done;
      } catch (e) {
        removeInterfaces(maps, stateDir, done);
        throw e instanceof CniError ? e : new CniError(CniCode.IoFailure, `attach policy: ${(e as Error).message}`);
      } finally {
        maps.close();
      }
    });
  } finally {
    progs.close();
  }
}

/**
 * Detaches and forgets the interfaces of one DEL: unpins their links (fine when the pod's
 * namespace or the device is already gone), removes their map entries and tracked connections,
 * then recompiles the remaining interfaces without the departed addresses. Idempotent.
 */
export function detachPodInterfaces(attached: AttachedInterface[], opts: PolicyRuntimeOptions): void {
  if (attached.length === 0) return;
  const stateDir = stateDirOf(opts);
  withPolicyLock(stateDir, () => {
    const maps = openMapsIfLoaded(opts.bpfRoot);
    try {
      removeInterfaces(maps, stateDir, attached);
      if (!maps) return;
      const remaining = listRecords(stateDir);
      const inputs = loadInputs(opts, remaining);
      const gone = new Set(attached.map((a) => `${a.pod.namespace}/${a.pod.name}/${a.network}`));
      for (const pod of inputs.view.pods) {
        pod.attachments = pod.attachments.filter((x) => !gone.has(`${pod.namespace}/${pod.name}/${x.network}`));
      }
      reconcileRecords(maps, remaining, inputs, shadowsOf(stateDir));
    } finally {
      maps?.close();
    }
  });
}

/** DEL without the cached records (e.g. braid died before writing its cache): by container id. */
export function detachContainer(containerId: string, opts: PolicyRuntimeOptions): number {
  const mine = listRecords(stateDirOf(opts)).filter((r) => r.containerId === containerId);
  detachPodInterfaces(mine, opts);
  return mine.length;
}

/**
 * GC: detaches interfaces whose device is gone (namespace deleted without DEL, reboot) and, when
 * `validContainers` is given (CNI GC's cni.dev/valid-attachments), those of other containers.
 */
export function collectPolicyGarbage(opts: PolicyRuntimeOptions, validContainers?: ReadonlySet<string>): AttachedInterface[] {
  const records = listRecords(stateDirOf(opts));
  const stale = new Set(deadRecords(records));
  if (validContainers) for (const r of records) if (!validContainers.has(r.containerId)) stale.add(r);
  detachPodInterfaces([...stale], opts);
  return [...stale];
}
