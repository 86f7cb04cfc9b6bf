import { CniCode, CniError } from '../base/errors.ts';
import type { PodSource } from './sources.ts';
import { CAPABILITY_POD_ANNOTATIONS, type PodInfo } from './types.ts';

/** The pod a CNI request is for, from CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID). */
export interface RequestPod {
  namespace: string;
  name: string;
  uid?: string;
}

/** The capability value as a map of strings; a malformed value is the runtime's error, code 7. */
function annotationMap(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CniError(
      CniCode.InvalidConfig,
      `runtimeConfig["${CAPABILITY_POD_ANNOTATIONS}"] must be a map of strings (got ${JSON.stringify(value)})`,
    );
  }
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') {
      throw new CniError(
        CniCode.InvalidConfig,
        `runtimeConfig["${CAPABILITY_POD_ANNOTATIONS}"]["${key}"] must be a string (got ${JSON.stringify(v)})`,
      );
    }
  }
  return value as Record<string, string>;
}

/**
 * The pod's annotations as containerd (go-cni WithCapability) and CRI-O (ocicni PodAnnotations)
 * pass them in `runtimeConfig["io.kubernetes.cri.pod-annotations"]` when braid's conf declares
 * that capability. The value belongs to one request, so this source answers only for that
 * request's pod (when `pod` is given, only for a matching namespace/name/uid) and knows no labels.
 */
export class CriAnnotationsSource implements PodSource {
  readonly kind = 'cri-annotations';
  private readonly value: unknown;

  constructor(
    runtimeConfig: Record<string, unknown> | undefined,
    private readonly pod?: RequestPod,
  ) {
    this.value = runtimeConfig?.[CAPABILITY_POD_ANNOTATIONS];
  }

  /** Whether the runtime sent pod annotations at all (capability declared and supported). */
  get available(): boolean {
    return this.value !== undefined && this.value !== null;
  }

  async getPod(namespace: string, name: string, uid?: string): Promise<PodInfo | undefined> {
    if (!this.available) return undefined;
    if (this.pod && (namespace !== this.pod.namespace || name !== this.pod.name)) return undefined;
    if (uid && this.pod?.uid && uid !== this.pod.uid) return undefined;
    const info: PodInfo = { namespace, name, labels: {}, annotations: { ...annotationMap(this.value) } };
    const knownUid = uid ?? this.pod?.uid;
    if (knownUid) info.uid = knownUid;
    return info;
  }
}
