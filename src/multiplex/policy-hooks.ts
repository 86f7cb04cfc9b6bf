import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BraidConf } from '../config/types.ts';
import { hasEnforcedInterfaces, ifacesDir } from '../policy/enforced.ts';
import type { PodInterface, PolicyRuntimeOptions } from '../policy/attach.ts';
import type { CacheRecord } from './cache.ts';

/**
 * braid's side of policy enforcement: after ADD every pod interface gets the policy programs,
 * DEL and GC take them away. The policy runtime (and with it libbpf through koffi) is imported
 * only when there is something to attach or detach.
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

function policyStateDir(conf: BraidConf): string {
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

/** The policy runtime as the handlers see it. */
export interface PolicyHooks {
  /** Enforces the policies that select the pod's interfaces before ADD answers; throws (having removed what it created) when that fails. */
  attach(conf: BraidConf, record: CacheRecord): Promise<void>;
  /** Removes the container's policy programs and pins; the netns may be gone. */
  detach(conf: BraidConf, containerId: string): Promise<void>;
  /** GC: programs of containers the runtime no longer lists, and of interfaces whose device is gone. */
  collect(conf: BraidConf, validContainers: ReadonlySet<string>): Promise<void>;
}

/** A plugin process's policy runtime: imported (and libbpf loaded) only when there is something to do. */
export const lazyPolicyHooks: PolicyHooks = {
  async attach(conf, record) {
    if (!conf.policy.enabled) return;
    const ifaces = podInterfaces(record);
    if (ifaces.length === 0) return;
    const { attachPodInterfaces } = await import('../policy/attach.ts');
    attachPodInterfaces(ifaces, runtimeOptions(conf));
  },
  async detach(conf, containerId) {
    if (!hasEnforcedInterfaces(policyStateDir(conf), containerId)) return;
    const { detachContainer } = await import('../policy/attach.ts');
    detachContainer(containerId, runtimeOptions(conf));
  },
  async collect(conf, validContainers) {
    if (!existsSync(ifacesDir(policyStateDir(conf)))) return;
    const { collectPolicyGarbage } = await import('../policy/attach.ts');
    collectPolicyGarbage(runtimeOptions(conf), validContainers);
  },
};
