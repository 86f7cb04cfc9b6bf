import { serializeNetworkStatus } from './network-status.ts';
import type { KubeClient } from './rest-client.ts';
import { ANNOTATION_NETWORK_STATUS, type NetworkStatus } from './types.ts';

/**
 * Writes k8s.v1.cni.cncf.io/network-status on ADD through the pods/status subresource. The merge
 * patch names only this annotation, so an annotation another writer set between our read and
 * write is kept (Multus' GET + UpdateStatus needed retry-on-conflict for that); a 409 is still
 * retried by the client. Returns false when the pod no longer exists, which is not an error: a
 * pod deleted during its ADD needs no status.
 */
export async function writeNetworkStatus(
  client: KubeClient,
  namespace: string,
  name: string,
  statuses: readonly NetworkStatus[],
): Promise<boolean> {
  const patched = await client.patchPodStatusAnnotations(namespace, name, {
    [ANNOTATION_NETWORK_STATUS]: serializeNetworkStatus(statuses),
  });
  return patched !== undefined;
}
