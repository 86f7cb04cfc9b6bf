import { isIPv6 } from 'node:net';
import { CniCode, CniError } from '../base/errors.ts';
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

export interface DefaultRouteRequest {
  v4?: { owner: RoutedAttachment; gw: string };
  v6?: { owner: RoutedAttachment; gw: string };
}

/**
 * Who gets each family's default route. NPWG puts `default-route` on one element; Multus also
 * takes it on several as long as no family has two gateways (dual-stack pods: the IPv4 gateway on
 * one network, the IPv6 one on another), and so does braid unless `strict` (checked when the
 * annotation is parsed).
 */
export function defaultRouteRequest(attachments: RoutedAttachment[]): DefaultRouteRequest | undefined {
  const owners = attachments.filter((a) => a.defaultRoute !== undefined);
  if (owners.length === 0) return undefined;
  const request: DefaultRouteRequest = {};
  for (const owner of owners) {
    // An empty list (NPWG allows it) means: through this attachment's own gateways.
    const gateways = owner.defaultRoute!.length > 0 ? owner.defaultRoute! : ownGateways(owner.result);
    const byFamily = { v4: gateways.filter((g) => !isIPv6(g)), v6: gateways.filter((g) => isIPv6(g)) };
    for (const family of ['v4', 'v6'] as const) {
      const [gw, ...more] = byFamily[family];
      if (!gw) continue;
      const earlier = request[family];
      if (more.length > 0 || earlier) {
        const who = earlier ? `${earlier.owner.network}, ${owner.network}` : owner.network;
        throw new CniError(
          CniCode.InvalidConfig,
          `default-route: more than one IP${family} gateway (${[earlier?.gw, ...gateways].filter(Boolean).join(', ')}) requested by ${who}; ` +
            'braid does not install ECMP default routes',
        );
      }
      request[family] = { owner, gw };
    }
  }
  return request;
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
export async function applyDefaultRoute(
  netns: string,
  attachments: RoutedAttachment[],
  net: SandboxNet,
): Promise<void> {
  const request = defaultRouteRequest(attachments);
  if (!request) return;
  const drop = { v4: request.v4 !== undefined, v6: request.v6 !== undefined };
  const flushFrom = attachments.map((a) => a.ifname);
  if (request.v4)
    await net.setDefaultRoute(netns, { flushFrom, family: 4, gateway: request.v4.gw, dev: request.v4.owner.ifname });
  if (request.v6)
    await net.setDefaultRoute(netns, { flushFrom, family: 6, gateway: request.v6.gw, dev: request.v6.owner.ifname });
  for (const a of attachments) {
    const add: CniRoute[] = [];
    if (request.v4?.owner === a) add.push({ dst: '0.0.0.0/0', gw: request.v4.gw });
    if (request.v6?.owner === a) add.push({ dst: '::/0', gw: request.v6.gw });
    rewriteRoutes(a.result, drop, add);
  }
}
