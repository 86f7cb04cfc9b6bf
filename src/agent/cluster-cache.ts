import type { KubeAccess } from '../k8s/kubeconfig.ts';
import type { KubeClient, KubePod } from '../k8s/rest-client.ts';
import type { NetworkAttachmentDefinition } from '../k8s/types.ts';
import { watchAgent } from '../k8s/watch-stream.ts';
import type { MultiNetworkPolicy, NamespaceView } from '../policy/model.ts';
import { parsePolicyObject } from '../policy/parse.ts';
import { FanOutSink, KeyedCache, type KubeObject, type ObjectSink } from './object-store.ts';
import { REFLECTOR_DEFAULTS, Reflector, type ReflectorOptions, type ResourceSpec } from './reflector.ts';
import { localPod, namespaceView, slimPod, trimmedNad, type SlimPod } from './trim.ts';

/**
 * The cluster as the agent holds it: NADs, this node's pods (for ADD), and, for policy, every
 * pod's labels and addresses, namespaces' labels and MultiNetworkPolicies. One reflector per
 * resource; pods are watched once and kept two ways.
 */
export interface ClusterCacheOptions {
  nodeName: string;
  /** Watch MultiNetworkPolicies, namespaces and every pod (policy peers); else only this node's pods. */
  policy: boolean;
  /** Something policy depends on changed (after the first full list of that resource). */
  onPolicyInputChange?: (resource: string) => void;
  log: (line: string) => void;
  reflector?: Partial<Omit<ReflectorOptions, 'log'>>;
}

/** A MultiNetworkPolicy as read from the API: parsed, or why it could not be. */
export type CachedPolicy = { policy: MultiNetworkPolicy } | { error: string };

export const POLICY_API_VERSION = 'k8s.cni.cncf.io/v1beta1';

export const RESOURCE_PATHS = {
  pods: '/api/v1/pods',
  namespaces: '/api/v1/namespaces',
  nads: '/apis/k8s.cni.cncf.io/v1/network-attachment-definitions',
  policies: `/apis/${POLICY_API_VERSION}/multi-networkpolicies`,
} as const;

function parsedPolicy(obj: KubeObject): CachedPolicy {
  // Items of a list may come without apiVersion and kind.
  const doc = { apiVersion: POLICY_API_VERSION, kind: 'MultiNetworkPolicy', ...obj };
  try {
    return { policy: parsePolicyObject(doc, 'Kubernetes API') };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

export class ClusterCache {
  readonly nads: KeyedCache<NetworkAttachmentDefinition>;
  readonly localPods: KeyedCache<KubePod>;
  readonly pods: KeyedCache<SlimPod>;
  readonly namespaces: KeyedCache<NamespaceView>;
  readonly policies: KeyedCache<CachedPolicy>;
  readonly reflectors: Reflector[] = [];

  constructor(client: KubeClient, access: KubeAccess, opts: ClusterCacheOptions) {
    const notify = (resource: string) => () => {
      if (this.reflectors.find((r) => r.spec.name === resource)?.health.synced) opts.onPolicyInputChange?.(resource);
    };
    this.nads = new KeyedCache({ convert: trimmedNad });
    this.localPods = new KeyedCache({ convert: localPod(opts.nodeName) });
    this.pods = new KeyedCache({ convert: slimPod, onChange: notify('pods') });
    this.namespaces = new KeyedCache({ convert: namespaceView, onChange: notify('namespaces') });
    this.policies = new KeyedCache({
      convert: parsedPolicy,
      onChange: (key, _before, after) => {
        if (after && 'error' in after) opts.log(`MultiNetworkPolicy ${key} is ignored: ${after.error}`);
        notify('policies')();
      },
    });
    const agent = watchAgent(access);
    const reflectorOpts: ReflectorOptions = { ...REFLECTOR_DEFAULTS, ...opts.reflector, log: opts.log };
    const add = (spec: ResourceSpec, sink: ObjectSink) =>
      this.reflectors.push(new Reflector(spec, sink, client, access, agent, reflectorOpts));
    add({ name: 'nads', path: RESOURCE_PATHS.nads }, this.nads);
    if (opts.policy) {
      add({ name: 'pods', path: RESOURCE_PATHS.pods }, new FanOutSink([this.pods, this.localPods]));
      add({ name: 'namespaces', path: RESOURCE_PATHS.namespaces }, this.namespaces);
      add({ name: 'policies', path: RESOURCE_PATHS.policies }, this.policies);
    } else {
      const query = { fieldSelector: `spec.nodeName=${opts.nodeName}` };
      add({ name: 'pods', path: RESOURCE_PATHS.pods, query }, new FanOutSink([this.pods, this.localPods]));
    }
  }

  start(): void {
    for (const r of this.reflectors) r.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.reflectors.map((r) => r.stop()));
  }

  /** Undefined once every resource was listed; else which are still missing. */
  notSynced(): string | undefined {
    const missing = this.reflectors.filter((r) => !r.health.synced).map((r) => r.spec.name);
    return missing.length === 0 ? undefined : `not yet listed from the API server: ${missing.join(', ')}`;
  }

  whenSynced(): Promise<void> {
    return Promise.all(this.reflectors.map((r) => r.whenSynced())).then(() => undefined);
  }

  validPolicies(): MultiNetworkPolicy[] {
    const out: MultiNetworkPolicy[] = [];
    for (const p of this.policies.values()) if ('policy' in p) out.push(p.policy);
    return out;
  }
}
