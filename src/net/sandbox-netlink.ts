import { CniCode, CniError } from '../base/errors.ts';
import type { DefaultRouteChange, SandboxNet } from './sandbox-net.ts';
import { parseIp, parsePrefix } from './ip.ts';
import { findLink, listLinks } from './links.ts';
import { withNetlink } from './netlink-socket.ts';
import { deleteRoute, listRoutes, replaceRoute, RT_TABLE_MAIN } from './routes.ts';

/**
 * braid-agent's SandboxNet: rtnetlink sockets opened in the pod's namespace from this process
 * (setns on a helper thread, see netlink-socket.ts), so an ADD spawns nothing but its delegates.
 */
function setDefaultRouteNow(netns: string, c: DefaultRouteChange): void {
  withNetlink(netns, (sock) => {
    const links = listLinks(sock);
    const flushed = new Set(links.filter((l) => c.flushFrom.includes(l.name)).map((l) => l.index));
    const dev = findLink(sock, c.dev);
    if (!dev)
      throw new CniError(CniCode.IoFailure, `default route via ${c.gateway}: no interface ${c.dev} in ${netns}`);
    const dst = parsePrefix(c.family === 4 ? '0.0.0.0/0' : '::/0');
    for (const r of listRoutes(sock, c.family)) {
      if (r.table !== RT_TABLE_MAIN || r.oif === undefined || !flushed.has(r.oif)) continue;
      if (r.dst !== (c.family === 4 ? '0.0.0.0/0' : '::/0')) continue;
      deleteRoute(sock, { family: c.family, dst, oif: r.oif, ...(r.gateway ? { gateway: parseIp(r.gateway) } : {}) });
    }
    replaceRoute(sock, { family: c.family, dst, gateway: parseIp(c.gateway), oif: dev.index });
  });
}

export const netlinkSandboxNet: SandboxNet = {
  async linkNames(netns) {
    try {
      return withNetlink(netns, (sock) => new Set(listLinks(sock).map((l) => l.name)));
    } catch (e) {
      throw new CniError(
        CniCode.InvalidEnv,
        `cannot list the interfaces (CNI_NETNS) of ${netns}: ${(e as Error).message}`,
      );
    }
  },
  async setDefaultRoute(netns, change) {
    try {
      setDefaultRouteNow(netns, change);
    } catch (e) {
      if (e instanceof CniError) throw e;
      throw new CniError(
        CniCode.IoFailure,
        `cannot set the IPv${change.family} default route via ${change.gateway} dev ${change.dev} in ${netns}: ${(e as Error).message}`,
      );
    }
  },
};
