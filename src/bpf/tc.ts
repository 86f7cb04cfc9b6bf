import { SyscallError } from '../net/errno.ts';
import { errnoFromResult, libbpf } from './libbpf.ts';
import type { Direction } from './tcx.ts';

const BPF_TC_INGRESS = 1;
const BPF_TC_EGRESS = 2;
const BPF_TC_F_REPLACE = 1;
const EEXIST = 17;
const ENOENT = 2;

/** A cls_bpf filter (direct-action) identified by its hook, handle and priority. */
export interface TcFilter {
  ifindex: number;
  dir: Direction;
  handle: number;
  priority: number;
}

function hook(ifindex: number, dir: Direction): Buffer {
  // struct bpf_tc_hook: sz 0, ifindex 8, attach_point 12, parent 16; sizeof 24.
  const h = Buffer.alloc(24);
  h.writeBigUInt64LE(24n, 0);
  h.writeInt32LE(ifindex, 8);
  h.writeUInt32LE(dir === 'ingress' ? BPF_TC_INGRESS : BPF_TC_EGRESS, 12);
  return h;
}

function tcOpts(progFd: number, handle: number, priority: number, flags = 0): Buffer {
  // struct bpf_tc_opts: sz 0, prog_fd 8, flags 12, prog_id 16, handle 20, priority 24; sizeof 32.
  const o = Buffer.alloc(32);
  o.writeBigUInt64LE(32n, 0);
  o.writeInt32LE(progFd, 8);
  o.writeUInt32LE(flags, 12);
  o.writeUInt32LE(handle, 20);
  o.writeUInt32LE(priority, 24);
  return o;
}

/**
 * Attaches a program as a legacy tc (clsact) filter on `ifindex` in the calling thread's
 * namespace, creating the clsact qdisc if needed. An explicit handle and priority make the
 * filter ours to replace and remove later without touching other filters. Returns the prog id.
 */
export function attachTc(progFd: number, f: TcFilter, label?: string): number {
  const lib = libbpf();
  const h = hook(f.ifindex, f.dir);
  const what = `tc ${f.dir} on ${label ?? `ifindex ${f.ifindex}`}`;
  const created = lib.bpf_tc_hook_create(h);
  if (created < 0 && created !== -EEXIST)
    throw new SyscallError(`create clsact qdisc for ${what}`, errnoFromResult(created));
  const o = tcOpts(progFd, f.handle, f.priority, BPF_TC_F_REPLACE);
  const rc = lib.bpf_tc_attach(h, o);
  if (rc < 0) throw new SyscallError(`attach ${what}`, errnoFromResult(rc));
  return o.readUInt32LE(16);
}

/**
 * Removes only our filter. The clsact qdisc stays: destroying it (bpf_tc_hook_destroy) would
 * remove every other filter on the device too. Returns false when the filter was not there.
 */
export function detachTc(f: TcFilter, label?: string): boolean {
  const rc = libbpf().bpf_tc_detach(hook(f.ifindex, f.dir), tcOpts(0, f.handle, f.priority));
  if (rc === -ENOENT || rc === -22 /* EINVAL: no clsact qdisc */) return false;
  if (rc < 0) throw new SyscallError(`detach tc ${f.dir} on ${label ?? `ifindex ${f.ifindex}`}`, errnoFromResult(rc));
  return true;
}

/** The program id of the filter, or undefined when there is none. */
export function queryTc(f: TcFilter): number | undefined {
  const o = tcOpts(0, f.handle, f.priority);
  const rc = libbpf().bpf_tc_query(hook(f.ifindex, f.dir), o);
  if (rc < 0) return undefined;
  return o.readUInt32LE(16);
}
