import { SyscallError } from '../net/errno.ts';
import { addressOf, errnoFromResult, libbpf } from './libbpf.ts';
import { closeFd, pinFd, tryOpenPinned, unpin } from './pins.ts';

/** Kernel attach types BPF_TCX_INGRESS / BPF_TCX_EGRESS (absent from bookworm's 6.1 uapi header). */
export const BPF_TCX_INGRESS = 46;
export const BPF_TCX_EGRESS = 47;
/** bpf_mprog flag: put the new program first instead of last. */
export const BPF_F_BEFORE = 1 << 3;
const BPF_LINK_TYPE_TCX = 11;

export type Direction = 'ingress' | 'egress';

export function tcxAttachType(dir: Direction): number {
  return dir === 'ingress' ? BPF_TCX_INGRESS : BPF_TCX_EGRESS;
}

export interface TcxAttachOptions {
  /** Run before the programs already attached (default: after them). */
  first?: boolean;
  /** Interface name and namespace for error messages. */
  label?: string;
}

/**
 * Attaches a program with a tcx link on `ifindex` of the calling thread's network namespace and
 * returns the link fd. The attachment lasts while the fd is open or the link is pinned.
 */
export function attachTcx(progFd: number, ifindex: number, dir: Direction, opts: TcxAttachOptions = {}): number {
  // struct bpf_link_create_opts: sz 0, flags 8. libbpf 1.1 hands unknown attach types to the
  // kernel unchanged as long as nothing but flags is set.
  const o = Buffer.alloc(16);
  o.writeBigUInt64LE(16n, 0);
  o.writeUInt32LE(opts.first ? BPF_F_BEFORE : 0, 8);
  const fd = libbpf().bpf_link_create(progFd, ifindex, tcxAttachType(dir), o);
  if (fd < 0) {
    throw new SyscallError(`attach tcx ${dir} on ${opts.label ?? `ifindex ${ifindex}`}`, errnoFromResult(fd));
  }
  return fd;
}

/** Attaches and pins the link at `pinPath`, so the attachment outlives this process. */
export function attachTcxPinned(
  progFd: number,
  ifindex: number,
  dir: Direction,
  pinPath: string,
  opts: TcxAttachOptions = {},
): void {
  const link = attachTcx(progFd, ifindex, dir, opts);
  try {
    pinFd(link, pinPath);
  } catch (e) {
    libbpf().bpf_link_detach(link);
    throw e;
  } finally {
    closeFd(link);
  }
}

/**
 * Detaches the link pinned at `pinPath` and removes the pin. A link whose device is gone is only
 * unpinned. Returns false when nothing was pinned there.
 */
export function detachTcxPinned(pinPath: string): boolean {
  const fd = tryOpenPinned(pinPath);
  if (fd === undefined) return unpin(pinPath);
  try {
    const rc = libbpf().bpf_link_detach(fd);
    // ENOLINK: already detached (device deleted); EINVAL: not a detachable link.
    if (rc < 0 && rc !== -67 && rc !== -22) throw new SyscallError(`detach tcx link ${pinPath}`, errnoFromResult(rc));
  } finally {
    closeFd(fd);
  }
  unpin(pinPath);
  return true;
}

export interface LinkInfo {
  id: number;
  type: number;
  progId: number;
  /** tcx links only; 0 once the device is gone. */
  ifindex?: number;
  attachType?: number;
}

export function linkInfo(fd: number): LinkInfo {
  // struct bpf_link_info: type 0, id 4, prog_id 8, union at 16 (tcx: ifindex 16, attach_type 20).
  const info = Buffer.alloc(64);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(info.length);
  const rc = libbpf().bpf_obj_get_info_by_fd(fd, info, len);
  if (rc < 0) throw new SyscallError(`read link info of fd ${fd}`, errnoFromResult(rc));
  const out: LinkInfo = { type: info.readUInt32LE(0), id: info.readUInt32LE(4), progId: info.readUInt32LE(8) };
  if (out.type === BPF_LINK_TYPE_TCX) {
    out.ifindex = info.readUInt32LE(16);
    out.attachType = info.readUInt32LE(20);
  }
  return out;
}

/** Info of the link pinned at `pinPath`, or undefined when there is no pin. */
export function pinnedLinkInfo(pinPath: string): LinkInfo | undefined {
  const fd = tryOpenPinned(pinPath);
  if (fd === undefined) return undefined;
  try {
    return linkInfo(fd);
  } finally {
    closeFd(fd);
  }
}

/** IDs of the programs attached with tcx on `ifindex` (calling thread's namespace), in run order. */
export function queryTcx(ifindex: number, dir: Direction, label?: string): number[] {
  const ids = Buffer.alloc(64 * 4);
  // struct bpf_prog_query_opts: sz 0, query_flags 8, attach_flags 12, prog_ids 16, prog_cnt 24.
  const o = Buffer.alloc(40);
  o.writeBigUInt64LE(40n, 0);
  o.writeBigUInt64LE(addressOf(ids), 16);
  o.writeUInt32LE(64, 24);
  const rc = libbpf().bpf_prog_query_opts(ifindex, tcxAttachType(dir), o);
  if (rc < 0) throw new SyscallError(`query tcx ${dir} on ${label ?? `ifindex ${ifindex}`}`, errnoFromResult(rc));
  const count = o.readUInt32LE(24);
  return Array.from({ length: count }, (_, i) => ids.readUInt32LE(i * 4));
}

export interface ProgInfo {
  id: number;
  type: number;
  name: string;
}

export function progInfo(fd: number): ProgInfo {
  // struct bpf_prog_info: type 0, id 4, name 64..80.
  const info = Buffer.alloc(232);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(info.length);
  const rc = libbpf().bpf_obj_get_info_by_fd(fd, info, len);
  if (rc < 0) throw new SyscallError(`read program info of fd ${fd}`, errnoFromResult(rc));
  const name = info.subarray(64, 80);
  const nul = name.indexOf(0);
  return {
    type: info.readUInt32LE(0),
    id: info.readUInt32LE(4),
    name: name.subarray(0, nul < 0 ? 16 : nul).toString(),
  };
}
