import { SyscallError } from './errno.ts';
import { libc } from './libc.ts';
import { withNetns } from './netns.ts';
import {
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  NLMSG_DONE,
  NLMSG_ERROR,
  decodeError,
  decodeMessages,
  encodeMessage,
  type NetlinkMessage,
} from './rtnl-codec.ts';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_ROUTE = 0;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const SOL_NETLINK = 270;
const NETLINK_CAP_ACK = 10;
const NETLINK_EXT_ACK = 11;
const RECV_BUFFER = 1 << 18;
const EINTR = 4;
/** A kernel that does not answer within this time is treated as a failure, not a hang. */
const RECV_TIMEOUT_SECONDS = 10;

/**
 * A blocking NETLINK_ROUTE socket. A netlink socket belongs to the network namespace it was
 * created in, so `NetlinkSocket.in(path)` gives a handle on a pod's namespace that can be used
 * from the host thread afterwards. Every call is synchronous.
 */
export class NetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly buf = Buffer.alloc(RECV_BUFFER);
  private closed = false;

  private constructor(
    private readonly fd: number,
    /** Appears in error messages: "host" or the namespace path. */
    readonly where: string,
  ) {}

  /** A socket in the calling thread's current network namespace. */
  static open(where = 'host netns'): NetlinkSocket {
    const c = libc();
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) throw new SyscallError('open netlink socket', c.errno());
    const one = Buffer.alloc(4);
    one.writeInt32LE(1);
    c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
    c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one, 4);
    const tv = Buffer.alloc(16);
    tv.writeBigInt64LE(BigInt(RECV_TIMEOUT_SECONDS), 0);
    c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
    const sa = Buffer.alloc(12);
    sa.writeUInt16LE(AF_NETLINK, 0);
    if (c.bind(fd, sa, 12) !== 0) {
      const errno = c.errno();
      c.close(fd);
      throw new SyscallError('bind netlink socket', errno);
    }
    return new NetlinkSocket(fd, where);
  }

  /** A socket bound to the network namespace at `nsPath`. */
  static in(nsPath: string): NetlinkSocket {
    return withNetns(nsPath, () => NetlinkSocket.open(`netns ${nsPath}`));
  }

  close(): void {
    if (!this.closed) libc().close(this.fd);
    this.closed = true;
  }

  /** Sends a request that changes state and waits for its ACK; throws on a negative errno. */
  change(type: number, flags: number, body: Buffer[], what: string): void {
    const seq = this.send(type, NLM_F_REQUEST | NLM_F_ACK | flags, body, what);
    this.receive(seq, what, false);
  }

  /** Sends a GET request (a dump unless `single`) and returns the answer messages. */
  get(type: number, body: Buffer[], what: string, single = false): NetlinkMessage[] {
    const flags = NLM_F_REQUEST | (single ? 0 : NLM_F_DUMP);
    const seq = this.send(type, flags, body, what);
    return this.receive(seq, what, !single);
  }

  private send(type: number, flags: number, body: Buffer[], what: string): number {
    const seq = (this.seq = (this.seq + 1) & 0x7fffffff);
    const msg = encodeMessage(type, flags, seq, body);
    for (;;) {
      if (Number(libc().send(this.fd, msg, msg.length, 0)) === msg.length) break;
      const errno = libc().errno();
      if (errno !== EINTR) throw new SyscallError(`${what} in ${this.where} (send)`, errno);
    }
    return seq;
  }

  private receive(seq: number, what: string, dump: boolean): NetlinkMessage[] {
    const out: NetlinkMessage[] = [];
    for (;;) {
      const n = Number(libc().recv(this.fd, this.buf, this.buf.length, 0));
      if (n < 0) {
        const errno = libc().errno();
        if (errno === EINTR) continue;
        throw new SyscallError(`${what} in ${this.where} (receive)`, errno);
      }
      for (const msg of decodeMessages(Buffer.from(this.buf.subarray(0, n)))) {
        if (msg.seq !== seq) continue;
        if (msg.type === NLMSG_ERROR) {
          const { errno, text } = decodeError(msg);
          if (errno !== 0) throw new SyscallError(`${what} in ${this.where}`, -errno, text);
          return out;
        }
        if (msg.type === NLMSG_DONE) return out;
        out.push(msg);
        if (!dump) return out;
      }
    }
  }
}

/** Opens a socket for `nsPath` (or the current namespace), runs `fn`, closes the socket. */
export function withNetlink<T>(nsPath: string | undefined, fn: (sock: NetlinkSocket) => T): T {
  const sock = nsPath ? NetlinkSocket.in(nsPath) : NetlinkSocket.open();
  try {
    return fn(sock);
  } finally {
    sock.close();
  }
}
