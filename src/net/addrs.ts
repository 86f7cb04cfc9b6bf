import { isErrno } from './errno.ts';
import { afOf, familyOfAf, formatIp, type IpFamily, type IpPrefix } from './ip.ts';
import type { NetlinkSocket } from './netlink-socket.ts';
import { NLM_F_CREATE, NLM_F_EXCL, RTM, attr, attrU32, attrU32Value, parseAttrs } from './rtnl-codec.ts';

const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;
const IFADDRMSG_LEN = 8;
/** Skip duplicate address detection: a /128 on a point-to-point veth cannot collide. */
export const IFA_F_NODAD = 0x02;

export interface Address {
  index: number;
  family: IpFamily;
  address: string;
  prefixLen: number;
  scope: number;
  flags: number;
}

function ifaddrmsg(family: IpFamily, prefixLen: number, index: number, flags = 0, scope = 0): Buffer {
  const b = Buffer.alloc(IFADDRMSG_LEN);
  b.writeUInt8(afOf(family), 0);
  b.writeUInt8(prefixLen, 1);
  b.writeUInt8(flags & 0xff, 2);
  b.writeUInt8(scope, 3);
  b.writeUInt32LE(index, 4);
  return b;
}

export function addAddress(sock: NetlinkSocket, index: number, prefix: IpPrefix, flags = 0): void {
  sock.change(
    RTM.NEWADDR,
    NLM_F_CREATE | NLM_F_EXCL,
    [
      ifaddrmsg(prefix.family, prefix.prefixLen, index, flags),
      attr(IFA_LOCAL, prefix.bytes),
      attr(IFA_ADDRESS, prefix.bytes),
      attrU32(IFA_FLAGS, flags),
    ],
    `add address ${formatIp(prefix.bytes)}/${prefix.prefixLen} to link #${index}`,
  );
}

export function deleteAddress(sock: NetlinkSocket, index: number, prefix: IpPrefix): boolean {
  try {
    sock.change(
      RTM.DELADDR,
      0,
      [ifaddrmsg(prefix.family, prefix.prefixLen, index), attr(IFA_LOCAL, prefix.bytes)],
      `delete address ${formatIp(prefix.bytes)}/${prefix.prefixLen} from link #${index}`,
    );
    return true;
  } catch (e) {
    if (isErrno(e, 'EADDRNOTAVAIL') || isErrno(e, 'ENODEV')) return false;
    throw e;
  }
}

/** Addresses of one link (or all links when `index` is omitted). */
export function listAddresses(sock: NetlinkSocket, index?: number): Address[] {
  const out: Address[] = [];
  for (const msg of sock.get(RTM.GETADDR, [Buffer.alloc(IFADDRMSG_LEN)], 'list addresses')) {
    const p = msg.payload;
    const family = familyOfAf(p.readUInt8(0));
    const ifindex = p.readUInt32LE(4);
    if (!family || (index !== undefined && ifindex !== index)) continue;
    const attrs = parseAttrs(p, IFADDRMSG_LEN);
    const bytes = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS);
    if (!bytes) continue;
    out.push({
      index: ifindex,
      family,
      address: formatIp(bytes),
      prefixLen: p.readUInt8(1),
      scope: p.readUInt8(3),
      flags: attrU32Value(attrs.get(IFA_FLAGS)) ?? p.readUInt8(2),
    });
  }
  return out;
}
