import { parseMac, type IpPrefix } from '../net/ip.ts';
import { findLinkByIndex, setLinkUp, type Link } from '../net/links.ts';
import { setPermanentNeighbor } from '../net/neigh.ts';
import type { NetlinkSocket } from '../net/netlink-socket.ts';
import { addRoute, listRoutes, RT_SCOPE_LINK, RT_TABLE_MAIN } from '../net/routes.ts';
import { ensureSysctl } from '../net/sysctl.ts';

/**
 * In the host namespace: the host-side veth up, forwarding on, rp_filter off on the veth (pod
 * sources are only reachable through it, but "all" may still be strict), and per pod address a
 * host route `addr dev hostVeth` plus a permanent neighbour → pod MAC (no ARP/ND towards pods).
 */
export function configureHost(sock: NetlinkSocket, link: Link, addresses: IpPrefix[], podMac: string): void {
  const families = new Set(addresses.map((a) => a.family));
  if (families.has(4)) {
    ensureSysctl('net.ipv4.ip_forward', 1);
    ensureSysctl(`net.ipv4.conf.${link.name}.rp_filter`, 0);
  }
  if (families.has(6)) {
    ensureSysctl('net.ipv6.conf.all.forwarding', 1);
    ensureSysctl(`net.ipv6.conf.${link.name}.disable_ipv6`, 0);
  }
  setLinkUp(sock, link);
  for (const a of addresses) {
    addRoute(sock, { family: a.family, dst: a, oif: link.index, ...(a.family === 4 ? { scope: RT_SCOPE_LINK } : {}) });
    setPermanentNeighbor(sock, link.index, a, parseMac(podMac));
  }
}

/** MTU of the device holding the host's IPv4 default route (the uplink), if there is one. */
export function uplinkMtu(sock: NetlinkSocket): number | undefined {
  const def = listRoutes(sock, 4).find((r) => r.dst === '0.0.0.0/0' && r.table === RT_TABLE_MAIN && r.oif);
  return def?.oif ? findLinkByIndex(sock, def.oif)?.mtu : undefined;
}

/** Host routes on `ifindex` (CHECK: one per pod address). */
export function hostRoutesOn(sock: NetlinkSocket, ifindex: number): string[] {
  return [4, 6].flatMap((f) =>
    listRoutes(sock, f as 4 | 6)
      .filter((r) => r.oif === ifindex && r.table === RT_TABLE_MAIN && !r.gateway)
      .map((r) => r.dst),
  );
}
