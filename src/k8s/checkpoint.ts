import { readFile } from 'node:fs/promises';
import { CniCode, CniError } from '../base/errors.ts';
import { PATHS } from '../base/defaults.ts';

/** kubelet's device-manager checkpoint, the fallback when the PodResources socket is absent. */
export const DEVICE_CHECKPOINT = PATHS.deviceCheckpoint;

interface CheckpointEntry {
  PodUID?: unknown;
  ContainerName?: unknown;
  ResourceName?: unknown;
  DeviceIDs?: unknown;
}

/**
 * Device IDs per resource name allocated to the pod with `podUid`, across all its containers.
 * DeviceIDs is a list in kubelet before 1.20 and a map NUMA node -> list since; both are read.
 */
export function devicesFromCheckpoint(doc: unknown, podUid: string, path = DEVICE_CHECKPOINT): Map<string, string[]> {
  const entries = (doc as { Data?: { PodDeviceEntries?: unknown } } | null)?.Data?.PodDeviceEntries;
  if (entries !== undefined && entries !== null && !Array.isArray(entries)) {
    throw new CniError(CniCode.DecodeFailure, `device checkpoint ${path}: Data.PodDeviceEntries is not a list`);
  }
  const devices = new Map<string, string[]>();
  for (const entry of (entries ?? []) as CheckpointEntry[]) {
    if (entry?.PodUID !== podUid || typeof entry.ResourceName !== 'string') continue;
    const ids = deviceIdList(entry.DeviceIDs);
    if (ids.length === 0) continue;
    devices.set(entry.ResourceName, [...(devices.get(entry.ResourceName) ?? []), ...ids]);
  }
  return devices;
}

function deviceIdList(raw: unknown): string[] {
  const lists = Array.isArray(raw) ? [raw] : raw && typeof raw === 'object' ? Object.values(raw) : [];
  return lists.flatMap((list) =>
    Array.isArray(list) ? list.filter((id): id is string => typeof id === 'string') : [],
  );
}

/** Reads and parses the checkpoint file; CNI code 5 naming the file when it cannot be read. */
export async function readCheckpointDevices(path: string, podUid: string): Promise<Map<string, string[]>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = e && typeof e === 'object' && 'code' in e ? String(e.code) : String(e);
    throw new CniError(CniCode.IoFailure, `cannot read device checkpoint ${path}: ${code}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new CniError(
      CniCode.IoFailure,
      `device checkpoint ${path} is not valid JSON: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  return devicesFromCheckpoint(doc, podUid, path);
}
