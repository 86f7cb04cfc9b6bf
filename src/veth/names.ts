import { createHash, randomBytes } from 'node:crypto';
import { formatMac } from '../net/ip.ts';

const IFNAMSIZ_MAX = 15;

function digest(containerId: string, ifname: string): Buffer {
  return createHash('sha256').update(`${containerId}/${ifname}`).digest();
}

/**
 * The host-side veth name: prefix + hex hash of (containerID, ifname), 15 characters. Stable, so
 * DEL finds the device (and its pins) again even when the pod's namespace is gone.
 */
export function hostVethName(prefix: string, containerId: string, ifname: string): string {
  return (
    prefix +
    digest(containerId, ifname)
      .toString('hex')
      .slice(0, IFNAMSIZ_MAX - prefix.length)
  );
}

/** 64-bit id of an attachment, stored in each endpoint-map entry it owns. */
export function ownerId(containerId: string, ifname: string): bigint {
  return digest(containerId, ifname).readBigUInt64BE(16) || 1n;
}

/** A random locally administered unicast MAC (systemd would rewrite a zero/kernel-chosen one). */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = ((b[0] ?? 0) & 0xfc) | 0x02;
  return formatMac(b);
}
