import koffi from 'koffi';
import { SyscallError } from '../net/errno.ts';
import { withNetns } from '../net/netns.ts';

/**
 * The network namespace cookie (SO_NETNS_COOKIE, Linux 5.14): the same 64-bit value that
 * bpf_get_netns_cookie() returns in BPF, so userspace can key maps by (cookie, ifindex).
 */
const AF_INET = 2;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_NETNS_COOKIE = 71;

interface SockLib {
  socket(domain: number, type: number, protocol: number): number;
  getsockopt(fd: number, level: number, name: number, value: Buffer, len: Buffer): number;
  close(fd: number): number;
  errno(): number;
}

let cached: SockLib | undefined;

function sockLib(): SockLib {
  if (cached) return cached;
  const lib = koffi.load('libc.so.6');
  cached = {
    socket: lib.func('int socket(int domain, int type, int protocol)') as never,
    getsockopt: lib.func('int getsockopt(int fd, int level, int name, void *value, void *len)') as never,
    close: lib.func('int close(int fd)') as never,
    errno: () => koffi.errno(),
  };
  return cached;
}

/** Cookie of the calling thread's network namespace. */
export function currentNetnsCookie(): bigint {
  const lib = sockLib();
  const fd = lib.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new SyscallError('open a socket to read the netns cookie', lib.errno());
  try {
    const value = Buffer.alloc(8);
    const len = Buffer.alloc(4);
    len.writeUInt32LE(8);
    if (lib.getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, value, len) !== 0) {
      throw new SyscallError('getsockopt(SO_NETNS_COOKIE)', lib.errno());
    }
    return value.readBigUInt64LE(0);
  } finally {
    lib.close(fd);
  }
}

/** Cookie of the network namespace at `nsPath` (e.g. /proc/<pid>/ns/net or /run/netns/<name>). */
export function netnsCookie(nsPath: string): bigint {
  return withNetns(nsPath, currentNetnsCookie);
}
