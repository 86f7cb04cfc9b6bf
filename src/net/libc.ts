import koffi from 'koffi';

/**
 * The few libc calls braid-agent needs that Node does not offer: netlink sockets, setns and flock
 * (a plugin process uses braid's addon instead, native-addon.ts).
 * Every function here is synchronous and runs on the calling (main) thread, which matters for
 * setns: it switches only the calling thread's network namespace.
 */
export interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, addr: Buffer, len: number): number;
  send(fd: number, buf: Buffer, len: number, flags: number): number;
  recv(fd: number, buf: Buffer, len: number, flags: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, len: number): number;
  getsockname(fd: number, addr: Buffer, len: Buffer): number;
  close(fd: number): number;
  setns(fd: number, nstype: number): number;
  flock(fd: number, op: number): number;
  if_nametoindex(name: string): number;
  errno(): number;
}

let cached: Libc | undefined;

export function libc(): Libc {
  if (cached) return cached;
  const lib = koffi.load('libc.so.6');
  const fn = <T>(decl: string) => lib.func(decl) as unknown as T;
  cached = {
    socket: fn('int socket(int domain, int type, int protocol)'),
    bind: fn('int bind(int fd, const void *addr, uint32_t len)'),
    send: fn('intptr_t send(int fd, const void *buf, size_t len, int flags)'),
    recv: fn('intptr_t recv(int fd, void *buf, size_t len, int flags)'),
    setsockopt: fn('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)'),
    getsockname: fn('int getsockname(int fd, void *addr, void *len)'),
    close: fn('int close(int fd)'),
    setns: fn('int setns(int fd, int nstype)'),
    flock: fn('int flock(int fd, int op)'),
    if_nametoindex: fn('unsigned int if_nametoindex(const char *name)'),
    errno: () => koffi.errno(),
  };
  return cached;
}

export const CLONE_NEWNET = 0x40000000;
export const LOCK_EX = 2;
export const LOCK_UN = 8;
