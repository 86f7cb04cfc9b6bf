import { join } from 'node:path';
import type { BraidConf } from '../config/types.ts';
import { CniCode, CniError } from '../base/errors.ts';
import { trace } from '../base/trace.ts';
import { hasEnforcedInterfaces, hasPolicyState, hasStoredPolicies } from '../policy/enforced.ts';
import type { PodInterface } from '../policy/pod-entries.ts';
import type { PolicyRuntimeOptions } from '../policy/runtime.ts';
import type { CacheRecord } from '../cache/attachment-cache.ts';

/**
 * braid's side of policy enforcement: after ADD the pod interfaces a policy selects get the
 * policy programs, and interfaces whose policies name the pod as a peer are updated; DEL and GC
 * take them away. A plugin process imports the policy runtime (and with it libbpf through koffi)
 * only when there is something to attach, update or detach.
 */
export function runtimeOptions(conf: BraidConf): PolicyRuntimeOptions {
  return {
    bpfRoot: conf.policy.bpfRoot,
    policyDir: conf.policy.policyDir,
    podDir: conf.podDir,
    cacheDir: conf.cniDir,
    allowDhcp: conf.policy.allowDhcp,
    allowMld: conf.policy.allowMld,
  };
}

export function policyStateDir(conf: BraidConf): string {
  return join(conf.cniDir, 'policy');
}

/** braid-veth's fast path redirects past the host veth's egress hook, so its interfaces are hooked in the pod. */
function redirectsPastHostVeth(confBytes: string): boolean {
  try {
    const doc = JSON.parse(confBytes) as { type?: unknown; plugins?: { type?: unknown }[] };
    const types = Array.isArray(doc.plugins) ? doc.plugins.map((p) => p.type) : [doc.type];
    return types.includes('braid-veth');
  } catch {
    return false;
  }
}

/** The pod interfaces of a finished ADD, as the policy runtime identifies them. */
export function podInterfaces(record: CacheRecord): PodInterface[] {
  const pod = record.pod;
  if (!pod) return [];
  return record.attachments.flatMap((a) => {
    const result = a.result;
    if (!result) return [];
    const index = (result.interfaces ?? []).findIndex((i) => i.name === a.ifname && i.sandbox);
    const iface: PodInterface = {
      containerId: record.containerId,
      pod: { namespace: pod.namespace, name: pod.name },
      network: a.network,
      ifname: a.ifname,
      netns: record.netns,
      ips: (result.ips ?? [])
        .filter((ip) => ip.interface === undefined || ip.interface === index)
        .map((ip) => ip.address.split('/')[0]!),
      placement: redirectsPastHostVeth(a.confBytes) ? 'pod' : 'auto',
    };
    const mac = index >= 0 ? result.interfaces![index]!.mac : undefined;
    if (mac) iface.mac = mac;
    return [iface];
  });
}

/** Runs one policy step; a failure without a CNI code of its own (a raw errno) becomes code 5 naming the step. */
export function policyStep<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof CniError && e.code !== CniCode.Internal) throw e;
    throw new CniError(CniCode.IoFailure, `${what}: ${(e as Error).message}`);
  }
}

/** The policy runtime as the handlers see it. */
export interface PolicyHooks {
  /** Enforces the policies that select the pod's interfaces before ADD answers; throws (having removed what it created) when that fails. */
  attach(conf: BraidConf, record: CacheRecord): Promise<void>;
  /** Removes the container's policy programs and pins; the netns may be gone. */
  detach(conf: BraidConf, containerId: string): Promise<void>;
  /** GC: programs of containers the runtime no longer lists, and of interfaces whose device is gone. */
  collect(conf: BraidConf, validContainers: ReadonlySet<string>): Promise<void>;
}

/** A plugin process's policy runtime: the local stores, libbpf loaded only when there is something to do. */
/** Whether the policies in the local store would change for other pods when these interfaces come or go. */
async function changesPeers(conf: BraidConf, stateDir: string, ifaces: PodInterface[]): Promise<boolean> {
  const [{ localPolicySource }, { admission }] = await Promise.all([
    import('../policy/source.ts'),
    import('../policy/admission.ts'),
  ]);
  return admission(stateDir, localPolicySource(runtimeOptions(conf)), ifaces).changesPeers;
}

export const lazyPolicyHooks: PolicyHooks = {
  async attach(conf, record) {
    if (!conf.policy.enabled) return;
    const ifaces = podInterfaces(record);
    if (ifaces.length === 0) return;
    const opts = runtimeOptions(conf);
    const stateDir = policyStateDir(conf);
    const { recordPodEntry } = await import('../policy/pod-entries.ts');
    if (!hasStoredPolicies(conf.policy.policyDir)) {
      // Remembered, so that a policy that comes later attaches the pod (policy apply, agent sync).
      recordPodEntry(stateDir, undefined, ifaces, []);
      trace('policy: nothing selects the pod, libbpf not loaded');
      return;
    }
    const [{ localPolicySource }, { admission }] = await Promise.all([
      import('../policy/source.ts'),
      import('../policy/admission.ts'),
    ]);
    const source = localPolicySource(opts);
    const plan = admission(stateDir, source, ifaces);
    if (plan.selected.length === 0 && !plan.changesPeers) {
      recordPodEntry(stateDir, source.pod(ifaces[0]!.pod.namespace, ifaces[0]!.pod.name), ifaces, []);
      trace('policy: nothing selects the pod, libbpf not loaded');
      return;
    }
    const { attachPodInterfaces } = await import('../policy/attach.ts');
    trace('policy: libbpf loaded');
    attachPodInterfaces(plan.selected, opts, { source, podInterfaces: ifaces });
  },
  async detach(conf, containerId) {
    const stateDir = policyStateDir(conf);
    const { readPodEntry, removePodEntry } = await import('../policy/pod-entries.ts');
    const entry = readPodEntry(stateDir, containerId);
    if (!entry && !hasEnforcedInterfaces(stateDir, containerId)) return;
    if (entry && entry.ifaceIds.length === 0) {
      // With no stored policy the pod is nobody's peer: the policy modules are not even loaded.
      const peers = hasStoredPolicies(conf.policy.policyDir) && (await changesPeers(conf, stateDir, entry.ifaces));
      if (!peers) {
        removePodEntry(stateDir, containerId);
        return;
      }
    }
    const { detachContainer } = await import('../policy/release.ts');
    policyStep(`remove the policy programs of container ${containerId} (pins under ${conf.policy.bpfRoot})`, () =>
      detachContainer(containerId, runtimeOptions(conf)),
    );
  },
  async collect(conf, validContainers) {
    if (!hasPolicyState(policyStateDir(conf), conf.policy.bpfRoot)) return;
    const { collectPolicyGarbage } = await import('../policy/release.ts');
    policyStep(`collect policy pins under ${conf.policy.bpfRoot}`, () =>
      collectPolicyGarbage(runtimeOptions(conf), validContainers),
    );
  },
};
