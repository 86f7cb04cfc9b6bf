import { isErrno } from './errno.ts';
import { afOf, familyOfAf, formatIp, type IpAddress, type IpFamily, type IpPrefix } from './ip.ts';
import type { NetlinkSocket } from './netlink-socket.ts';
import {
  NLM_F_CREATE,
  NLM_F_EXCL,
  NLM_F_REPLACE,
  RTM,
  attr,
  attrNested,
  attrU32,
  attrU32Value,
  parseAttrs,
} from './rtnl-codec.ts';

const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RTA_PRIORITY = 6;
const RTA_METRICS = 8;
const RTA_TABLE = 15;
const RTAX_MTU = 2;
const RTMSG_LEN = 12;
const RTN_UNICAST = 1;
/** Same protocol `ip route add` uses. */
const RTPROT_BOOT = 3;
export const RT_TABLE_MAIN = 254;
export const RT_SCOPE_UNIVERSE = 0;
export const RT_SCOPE_LINK = 253;
/** In a delete request: match a route of any scope. */
const RT_SCOPE_NOWHERE = 255;

export interface Route {
  family: IpFamily;
  /** The destination prefix; prefixLen 0 for a default route. */
  dst: IpPrefix;
  gateway?: IpAddress;
  oif: number;
  scope?: number;
  table?: number;
  priority?: number;
  mtu?: number;
}

export interface RouteInfo {
  family: IpFamily;
  dst: string;
  gateway?: string;
  oif?: number;
  scope: number;
  table: number;
  type: number;
}

function rtmsg(r: Pick<Route, 'family' | 'dst' | 'scope' | 'table'>, forDelete = false): Buffer {
  const b = Buffer.alloc(RTMSG_LEN);
  b.writeUInt8(afOf(r.family), 0);
  b.writeUInt8(r.dst.prefixLen, 1);
  b.writeUInt8(Math.min(r.table ?? RT_TABLE_MAIN, 255), 4);
  b.writeUInt8(forDelete ? 0 : RTPROT_BOOT, 5);
  b.writeUInt8(forDelete ? RT_SCOPE_NOWHERE : (r.scope ?? RT_SCOPE_UNIVERSE), 6);
  b.writeUInt8(RTN_UNICAST, 7);
  return b;
}

function routeAttrs(r: Route): Buffer[] {
  const out: Buffer[] = [attrU32(RTA_TABLE, r.table ?? RT_TABLE_MAIN), attrU32(RTA_OIF, r.oif)];
  if (r.dst.prefixLen > 0) out.push(attr(RTA_DST, r.dst.bytes));
  if (r.gateway) out.push(attr(RTA_GATEWAY, r.gateway.bytes));
  if (r.priority !== undefined) out.push(attrU32(RTA_PRIORITY, r.priority));
  if (r.mtu) out.push(attrNested(RTA_METRICS, [attrU32(RTAX_MTU, r.mtu)]));
  return out;
}

function describe(r: Route): string {
  const dst = r.dst.prefixLen === 0 ? 'default' : `${formatIp(r.dst.bytes)}/${r.dst.prefixLen}`;
  return `route ${dst}${r.gateway ? ` via ${formatIp(r.gateway.bytes)}` : ''} dev #${r.oif}`;
}

export function addRoute(sock: NetlinkSocket, r: Route): void {
  sock.change(RTM.NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, [rtmsg(r), ...routeAttrs(r)], `add ${describe(r)}`);
}

/** `ip route replace`: creates the route or replaces the one with the same destination and table. */
export function replaceRoute(sock: NetlinkSocket, r: Route): void {
  sock.change(RTM.NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, [rtmsg(r), ...routeAttrs(r)], `replace ${describe(r)}`);
}

/** Deletes the route; returns false when it did not exist. */
export function deleteRoute(sock: NetlinkSocket, r: Route): boolean {
  try {
    sock.change(RTM.DELROUTE, 0, [rtmsg(r, true), ...routeAttrs(r)], `delete ${describe(r)}`);
    return true;
  } catch (e) {
    if (isErrno(e, 'ESRCH') || isErrno(e, 'ENODEV')) return false;
    throw e;
  }
}

/** Unicast routes of one family in every table (filter on `table` for the main one). */
export function listRoutes(sock: NetlinkSocket, family: IpFamily): RouteInfo[] {
  const req = Buffer.alloc(RTMSG_LEN);
  req.writeUInt8(afOf(family), 0);
  const out: RouteInfo[] = [];
  for (const msg of sock.get(RTM.GETROUTE, [req], `list IPv${family} routes`)) {
    const p = msg.payload;
    const fam = familyOfAf(p.readUInt8(0));
    if (fam !== family) continue;
    const attrs = parseAttrs(p, RTMSG_LEN);
    const dstBytes = attrs.get(RTA_DST);
    const dstLen = p.readUInt8(1);
    const gw = attrs.get(RTA_GATEWAY);
    const info: RouteInfo = {
      family,
      dst: dstBytes ? `${formatIp(dstBytes)}/${dstLen}` : family === 4 ? '0.0.0.0/0' : '::/0',
      scope: p.readUInt8(6),
      table: attrU32Value(attrs.get(RTA_TABLE)) ?? p.readUInt8(4),
      type: p.readUInt8(7),
    };
    if (gw) info.gateway = formatIp(gw);
    const oif = attrU32Value(attrs.get(RTA_OIF));
    if (oif !== undefined) info.oif = oif;
    out.push(info);
  }
  return out;
}
