import { isIPv6 } from 'node:net';
import { CniCode, CniError } from '../cni/errors.ts';
import type { CniResult, CniRoute } from '../cni/result.ts';
import type { SandboxNet } from '../net/sandbox-net.ts';

export interface RoutedAttachment {
  network: string;
  ifname: string;
  defaultRoute?: string[];
  result?: CniResult;
}

const isDefaultDst = (dst: string, v6: boolean) =>
  v6 ? dst === '::/0' || dst === '::0/0' : dst === '0.0.0.0/0' || dst === 'default';

function ownGateways(result: CniResult | undefined): string[] {
  const all = (result?.ips ?? []).map((ip) => ip.gateway).filter((g): g is string => typeof g === 'string');
  const first = (v6: boolean) => all.find((g) => isIPv6(g) === v6);
  return [first(false), first(true)].filter((g): g is string => g !== undefined);
}

/** The attachment that asked for the default route, if any, with one gateway per family at most. */
export function defaultRouteRequest(attachments: RoutedAttachment[]): { owner: RoutedAttachment; v4?: string; v6?: string } | undefined {
  const owners = attachments.filter((a) => a.defaultRoute !== undefined);
  if (owners.length === 0) return undefined;
  if (owners.length > 1) {
    throw new CniError(
      CniCode.InvalidConfig,
      `default-route is requested by more than one network (${owners.map((o) => o.network).join(', ')}); NPWG allows one`,
    );
  }
  const owner = owners[0]!;
  // An empty list (NPWG allows it) means: through this attachment's own gateways.
  const gateways = owner.defaultRoute!.length > 0 ? owner.defaultRoute! : ownGateways(owner.result);
  const v4 = gateways.filter((g) => !isIPv6(g));
  const v6 = gateways.filter((g) => isIPv6(g));
  if (v4.length > 1 || v6.length > 1) {
    throw new CniError(
      CniCode.InvalidConfig,
      `network ${owner.network}: default-route lists more than one gateway of a family (${gateways.join(', ')}); ` +
        'braid does not install ECMP default routes',
    );
  }
  return { owner, v4: v4[0], v6: v6[0] };
}

function rewriteRoutes(result: CniResult | undefined, drop: { v4: boolean; v6: boolean }, add: CniRoute[]): void {
  if (!result) return;
  const kept = (result.routes ?? []).filter(
    (r) => !((drop.v4 && isDefaultDst(r.dst, false)) || (drop.v6 && isDefaultDst(r.dst, true))),
  );
  result.routes = [...kept, ...add];
}

/**
 * Makes the requested attachment the only default route of each requested family: deletes the
 * default routes other attachments installed (0.0.0.0/0 and ::/0 included, whatever the kernel
 * reports them as), installs the requested gateway, and rewrites the results accordingly so
 * that the runtime and the cache see what the kernel has.
 */
export async function applyDefaultRoute(netns: string, attachments: RoutedAttachment[], net: SandboxNet): Promise<void> {
  const request = defaultRouteRequest(attachments);
  if (!request) return;
  const drop = { v4: request.v4 !== undefined, v6: request.v6 !== undefined };
  const flushFrom = attachments.map((a) => a.ifname);
  const dev = request.owner.ifname;
  if (request.v4) await net.setDefaultRoute(netns, { flushFrom, family: 4, gateway: request.v4, dev });
  if (request.v6) await net.setDefaultRoute(netns, { flushFrom, family: 6, gateway: request.v6, dev });
  for (const a of attachments) {
    const add: CniRoute[] = [];
    if (a === request.owner) {
      if (request.v4) add.push({ dst: '0.0.0.0/0', gw: request.v4 });
      if (request.v6) add.push({ dst: '::/0', gw: request.v6 });
    }
    rewriteRoutes(a.result, drop, add);
  }
}
