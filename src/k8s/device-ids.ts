import { stat } from 'node:fs/promises';
import { CniCode, CniError } from '../base/errors.ts';
import type { Leniency } from '../base/leniency.ts';
import { DEVICE_CHECKPOINT, readCheckpointDevices } from './checkpoint.ts';
import { PATHS } from '../base/defaults.ts';

/** kubelet's PodResources API socket (gRPC, package v1). */
export const POD_RESOURCES_SOCKET = PATHS.podResourcesSocket;

export interface DeviceLookupOptions {
  socketPath?: string;
  checkpointPath?: string;
  /** Bound on the PodResources call (Multus: 10 s). */
  timeoutMs?: number;
  /** K8S_POD_UID: the checkpoint file knows pods only by UID. */
  podUid?: string;
}

/**
 * Device IDs per resource name that kubelet's device plugins gave the pod: from the
 * PodResources API when its socket exists, else (or when it fails) from the device-manager
 * checkpoint. Call once per ADD: the List answer covers every pod on the node.
 */
export async function devicesForPod(
  namespace: string,
  name: string,
  opts: DeviceLookupOptions = {},
): Promise<Map<string, string[]>> {
  const socketPath = opts.socketPath ?? POD_RESOURCES_SOCKET;
  const checkpointPath = opts.checkpointPath ?? DEVICE_CHECKPOINT;
  let apiProblem: string;
  if (await isSocket(socketPath)) {
    try {
      // gRPC takes ~100 ms to load: only pods with device-plugin NADs pay for it.
      const { devicesOfPod, listPodResources } = await import('./pod-resources.ts');
      return devicesOfPod(await listPodResources(socketPath, opts.timeoutMs ?? 10_000), namespace, name);
    } catch (e) {
      apiProblem = e instanceof Error ? e.message : String(e);
    }
  } else {
    apiProblem = 'socket does not exist';
  }
  const prefix = `cannot learn the devices of pod ${namespace}/${name}: PodResources API ${socketPath}: ${apiProblem}`;
  if (!opts.podUid) {
    throw new CniError(
      CniCode.IoFailure,
      `${prefix}; the checkpoint ${checkpointPath} needs the pod UID, and K8S_POD_UID was not given`,
    );
  }
  try {
    return await readCheckpointDevices(checkpointPath, opts.podUid);
  } catch (e) {
    throw new CniError(CniCode.IoFailure, `${prefix}; ${e instanceof Error ? e.message : String(e)}`);
  }
}

async function isSocket(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isSocket();
  } catch {
    return false;
  }
}

export interface DeviceRequest {
  /** The attachment's position in the plan. */
  index: number;
  /** The NAD's k8s.v1.cni.cncf.io/resourceName, if any. */
  resourceName?: string;
  /** `ns/name` of the NAD, for error messages. */
  network?: string;
}

/**
 * Deals each resource's device IDs, sorted (Multus #1481), to the attachments that name it, in
 * plan order: two NADs sharing one resource get the first and second ID. Returns index ->
 * device ID; fails naming the resource when the pod has fewer devices than attachments need.
 */
export function assignDeviceIds(
  attachments: readonly DeviceRequest[],
  devices: ReadonlyMap<string, readonly string[]>,
  lenient?: Leniency,
): Map<number, string> {
  const sorted = new Map<string, string[]>();
  const dealt = new Map<string, number>();
  const assigned = new Map<number, string>();
  for (const a of [...attachments].sort((x, y) => x.index - y.index)) {
    if (!a.resourceName) continue;
    let ids = sorted.get(a.resourceName);
    if (!ids) {
      ids = [...(devices.get(a.resourceName) ?? [])].sort();
      sorted.set(a.resourceName, ids);
    }
    const next = dealt.get(a.resourceName) ?? 0;
    const id = ids[next];
    if (id === undefined) {
      const wanting = attachments.filter((x) => x.resourceName === a.resourceName).length;
      const problem = `needs a device of resource ${a.resourceName}, but the pod was allocated ${ids.length} and ${wanting} attachment(s) use that resource; request ${a.resourceName}: ${wanting} in the pod's container resources`;
      if (!lenient || lenient.strict)
        throw new CniError(CniCode.InvalidConfig, `attachment ${a.network ?? `#${a.index}`} ${problem}`);
      // Multus goes on without a deviceID (KubeVirt's bridge-marker resources name no device).
      lenient.accept(
        `network ${a.network ?? `#${a.index}`} k8s.v1.cni.cncf.io/resourceName`,
        problem,
        'started without a deviceID',
      );
      continue;
    }
    dealt.set(a.resourceName, next + 1);
    assigned.set(a.index, id);
  }
  return assigned;
}
