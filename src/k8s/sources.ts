import type { NetworkAttachmentDefinition, PodInfo } from './types.ts';

/**
 * Where braid learns about pods. Implementations: the runtime's pod-annotations capability
 * argument, the local pod store (embedded default), and the Kubernetes API.
 */
export interface PodSource {
  /** Short name used in logs and errors, e.g. "cri-annotations", "pod-store", "kubernetes". */
  readonly kind: string;
  /** Undefined when this source does not know the pod; throws a CniError when it failed to answer. */
  getPod(namespace: string, name: string, uid?: string): Promise<PodInfo | undefined>;
}

/** Where braid reads NetworkAttachmentDefinitions: a local manifest directory or the Kubernetes API. */
export interface NadSource {
  readonly kind: string;
  /** Undefined when the NAD does not exist; throws a CniError when the source failed. */
  getNad(namespace: string, name: string): Promise<NetworkAttachmentDefinition | undefined>;
}

/** Asks each source in order and returns the first pod found. */
export async function firstPod(
  sources: readonly PodSource[],
  namespace: string,
  name: string,
  uid?: string,
): Promise<{ pod: PodInfo; source: string } | undefined> {
  for (const source of sources) {
    const pod = await source.getPod(namespace, name, uid);
    if (pod) return { pod, source: source.kind };
  }
  return undefined;
}

/** The first source that knows the NAD answers; its kind names the whole chain in errors. */
export class FirstNadSource implements NadSource {
  readonly kind: string;

  constructor(private readonly chain: readonly NadSource[]) {
    this.kind = chain.map((s) => s.kind).join(', then ');
  }

  async getNad(namespace: string, name: string): Promise<NetworkAttachmentDefinition | undefined> {
    for (const source of this.chain) {
      const nad = await source.getNad(namespace, name);
      if (nad) return nad;
    }
    return undefined;
  }
}
