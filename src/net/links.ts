import { isErrno } from './errno.ts';
import { formatMac } from './ip.ts';
import type { NetlinkSocket } from './netlink-socket.ts';
import {
  NLM_F_CREATE,
  NLM_F_EXCL,
  RTM,
  attr,
  attrNested,
  attrString,
  attrStringValue,
  attrU32,
  attrU32Value,
  parseAttrs,
  type NetlinkMessage,
} from './rtnl-codec.ts';

const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINK = 5;
const IFLA_TXQLEN = 13;
const IFLA_LINKINFO = 18;
const IFLA_NET_NS_FD = 28;
const IFLA_GSO_MAX_SIZE = 41;
const IFLA_GRO_MAX_SIZE = 58;
const IFLA_GSO_IPV4_MAX_SIZE = 63;
const IFLA_GRO_IPV4_MAX_SIZE = 64;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const VETH_INFO_PEER = 1;
const IFINFOMSG_LEN = 16;
export const IFF_UP = 0x1;

export interface Link {
  index: number;
  name: string;
  mtu: number;
  mac: string;
  flags: number;
  /** IFLA_INFO_KIND: "veth", "bridge", ... ; undefined for plain devices. */
  kind?: string;
  /** IFLA_LINK: for a veth, the peer's ifindex (in the peer's namespace). */
  parentIndex?: number;
}

function ifinfomsg(index = 0, flags = 0, change = 0): Buffer {
  const b = Buffer.alloc(IFINFOMSG_LEN);
  b.writeInt32LE(index, 4);
  b.writeUInt32LE(flags, 8);
  b.writeUInt32LE(change, 12);
  return b;
}

function decodeLink(msg: NetlinkMessage): Link {
  const p = msg.payload;
  const attrs = parseAttrs(p, IFINFOMSG_LEN);
  const info = attrs.get(IFLA_LINKINFO);
  const kind = info ? attrStringValue(parseAttrs(info).get(IFLA_INFO_KIND)) : undefined;
  const mac = attrs.get(IFLA_ADDRESS);
  const link: Link = {
    index: p.readInt32LE(4),
    name: attrStringValue(attrs.get(IFLA_IFNAME)) ?? '',
    mtu: attrU32Value(attrs.get(IFLA_MTU)) ?? 0,
    mac: mac ? formatMac(mac) : '',
    flags: p.readUInt32LE(8),
  };
  if (kind) link.kind = kind;
  const parent = attrU32Value(attrs.get(IFLA_LINK));
  if (parent !== undefined) link.parentIndex = parent;
  return link;
}

export function listLinks(sock: NetlinkSocket): Link[] {
  return sock.get(RTM.GETLINK, [ifinfomsg()], 'list links').map(decodeLink);
}

/** The link called `name`, or undefined when there is none. */
export function findLink(sock: NetlinkSocket, name: string): Link | undefined {
  try {
    const [msg] = sock.get(RTM.GETLINK, [ifinfomsg(), attrString(IFLA_IFNAME, name)], `get link ${name}`, true);
    return msg ? decodeLink(msg) : undefined;
  } catch (e) {
    if (isErrno(e, 'ENODEV')) return undefined;
    throw e;
  }
}

export function findLinkByIndex(sock: NetlinkSocket, index: number): Link | undefined {
  try {
    const [msg] = sock.get(RTM.GETLINK, [ifinfomsg(index)], `get link #${index}`, true);
    return msg ? decodeLink(msg) : undefined;
  } catch (e) {
    if (isErrno(e, 'ENODEV')) return undefined;
    throw e;
  }
}

export interface VethEnd {
  name: string;
  mac?: Buffer;
  /** Created directly in this network namespace (an open fd of it); default: the socket's. */
  netnsFd?: number;
}

export interface VethOptions {
  mtu: number;
  /**
   * Largest GSO/GRO packet for IPv6 and IPv4 on both ends ("BIG TCP" above 65536); kernels
   * before 6.3 ignore the IPv4 attributes.
   */
  gsoMaxSize?: number;
}

/**
 * Creates a veth pair in one request. The peer can be created straight inside another namespace,
 * so no temporary name is ever visible on the host and nothing needs moving or renaming.
 */
export function createVethPair(sock: NetlinkSocket, local: VethEnd, peer: VethEnd, opts: VethOptions): void {
  const endAttrs = (end: VethEnd) => {
    const a = [attrString(IFLA_IFNAME, end.name), attrU32(IFLA_MTU, opts.mtu), attrU32(IFLA_TXQLEN, 1000)];
    if (opts.gsoMaxSize) {
      for (const t of [IFLA_GSO_MAX_SIZE, IFLA_GRO_MAX_SIZE, IFLA_GSO_IPV4_MAX_SIZE, IFLA_GRO_IPV4_MAX_SIZE]) {
        a.push(attrU32(t, opts.gsoMaxSize));
      }
    }
    if (end.mac) a.push(attr(IFLA_ADDRESS, end.mac));
    if (end.netnsFd !== undefined) a.push(attrU32(IFLA_NET_NS_FD, end.netnsFd));
    return a;
  };
  const peerInfo = attr(VETH_INFO_PEER, Buffer.concat([ifinfomsg(), ...endAttrs(peer)]));
  const linkInfo = attrNested(IFLA_LINKINFO, [
    attrString(IFLA_INFO_KIND, 'veth'),
    attrNested(IFLA_INFO_DATA, [peerInfo]),
  ]);
  sock.change(
    RTM.NEWLINK,
    NLM_F_CREATE | NLM_F_EXCL,
    [ifinfomsg(), ...endAttrs(local), linkInfo],
    `create veth pair ${local.name} <-> ${peer.name}`,
  );
}

export function setLinkUp(sock: NetlinkSocket, link: Pick<Link, 'index' | 'name'>): void {
  sock.change(RTM.NEWLINK, 0, [ifinfomsg(link.index, IFF_UP, IFF_UP)], `set link ${link.name} up`);
}

/** Deletes the link; returns false when it did not exist. */
export function deleteLink(sock: NetlinkSocket, name: string): boolean {
  try {
    sock.change(RTM.DELLINK, 0, [ifinfomsg(), attrString(IFLA_IFNAME, name)], `delete link ${name}`);
    return true;
  } catch (e) {
    if (isErrno(e, 'ENODEV')) return false;
    throw e;
  }
}
