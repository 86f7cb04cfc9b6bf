import { PATHS } from '../base/defaults.ts';
import fs from 'node:fs';
import path from 'node:path';
import type { DeviceInfo } from '../k8s/types.ts';

/**
 * NPWG device-info (network-attachment-definition-client's devinfo files), as Multus uses it: a
 * device plugin writes `<dir>/dp/<resource>-<deviceID>-device.json`; for each attachment with a
 * device, braid copies it to `<dir>/cni/<network>-<containerID>_<ifname>`, offers that path to the
 * delegate as runtimeConfig `CNIDeviceInfoFile` (SR-IOV, DPDK and vDPA plugins may rewrite it),
 * puts what the file then holds into network-status `device-info`, and removes it on DEL.
 */
export const DEVICE_INFO_DIR = PATHS.deviceInfoDir;
export const CNI_DEVICE_INFO_FILE = 'CNIDeviceInfoFile';

const clean = (s: string) => s.replaceAll('/', '-');

export function cniDeviceInfoPath(dir: string, network: string, containerId: string, ifname: string): string {
  return path.join(dir, 'cni', clean(`${network}-${containerId}_${ifname}`));
}

export function dpDeviceInfoPath(dir: string, resourceName: string, deviceId: string): string {
  return path.join(dir, 'dp', `${clean(resourceName)}-${clean(deviceId)}-device.json`);
}

interface WithDeviceInfo {
  capabilityArgs: Record<string, unknown>;
}

function fileOf(att: WithDeviceInfo): string | undefined {
  const file = att.capabilityArgs[CNI_DEVICE_INFO_FILE];
  return typeof file === 'string' && file !== '' ? file : undefined;
}

/** Before the delegate's ADD: the device plugin's file, if it wrote one, becomes the attachment's. */
export function copyDeviceInfo(att: WithDeviceInfo, dpFile: string | undefined): void {
  const target = fileOf(att);
  if (!target || !dpFile || !fs.existsSync(dpFile)) return;
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(dpFile, target);
}

/** What the attachment's device-info file holds after ADD (undefined without a file or with an unreadable one). */
export function readDeviceInfo(att: WithDeviceInfo): DeviceInfo | undefined {
  const file = fileOf(att);
  if (!file) return undefined;
  try {
    const doc: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    return typeof doc === 'object' && doc !== null && typeof (doc as DeviceInfo).type === 'string'
      ? (doc as DeviceInfo)
      : undefined;
  } catch {
    return undefined;
  }
}

export function removeDeviceInfo(att: WithDeviceInfo): void {
  const file = fileOf(att);
  if (file) fs.rmSync(file, { force: true });
}
