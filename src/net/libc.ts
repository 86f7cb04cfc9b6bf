import koffi from 'koffi';
import { errnoName, errnoOf } from './errno.ts';

/**
 * The few libc calls braid needs that Node does not offer: netlink sockets, setns, flock and fcntl.
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
  /** Variadic: the third argument's C type, then its value (koffi's convention). */
  fcntl(fd: number, cmd: number, argType: string, arg: Buffer): number;
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
    fcntl: fn('int fcntl(int fd, int cmd, ...)'),
    if_nametoindex: fn('unsigned int if_nametoindex(const char *name)'),
    errno: () => koffi.errno(),
  };
  return cached;
}

export const CLONE_NEWNET = 0x40000000;
export const LOCK_EX = 2;
export const LOCK_UN = 8;

const F_OFD_SETLK = 37;
const F_WRLCK = 1;
/** struct flock on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid (and padding). */
const FLOCK_BYTES = 32;

/**
 * An exclusive open file description lock on the whole file (fcntl F_OFD_SETLK), without
 * waiting: true when taken, false when another holder (a POSIX record lock of another process,
 * or another description's OFD lock) conflicts. Released when the last descriptor of the
 * description is closed.
 */
export function ofdTryLock(fd: number): boolean {
  const c = libc();
  const flock = Buffer.alloc(FLOCK_BYTES);
  flock.writeInt16LE(F_WRLCK, 0); // l_type; l_whence SEEK_SET, l_start 0, l_len 0 (to the end), l_pid 0
  if (c.fcntl(fd, F_OFD_SETLK, 'void *', flock) === 0) return true;
  const errno = c.errno();
  if (errno === errnoOf('EAGAIN') || errno === errnoOf('EACCES')) return false;
  throw Object.assign(new Error(`fcntl(F_OFD_SETLK) failed: ${errnoName(errno)}`), { errno });
}
