import { addAddress, IFA_F_NODAD, listAddresses } from '../net/addrs.ts';
import { formatIp, formatMac, parseMac, parsePrefix, type IpFamily, type IpPrefix } from '../net/ip.ts';
import { findLink, setLinkUp, type Link } from '../net/links.ts';
import { listNeighbors, NUD_PERMANENT, setPermanentNeighbor } from '../net/neigh.ts';
import { NetlinkSocket } from '../net/netlink-socket.ts';
import { withNetns } from '../net/netns.ts';
import { addRoute, listRoutes, RT_SCOPE_LINK, RT_TABLE_MAIN } from '../net/routes.ts';
import { readSysctl, writeSysctl } from '../net/sysctl.ts';
import { GATEWAY, gatewayOf } from './gateway.ts';

export interface PodPlan {
  netns: string;
  ifname: string;
  /** Pod addresses with full-length prefixes (/32, /128). */
  addresses: IpPrefix[];
  /** Destinations routed via the gateway, per family present in `addresses`. */
  routes: IpPrefix[];
  hostMac: string;
}

function familiesOf(addresses: IpPrefix[]): IpFamily[] {
  return [...new Set(addresses.map((a) => a.family))];
}

/**
 * Inside the pod's namespace: interface up, addresses (IPv6 without DAD), the gateway as a
 * permanent neighbour → host-side MAC, `gw/32 scope link` (IPv4; fe80::1 is on-link by
 * definition) and the routes via the gateway. Synchronous: runs entirely inside withNetns.
 */
export function configurePod(plan: PodPlan): Link {
  return withNetns(plan.netns, () => {
    const sock = NetlinkSocket.open(`netns ${plan.netns}`);
    try {
      const link = findLink(sock, plan.ifname);
      if (!link) throw new Error(`interface ${plan.ifname} did not appear in ${plan.netns}`);
      const families = familiesOf(plan.addresses);
      if (families.includes(6) && readSysctl(`net.ipv6.conf.${plan.ifname}.disable_ipv6`) !== '0') {
        writeSysctl(`net.ipv6.conf.${plan.ifname}.disable_ipv6`, 0);
      }
      setLinkUp(sock, link);
      for (const a of plan.addresses) addAddress(sock, link.index, a, a.family === 6 ? IFA_F_NODAD : 0);
      for (const family of families) {
        const gw = gatewayOf(family);
        setPermanentNeighbor(sock, link.index, gw, parseMac(plan.hostMac));
        if (family === 4) {
          addRoute(sock, { family, dst: { ...gw, prefixLen: 32 }, oif: link.index, scope: RT_SCOPE_LINK });
        }
      }
      for (const dst of plan.routes)
        addRoute(sock, { family: dst.family, dst, gateway: gatewayOf(dst.family), oif: link.index });
      return link;
    } finally {
      sock.close();
    }
  });
}

export interface PodState {
  link?: Link;
  addresses: string[];
  /** "dst via gw" for every main-table route on the interface. */
  routes: string[];
  /** "ip mac" of permanent neighbours on the interface. */
  neighbors: string[];
}

/** What CHECK compares with the ADD result. */
export function inspectPod(netns: string, ifname: string): PodState {
  return withNetns(netns, () => {
    const sock = NetlinkSocket.open(`netns ${netns}`);
    try {
      const link = findLink(sock, ifname);
      if (!link) return { addresses: [], routes: [], neighbors: [] };
      const addresses = listAddresses(sock, link.index).map((a) => `${a.address}/${a.prefixLen}`);
      const routes: string[] = [];
      const neighbors: string[] = [];
      for (const family of [4, 6] as const) {
        for (const r of listRoutes(sock, family)) {
          if (r.oif === link.index && r.table === RT_TABLE_MAIN)
            routes.push(r.gateway ? `${r.dst} via ${r.gateway}` : r.dst);
        }
        for (const n of listNeighbors(sock, family, link.index)) {
          if (n.state & NUD_PERMANENT) neighbors.push(`${n.ip} ${n.mac ?? ''}`);
        }
      }
      return { link, addresses, routes, neighbors };
    } finally {
      sock.close();
    }
  });
}

export function expectedGatewayNeighbor(family: IpFamily, hostMac: string): string {
  return `${GATEWAY[family]} ${formatMac(parseMac(hostMac))}`;
}

export function prefixText(p: IpPrefix): string {
  return `${formatIp(p.bytes)}/${p.prefixLen}`;
}

export function hostPrefix(address: string): IpPrefix {
  const p = parsePrefix(address);
  return { ...p, prefixLen: p.family === 4 ? 32 : 128 };
}
