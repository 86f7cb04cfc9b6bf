import { SyscallError } from '../net/errno.ts';
import { addressOf, errnoFromResult, libbpf } from './libbpf.ts';

export interface TestRunInput {
  /** Packet bytes, starting with the Ethernet header for tc programs. */
  data: Buffer;
  /** struct __sk_buff for tc programs (see skbContext). */
  ctx?: Buffer;
  repeat?: number;
  /** Room for the (possibly rewritten) packet; default data length + 256. */
  dataOutSize?: number;
}

export interface TestRunResult {
  /** The program's return value, signed (TC_ACT_UNSPEC = -1). */
  retval: number;
  dataOut: Buffer;
  ctxOut?: Buffer;
  /** Average nanoseconds per run. */
  durationNs: number;
}

/**
 * Runs a loaded program once (or `repeat` times) on a crafted packet with BPF_PROG_TEST_RUN.
 * The program acts on live maps: run it against throwaway pins, never production ones.
 */
export function testRun(progFd: number, input: TestRunInput): TestRunResult {
  const dataOut = Buffer.alloc(input.dataOutSize ?? input.data.length + 256);
  const ctxOut = input.ctx ? Buffer.alloc(input.ctx.length) : undefined;
  // struct bpf_test_run_opts: sz 0, data_in 8, data_out 16, data_size_in 24, data_size_out 28,
  // ctx_in 32, ctx_out 40, ctx_size_in 48, ctx_size_out 52, retval 56, repeat 60, duration 64.
  const o = Buffer.alloc(80);
  o.writeBigUInt64LE(80n, 0);
  o.writeBigUInt64LE(addressOf(input.data), 8);
  o.writeBigUInt64LE(addressOf(dataOut), 16);
  o.writeUInt32LE(input.data.length, 24);
  o.writeUInt32LE(dataOut.length, 28);
  if (input.ctx && ctxOut) {
    o.writeBigUInt64LE(addressOf(input.ctx), 32);
    o.writeBigUInt64LE(addressOf(ctxOut), 40);
    o.writeUInt32LE(input.ctx.length, 48);
    o.writeUInt32LE(ctxOut.length, 52);
  }
  o.writeInt32LE(input.repeat ?? 1, 60);
  const rc = libbpf().bpf_prog_test_run_opts(progFd, o);
  if (rc < 0) throw new SyscallError(`test run of program fd ${progFd}`, errnoFromResult(rc));
  const result: TestRunResult = {
    retval: o.readInt32LE(56),
    dataOut: dataOut.subarray(0, o.readUInt32LE(28)),
    durationNs: o.readUInt32LE(64),
  };
  if (ctxOut) result.ctxOut = ctxOut.subarray(0, o.readUInt32LE(52));
  return result;
}

export interface SkbFields {
  /** skb->dev: must be a device in the calling thread's namespace when > 1. */
  ifindex?: number;
  ingressIfindex?: number;
  mark?: number;
  priority?: number;
  gsoSegs?: number;
}

/** A struct __sk_buff (192 bytes) with only the fields BPF_PROG_TEST_RUN accepts set. */
export function skbContext(f: SkbFields): Buffer {
  const b = Buffer.alloc(192);
  b.writeUInt32LE(f.mark ?? 0, 8);
  b.writeUInt32LE(f.priority ?? 0, 32);
  b.writeUInt32LE(f.ingressIfindex ?? 0, 36);
  b.writeUInt32LE(f.ifindex ?? 0, 40);
  // Offsets from the 6.1 uapi header: mark 8, priority 32, ingress_ifindex 36, ifindex 40, gso_segs 164.
  if (f.gsoSegs) b.writeUInt32LE(f.gsoSegs, 164);
  return b;
}
