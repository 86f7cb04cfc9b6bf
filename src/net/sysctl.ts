import { readFileSync, writeFileSync } from 'node:fs';
import { CniCode, CniError } from '../base/errors.ts';

/**
 * Network sysctls under /proc/sys/net. They resolve against the calling thread's network
 * namespace, so inside `withNetns` they act on the pod's namespace.
 * `key` uses dots or slashes: "net.ipv4.conf.eth0.rp_filter". Interface names may not contain
 * dots here (braid's names never do).
 */
function pathOf(key: string): string {
  return `/proc/sys/${key.replaceAll('.', '/')}`;
}

export function readSysctl(key: string): string {
  return readFileSync(pathOf(key), 'utf8').trim();
}

export function writeSysctl(key: string, value: string | number): void {
  try {
    writeFileSync(pathOf(key), String(value));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    throw new CniError(CniCode.IoFailure, `set sysctl ${key}=${value}: ${code}`);
  }
}

/** Writes only when the value differs (read-only /proc/sys in some containers still allows reads). */
export function ensureSysctl(key: string, value: string | number): void {
  if (readSysctl(key) !== String(value)) writeSysctl(key, value);
}
