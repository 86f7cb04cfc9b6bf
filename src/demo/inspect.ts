import { existsSync, readdirSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { PodStore } from '../k8s/pod-store.ts';
import { ANNOTATION_NETWORK_STATUS, type NetworkStatus } from '../k8s/types.ts';
import type { DemoNetns, IpLink, IpRoute } from './netns.ts';
import { plainFiles } from './workspace.ts';

/** What the demo reads back from the kernel and from braid's files. */

export interface InterfaceRow {
  ifname: string;
  kind: string;
  state: string;
  mac: string;
  addresses: string[];
}

/** The pod's interfaces except loopback; link-local IPv6 addresses left out as noise. */
export async function podInterfaces(ns: DemoNetns): Promise<InterfaceRow[]> {
  const links: IpLink[] = await ns.links();
  return links
    .filter((l) => l.ifname !== 'lo')
    .map((l) => ({
      ifname: l.ifname,
      kind: l.linkinfo?.info_kind ?? '-',
      state: l.operstate,
      mac: l.address ?? '-',
      addresses: (l.addr_info ?? []).filter((a) => a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`),
    }));
}

export function describeRoute(r: IpRoute): string {
  return [r.dst, r.gateway ? `via ${r.gateway}` : '', r.dev ? `dev ${r.dev}` : ''].filter(Boolean).join(' ');
}

export async function podRoutes(ns: DemoNetns): Promise<string[]> {
  return (await ns.routes()).map(describeRoute);
}

/** The network-status annotation braid wrote into the pod store's manifest. */
export async function networkStatusOf(
  podDir: string,
  namespace: string,
  name: string,
): Promise<{ raw?: string; entries: NetworkStatus[] }> {
  const pod = await new PodStore(podDir).getPod(namespace, name);
  const raw = pod?.annotations[ANNOTATION_NETWORK_STATUS];
  if (raw === undefined) return { entries: [] };
  return { raw, entries: JSON.parse(raw) as NetworkStatus[] };
}

/** host-local keeps one file per reserved address, named after it, in <dataDir>/<network>/. */
export function hostLocalReservations(ipamDir: string): string[] {
  if (!existsSync(ipamDir)) return [];
  return readdirSync(ipamDir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .flatMap((e) =>
      plainFiles(path.join(ipamDir, e.name))
        .filter((f) => isIP(f) !== 0)
        .map((f) => `${e.name}/${f}`),
    );
}

/** braid's per-container records: every file at the top of cniDir (versions/ holds plugin versions). */
export function cacheRecords(cacheDir: string): string[] {
  return plainFiles(cacheDir);
}
