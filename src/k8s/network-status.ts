import { CniCode, CniError } from '../base/errors.ts';
import type { CniInterface, CniResult } from '../cni/result.ts';
import type { DeviceInfo, NetworkStatus } from './types.ts';

export interface NetworkStatusOptions {
  /** True for the cluster (default) network's attachment. */
  isDefault: boolean;
  /** The gateways the selection asked for with `default-route` (NPWG 4.1.2). */
  defaultRoute?: string[];
  deviceInfo?: DeviceInfo;
  /** The pod's netns; lets an interface without `sandbox` named like the attachment count as the pod's. */
  netns?: string;
}

function withoutPrefix(address: string): string {
  const slash = address.indexOf('/');
  return slash < 0 ? address : address.slice(0, slash);
}

function isDefaultDst(dst: string): boolean {
  return dst === '0.0.0.0/0' || dst === '::/0';
}

/** Pod-side interfaces with their index in `result.interfaces`. */
function podInterfaces(result: CniResult, ifname: string, netns: string | undefined): [CniInterface, number][] {
  const all = (result.interfaces ?? []).map((iface, i) => [iface, i] as [CniInterface, number]);
  const sandboxed = all.filter(([iface]) => iface.sandbox);
  if (sandboxed.length > 0 || !netns) return sandboxed;
  return all.filter(([iface]) => iface.name === ifname);
}

function dnsOf(result: CniResult): NonNullable<NetworkStatus['dns']> {
  const dns: NonNullable<NetworkStatus['dns']> = {};
  if (result.dns?.nameservers?.length) dns.nameservers = result.dns.nameservers;
  if (result.dns?.domain) dns.domain = result.dns.domain;
  if (result.dns?.search?.length) dns.search = result.dns.search;
  return dns;
}

/**
 * Builds the network-status entries of one attachment (NPWG section 5, Multus v4.1+): one entry
 * per pod-side interface of the result, keys in Multus' order. `gateway` lists the gateways of
 * the result's default routes, as Multus (network-attachment-definition-client) fills it. With
 * no result or no pod-side interface the entry is minimal: name, interface, default (plus the
 * result's addresses, when there is a result).
 */
export function networkStatusEntries(
  network: string,
  ifname: string,
  result: CniResult | undefined,
  opts: NetworkStatusOptions,
): NetworkStatus[] {
  if (!result) return [finish({ name: network, interface: ifname, default: opts.isDefault }, true, opts)];

  const gateways = (result.routes ?? []).filter((r) => isDefaultDst(r.dst) && r.gw).map((r) => r.gw!);
  const dns = dnsOf(result);
  const unindexed = (result.ips ?? [])
    .filter((ip) => ip.interface === undefined)
    .map((ip) => withoutPrefix(ip.address));
  const ifaces = podInterfaces(result, ifname, opts.netns);

  if (ifaces.length === 0) {
    const ips = (result.ips ?? []).map((ip) => withoutPrefix(ip.address));
    const entry = { name: network, interface: ifname } as NetworkStatus;
    if (ips.length > 0) entry.ips = ips;
    entry.default = opts.isDefault;
    entry.dns = dns;
    if (gateways.length > 0) entry.gateway = gateways;
    return [finish(entry, true, opts)];
  }

  const mainIndex = Math.max(
    0,
    ifaces.findIndex(([iface]) => iface.name === ifname),
  );
  return ifaces.map(([iface, index], position) => {
    const isMain = position === mainIndex;
    const indexed = (result.ips ?? []).filter((ip) => ip.interface === index).map((ip) => withoutPrefix(ip.address));
    const ips = indexed.length > 0 ? indexed : isMain ? unindexed : [];
    const entry: NetworkStatus = { name: network, interface: iface.name } as NetworkStatus;
    if (ips.length > 0) entry.ips = ips;
    if (iface.mac) entry.mac = iface.mac;
    if (iface.mtu) entry.mtu = iface.mtu;
    entry.default = opts.isDefault && isMain;
    entry.dns = dns;
    if (gateways.length > 0) entry.gateway = gateways;
    return finish(entry, isMain, opts);
  });
}

function finish(entry: NetworkStatus, isMain: boolean, opts: NetworkStatusOptions): NetworkStatus {
  if (isMain && opts.defaultRoute && opts.defaultRoute.length > 0) entry['default-route'] = opts.defaultRoute;
  if (isMain && opts.deviceInfo) entry['device-info'] = opts.deviceInfo;
  return entry;
}

/** Problems that make a network-status list invalid under NPWG section 5; empty when it is valid. */
export function networkStatusProblems(entries: readonly NetworkStatus[]): string[] {
  const problems: string[] = [];
  const defaults = entries.filter((e) => e.default === true).length;
  if (defaults !== 1) problems.push(`exactly one entry must have "default": true (found ${defaults})`);
  entries.forEach((e, i) => {
    if (!e.name) problems.push(`entry ${i} has no "name"`);
    if (typeof e.default !== 'boolean') problems.push(`entry ${i} (${e.name}) has no boolean "default"`);
    if (e.mac && !e.interface) problems.push(`entry ${i} (${e.name}) has "mac" without "interface"`);
  });
  return problems;
}

/** Throws when the list breaks NPWG section 5; a failure here is a bug in braid, hence braid's Internal code (104). */
export function assertNetworkStatus(entries: readonly NetworkStatus[]): void {
  const problems = networkStatusProblems(entries);
  if (problems.length > 0) {
    throw new CniError(CniCode.Internal, `network-status annotation would be invalid: ${problems.join('; ')}`);
  }
}

/** The annotation value, indented like Multus writes it (json.MarshalIndent with four spaces). */
export function serializeNetworkStatus(entries: readonly NetworkStatus[]): string {
  return JSON.stringify(entries, null, 4);
}

/** Reads an annotation value written by braid or Multus; code 6 when it is not a JSON list. */
export function parseNetworkStatus(value: string): NetworkStatus[] {
  let doc: unknown;
  try {
    doc = JSON.parse(value);
  } catch (e) {
    throw new CniError(CniCode.DecodeFailure, `network-status annotation is not valid JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(doc)) throw new CniError(CniCode.DecodeFailure, 'network-status annotation is not a JSON list');
  return doc as NetworkStatus[];
}
