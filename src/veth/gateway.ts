import { parseIp, type IpAddress, type IpFamily } from '../net/ip.ts';

/**
 * The pod's next hop, the same on every node and for every pod. Nobody owns these addresses: the
 * pod resolves them through a permanent neighbour entry to its host-side veth MAC, so the host
 * needs neither proxy ARP nor an address per veth.
 */
export const GATEWAY: Record<IpFamily, string> = { 4: '169.254.1.1', 6: 'fe80::1' };

export function gatewayOf(family: IpFamily): IpAddress {
  return parseIp(GATEWAY[family]);
}

export const DEFAULT_DST: Record<IpFamily, string> = { 4: '0.0.0.0/0', 6: '::/0' };
