import { isErrno } from '../net/errno.ts';
import { formatIp, parseIp, type IpPrefix } from '../net/ip.ts';
import { pinDir } from './datapath.ts';
import { EP_F_SLOWPATH, EndpointMaps, zeroStats, type Endpoint, type EndpointKey } from './endpoint-map.ts';

export interface EndpointEntry {
  owner: bigint;
  ifindex: number;
  podMac: string;
  hostMac: string;
  addresses: IpPrefix[];
  fastPath: boolean;
}

/** Records the pod in the datapath maps: one endpoint entry per address, zeroed counters. */
export function registerEndpoint(bpfRoot: string, e: EndpointEntry): void {
  const maps = EndpointMaps.open(pinDir(bpfRoot));
  try {
    const value: Endpoint = {
      ifindex: e.ifindex,
      flags: e.fastPath ? 0 : EP_F_SLOWPATH,
      podMac: e.podMac,
      hostMac: e.hostMac,
      owner: e.owner,
    };
    // Entries first: a failure after them leaves entries that name their ifindex, so teardown
    // still finds the counters to remove.
    for (const a of e.addresses) maps.endpoints.update({ family: a.family, address: formatIp(a.bytes) }, value);
    maps.stats.update(e.ifindex, zeroStats());
  } finally {
    maps.close();
  }
}

/**
 * Removes every endpoint entry of `owner` and the counters of their host ifindexes (plus
 * `ifindexes`, e.g. from the state record). A datapath that was never loaded has nothing to remove.
 */
export function unregisterEndpoint(bpfRoot: string, owner: bigint, ifindexes: number[] = []): void {
  let maps: EndpointMaps;
  try {
    maps = EndpointMaps.open(pinDir(bpfRoot));
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return;
    throw e;
  }
  try {
    const stale = new Set(ifindexes);
    for (const [key, ep] of maps.endpointsOf(owner)) {
      maps.endpoints.delete(key);
      stale.add(ep.ifindex);
    }
    for (const ifindex of stale) if (ifindex > 0) maps.stats.delete(ifindex);
  } finally {
    maps.close();
  }
}

/** Entries for these addresses, as CHECK and the tests read them. */
export function lookupEndpoints(bpfRoot: string, addresses: string[]): Map<string, Endpoint | undefined> {
  const maps = EndpointMaps.open(pinDir(bpfRoot));
  try {
    return new Map(
      addresses.map((a) => {
        const ip = parseIp(a.split('/')[0] ?? a);
        const key: EndpointKey = { family: ip.family, address: formatIp(ip.bytes) };
        return [a, maps.endpoints.lookup(key)];
      }),
    );
  } finally {
    maps.close();
  }
}

/** Every owner id present in the endpoint map (GC). */
export function endpointOwners(bpfRoot: string): Set<bigint> {
  let maps: EndpointMaps;
  try {
    maps = EndpointMaps.open(pinDir(bpfRoot));
  } catch (e) {
    if (isErrno(e, 'ENOENT')) return new Set();
    throw e;
  }
  try {
    return new Set(maps.endpoints.entries().map(([, ep]) => ep.owner));
  } finally {
    maps.close();
  }
}
