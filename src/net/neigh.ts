import { isErrno } from './errno.ts';
import { afOf, familyOfAf, formatIp, formatMac, type IpAddress, type IpFamily } from './ip.ts';
import type { NetlinkSocket } from './netlink-socket.ts';
import { NLM_F_CREATE, NLM_F_REPLACE, RTM, attr, parseAttrs } from './rtnl-codec.ts';

const NDA_DST = 1;
const NDA_LLADDR = 2;
const NDMSG_LEN = 12;
export const NUD_PERMANENT = 0x80;

export interface Neighbor {
  index: number;
  family: IpFamily;
  ip: string;
  mac?: string;
  state: number;
}

function ndmsg(family: IpFamily, index: number, state = 0): Buffer {
  const b = Buffer.alloc(NDMSG_LEN);
  b.writeUInt8(afOf(family), 0);
  b.writeInt32LE(index, 4);
  b.writeUInt16LE(state, 8);
  return b;
}

/** Adds (or replaces) a permanent neighbour entry: `ip lladdr mac dev #index nud permanent`. */
export function setPermanentNeighbor(sock: NetlinkSocket, index: number, ip: IpAddress, mac: Buffer): void {
  sock.change(
    RTM.NEWNEIGH,
    NLM_F_CREATE | NLM_F_REPLACE,
    [ndmsg(ip.family, index, NUD_PERMANENT), attr(NDA_DST, ip.bytes), attr(NDA_LLADDR, mac)],
    `add neighbour ${formatIp(ip.bytes)} lladdr ${formatMac(mac)} on link #${index}`,
  );
}

export function deleteNeighbor(sock: NetlinkSocket, index: number, ip: IpAddress): boolean {
  try {
    sock.change(
      RTM.DELNEIGH,
      0,
      [ndmsg(ip.family, index), attr(NDA_DST, ip.bytes)],
      `delete neighbour ${formatIp(ip.bytes)} on link #${index}`,
    );
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENODEV')) return false;
    throw e;
  }
}

export function listNeighbors(sock: NetlinkSocket, family: IpFamily, index?: number): Neighbor[] {
  const out: Neighbor[] = [];
  for (const msg of sock.get(RTM.GETNEIGH, [ndmsg(family, 0)], `list IPv${family} neighbours`)) {
    const p = msg.payload;
    const fam = familyOfAf(p.readUInt8(0));
    const ifindex = p.readInt32LE(4);
    if (fam !== family || (index !== undefined && ifindex !== index)) continue;
    const attrs = parseAttrs(p, NDMSG_LEN);
    const dst = attrs.get(NDA_DST);
    if (!dst) continue;
    const lladdr = attrs.get(NDA_LLADDR);
    const n: Neighbor = { index: ifindex, family: fam, ip: formatIp(dst), state: p.readUInt16LE(8) };
    if (lladdr && lladdr.length === 6) n.mac = formatMac(lladdr);
    out.push(n);
  }
  return out;
}
