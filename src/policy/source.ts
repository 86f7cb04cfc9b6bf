import { buildClusterView, readPodView, type LocalInterface } from './cluster.ts';
import type { FileMemo } from './file-memo.ts';
import type { ClusterView, MultiNetworkPolicy, NamespaceView, PodView } from './model.ts';
import { PolicyStore } from './store.ts';

/**
 * Where the policy runtime reads policies and the cluster from. A plugin process and the CLI
 * read the local stores; braid-agent reads its watch caches (src/agent/cache-policy-source.ts).
 * `view` is the expensive part (every pod); callers ask for it only when they compile.
 */
export interface PolicySource {
  policies(): MultiNetworkPolicy[];
  namespaces(): NamespaceView[];
  /** One pod's labels and named ports, or undefined when the source does not know it. */
  pod(namespace: string, name: string): PodView | undefined;
  /** The cluster, with the addresses of these interfaces on this node added. */
  view(local: readonly LocalInterface[]): ClusterView;
}

export interface LocalStores {
  policyDir: string;
  podDir: string;
  cacheDir: string;
}

/** The policy store, the pod store and braid's per-container cache (`memo`: a long-lived process's parsed files). */
export function localPolicySource(stores: LocalStores, memo?: FileMemo): PolicySource {
  const store = new PolicyStore(stores.policyDir);
  let policies: MultiNetworkPolicy[] | undefined;
  let namespaces: NamespaceView[] | undefined;
  return {
    policies: () => (policies ??= store.policies()),
    namespaces: () => (namespaces ??= store.namespaces()),
    pod: (namespace, name) => readPodView(stores.podDir, namespace, name, memo),
    view: (local) => buildClusterView(stores.podDir, stores.cacheDir, local, (namespaces ??= store.namespaces()), memo),
  };
}
