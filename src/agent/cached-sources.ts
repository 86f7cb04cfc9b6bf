import { isStaticOrMirrorPod, podInfoFromKubePod } from '../k8s/api-sources.ts';
import type { NadSource, PodSource } from '../k8s/sources.ts';

import type { NetworkAttachmentDefinition, PodInfo } from '../k8s/types.ts';
import type { ClusterCache } from './cluster-cache.ts';

/**
 * Pod and NAD sources answered from the agent's watch caches, for ADD in the agent. They answer
 * only what they know for sure; anything else ("not in the cache", a pod re-created under the
 * same name that the watch has not delivered yet) falls through to the next source in the chain,
 * the API server. Wiring: src/multiplex builds ADD's sources per call (kube-session.ts); these are
 * meant to sit in front of its API sources when braid runs inside the agent.
 */
export class CachedPodSource implements PodSource {
  readonly kind = 'agent cache';

  constructor(private readonly cache: Pick<ClusterCache, 'localPods'>) {}

  async getPod(namespace: string, name: string, uid?: string): Promise<PodInfo | undefined> {
    const pod = this.cache.localPods.get(`${namespace}/${name}`);
    if (!pod) return undefined;
    const info = podInfoFromKubePod(pod, namespace);
    if (uid && info.uid && info.uid !== uid && !isStaticOrMirrorPod(info.annotations)) return undefined;
    return info;
  }
}

export class CachedNadSource implements NadSource {
  readonly kind = 'agent cache';

  constructor(private readonly cache: Pick<ClusterCache, 'nads'>) {}

  async getNad(namespace: string, name: string): Promise<NetworkAttachmentDefinition | undefined> {
    return this.cache.nads.get(`${namespace}/${name}`);
  }
}
