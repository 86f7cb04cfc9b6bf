import { trace } from '../base/trace.ts';
import type { BraidConf } from '../config/types.ts';
import {
  podInterfaces,
  policyStateDir,
  policyStep,
  runtimeOptions,
  type PolicyHooks,
} from '../multiplex/policy-hooks.ts';
import { admission } from '../policy/admission.ts';
import { attachPodInterfaces } from '../policy/attach.ts';
import { FileMemo } from '../policy/file-memo.ts';
import { HeldDatapath } from '../policy/held-datapath.ts';
import { readPodEntry, recordPodEntry, removePodEntry } from '../policy/pod-entries.ts';
import { collectPolicyGarbage, detachContainer } from '../policy/release.ts';
import { localPolicySource, type PolicySource } from '../policy/source.ts';
import type { ClusterCache } from './cluster-cache.ts';
import { viewFromCache } from './policy-sync.ts';

/** The agent's watch caches as the policy runtime's source. */
export function cachePolicySource(cache: Pick<ClusterCache, 'pods' | 'namespaces' | 'validPolicies'>): PolicySource {
  return {
    policies: () => cache.validPolicies(),
    namespaces: () => [...cache.namespaces.values()],
    pod: (namespace, name) => cache.pods.get(`${namespace}/${name}`),
    view: (local) => viewFromCache(cache, local),
  };
}

export interface AgentPolicyHooks extends PolicyHooks {
  /** The held programs and maps of a pin root (the agent's sync shares them). */
  held(bpfRoot: string, stateDir: string): HeldDatapath;
  /** Container ids whose pod entries this agent wrote last (its registry watcher skips them). */
  ownsEntry(file: string): boolean;
  close(): void;
}

/**
 * braid-agent's policy runtime: programs, maps and pins opened once per pin root and kept; the
 * cluster's policies and labels from the watch caches once they are listed (the local stores
 * before); and per ADD only the pod's own interfaces plus those whose policies name it.
 */
export function agentPolicyHooks(cache: ClusterCache | undefined, usesCluster: boolean): AgentPolicyHooks {
  const helds = new Map<string, HeldDatapath>();
  const recent = new Set<string>();
  // Pod manifests and cache records parsed once, not at every ADD (the local stores' view).
  const memo = new FileMemo();
  const held = (bpfRoot: string, stateDir: string): HeldDatapath => {
    const key = `${bpfRoot}\0${stateDir}`;
    let h = helds.get(key);
    if (!h) helds.set(key, (h = new HeldDatapath({ bpfRoot, stateDir })));
    return h;
  };
  const sourceFor = (conf: BraidConf): PolicySource =>
    cache && usesCluster && !cache.notSynced()
      ? cachePolicySource(cache)
      : localPolicySource(runtimeOptions(conf), memo);
  const mark = (containerId: string) => {
    recent.add(`${containerId}.json`);
    if (recent.size > 4096) recent.delete(recent.values().next().value!);
  };
  return {
    async attach(conf, record) {
      if (!conf.policy.enabled) return;
      const ifaces = podInterfaces(record);
      if (ifaces.length === 0) return;
      const stateDir = policyStateDir(conf);
      const source = sourceFor(conf);
      const plan = admission(stateDir, source, ifaces);
      trace('policy: admission planned');
      mark(record.containerId);
      if (plan.selected.length === 0 && !plan.changesPeers) {
        recordPodEntry(stateDir, source.pod(ifaces[0]!.pod.namespace, ifaces[0]!.pod.name), ifaces, []);
        trace('policy: nothing selects the pod, pod entry recorded');
        return;
      }
      attachPodInterfaces(plan.selected, runtimeOptions(conf), {
        source,
        podInterfaces: ifaces,
        held: held(conf.policy.bpfRoot, stateDir),
      });
    },
    async detach(conf, containerId) {
      const stateDir = policyStateDir(conf);
      const entry = readPodEntry(stateDir, containerId);
      mark(containerId);
      const source = sourceFor(conf);
      trace('policy: pod entry read');
      if (entry && entry.ifaceIds.length === 0 && !admission(stateDir, source, entry.ifaces).changesPeers) {
        removePodEntry(stateDir, containerId);
        trace('policy: nothing selected the pod, pod entry removed');
        return;
      }
      policyStep(`remove the policy programs of container ${containerId} (pins under ${conf.policy.bpfRoot})`, () =>
        detachContainer(containerId, runtimeOptions(conf), { source, held: held(conf.policy.bpfRoot, stateDir) }),
      );
    },
    async collect(conf, validContainers) {
      policyStep(`collect policy pins under ${conf.policy.bpfRoot}`, () =>
        collectPolicyGarbage(runtimeOptions(conf), validContainers, {
          source: sourceFor(conf),
          held: held(conf.policy.bpfRoot, policyStateDir(conf)),
        }),
      );
    },
    held,
    ownsEntry: (file) => recent.has(file),
    close() {
      for (const h of helds.values()) h.close();
      helds.clear();
    },
  };
}
