import { CniCode, CniError } from '../base/errors.ts';
import type { KubeClient, KubePod } from './rest-client.ts';
import type { NadSource, PodSource } from './sources.ts';
import type { NetworkAttachmentDefinition, PodInfo } from './types.ts';

export const ANNOTATION_CONFIG_SOURCE = 'kubernetes.io/config.source';
export const ANNOTATION_CONFIG_MIRROR = 'kubernetes.io/config.mirror';

/**
 * A static pod is known to the API server only through its mirror pod, whose UID differs from
 * the one kubelet passes in K8S_POD_UID; such a pod must not fail the UID check.
 */
export function isStaticOrMirrorPod(annotations: Record<string, string>): boolean {
  if (annotations[ANNOTATION_CONFIG_MIRROR] !== undefined) return true;
  const source = annotations[ANNOTATION_CONFIG_SOURCE];
  return source !== undefined && source !== 'api';
}

export function podInfoFromKubePod(pod: KubePod, namespace: string): PodInfo {
  const info: PodInfo = {
    namespace: pod.metadata.namespace ?? namespace,
    name: pod.metadata.name,
    labels: { ...(pod.metadata.labels ?? {}) },
    annotations: { ...(pod.metadata.annotations ?? {}) },
  };
  if (pod.metadata.uid) info.uid = pod.metadata.uid;
  return info;
}

/** Pods read from the Kubernetes API, checked against the UID kubelet passed (K8S_POD_UID). */
export class KubePodSource implements PodSource {
  readonly kind = 'kubernetes';

  constructor(private readonly client: KubeClient) {}

  async getPod(namespace: string, name: string, uid?: string): Promise<PodInfo | undefined> {
    const pod = await this.client.getPod(namespace, name);
    if (!pod) return undefined;
    const info = podInfoFromKubePod(pod, namespace);
    if (uid && info.uid && info.uid !== uid && !isStaticOrMirrorPod(info.annotations)) {
      throw new CniError(
        CniCode.UnknownContainer,
        `pod ${namespace}/${name} in the Kubernetes API has UID ${info.uid}, but the runtime asked for UID ${uid} (K8S_POD_UID): the pod was deleted and re-created under the same name`,
      );
    }
    return info;
  }
}

/**
 * NetworkAttachmentDefinitions read from the Kubernetes API. Answers, "not found" included, are
 * kept for the life of the process so one ADD asks for each distinct NAD once; failures are not
 * kept, so a later call can try again.
 */
export class KubeNadSource implements NadSource {
  readonly kind = 'kubernetes';
  private readonly cache = new Map<string, Promise<NetworkAttachmentDefinition | undefined>>();

  constructor(private readonly client: KubeClient) {}

  getNad(namespace: string, name: string): Promise<NetworkAttachmentDefinition | undefined> {
    const key = `${namespace}/${name}`;
    let answer = this.cache.get(key);
    if (!answer) {
      answer = this.client.getNad(namespace, name).then((nad) => {
        if (nad && nad.kind !== undefined && nad.kind !== 'NetworkAttachmentDefinition') {
          throw new CniError(
            CniCode.DecodeFailure,
            `the Kubernetes API returned a ${String(nad.kind)} for NetworkAttachmentDefinition ${key}`,
          );
        }
        return nad;
      });
      answer.catch(() => this.cache.delete(key));
      this.cache.set(key, answer);
    }
    return answer;
  }

  /** Forgets cached answers (the long-lived agent calls this when its watch reports a change). */
  forget(namespace?: string, name?: string): void {
    if (namespace === undefined) this.cache.clear();
    else this.cache.delete(`${namespace}/${name ?? ''}`);
  }
}
