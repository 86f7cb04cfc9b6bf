import koffi from 'koffi';
import type net from 'node:net';

/**
 * Who is on the other end of a unix socket connection: SO_PEERCRED, which the kernel fills in at
 * connect() and the caller cannot forge. Node has no API for it, so it is read with getsockopt
 * through koffi on the connection's file descriptor (the handle's `fd`, which Node sets for every
 * unix socket connection on Linux).
 */
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
/** struct ucred: pid_t pid, uid_t uid, gid_t gid. */
const UCRED_SIZE = 12;

type GetSockOpt = (fd: number, level: number, name: number, value: Buffer, len: Buffer) => number;
let getsockopt: GetSockOpt | undefined;

function fdOf(socket: net.Socket): number | undefined {
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** The peer's uid, or undefined when it cannot be read (the caller must then be refused). */
export function peerUid(socket: net.Socket): number | undefined {
  const fd = fdOf(socket);
  if (fd === undefined) return undefined;
  getsockopt ??= koffi
    .load('libc.so.6')
    .func('int getsockopt(int fd, int level, int name, void *value, void *len)') as unknown as GetSockOpt;
  const value = Buffer.alloc(UCRED_SIZE);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(UCRED_SIZE);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, value, len) !== 0 || len.readUInt32LE(0) < UCRED_SIZE) return undefined;
  return value.readUInt32LE(4);
}
