import { hostname } from 'node:os';
import type { KubeClient } from './rest-client.ts';
import type { NetworkStatus } from './types.ts';

export interface EventPod {
  namespace: string;
  name: string;
  uid?: string;
}

let sequence = 0n;

/** A core/v1 Event about a pod, named like client-go names them (`<pod>.<hex nanoseconds>`). */
export function podEvent(
  pod: EventPod,
  type: 'Normal' | 'Warning',
  reason: string,
  message: string,
  host = hostname(),
): Record<string, unknown> {
  const now = new Date();
  const stamp = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const nanos = BigInt(now.getTime()) * 1_000_000n + (sequence++ % 1_000_000n);
  const involvedObject: Record<string, unknown> = {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: pod.namespace,
    name: pod.name,
  };
  if (pod.uid) involvedObject.uid = pod.uid;
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${pod.name}.${nanos.toString(16)}`, namespace: pod.namespace },
    involvedObject,
    reason,
    message,
    type,
    source: { component: 'braid', host },
    reportingComponent: 'braid',
    reportingInstance: host,
    firstTimestamp: stamp,
    lastTimestamp: stamp,
    count: 1,
  };
}

/** Multus' wording: "Add net1 [10.1.1.5/24] from default/macvlan" (Go's %v of a string list). */
export function addedInterfaceMessage(status: NetworkStatus): string {
  return `Add ${status.interface ?? ''} [${(status.ips ?? []).join(' ')}] from ${status.name}`;
}

/**
 * One AddedInterface event per attachment. Events are a courtesy: failures are swallowed, and
 * the first failure stops the rest so a dead API server costs one timeout, not one per event.
 * Returns how many events were created.
 */
export async function recordAddedInterfaces(
  client: KubeClient,
  pod: EventPod,
  statuses: readonly NetworkStatus[],
  host?: string,
): Promise<number> {
  let created = 0;
  for (const status of statuses) {
    try {
      await client.createEvent(
        pod.namespace,
        podEvent(pod, 'Normal', 'AddedInterface', addedInterfaceMessage(status), host),
      );
      created++;
    } catch {
      break;
    }
  }
  return created;
}

/** A Warning event, e.g. NoNetworkFound when a referenced NAD does not exist; never throws. */
export async function recordWarning(
  client: KubeClient,
  pod: EventPod,
  reason: string,
  message: string,
  host?: string,
): Promise<boolean> {
  try {
    await client.createEvent(pod.namespace, podEvent(pod, 'Warning', reason, message, host));
    return true;
  } catch {
    return false;
  }
}
