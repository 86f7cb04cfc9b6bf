import { EventEmitter } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import koffi from 'koffi';
import { errnoName } from '../net/errno.ts';
import type { DelegateChild, SpawnDelegate } from './exec.ts';

/**
 * Delegates started with glibc's posix_spawn (clone with CLONE_VM|CLONE_VFORK) instead of Node's
 * child_process, whose libuv fork() copies the page tables of the whole process: in braid-agent
 * (tens of MB of heap) that fork costs milliseconds per delegate, more than the exec itself,
 * while a vfork-style spawn costs the same however large the parent is. Only braid-agent uses
 * it (it has koffi loaded already); a plugin process is small and keeps Node's spawn.
 *
 * The child leads its own session (as `detached: true`), gets default signal dispositions and an
 * empty signal mask (Node ignores SIGPIPE, and ignored signals survive exec), and stdin, stdout
 * and stderr pipes. It is reaped with waitpid(WNOHANG) once both output pipes are closed (which
 * is also when Node's 'close' fires: libuv only reaps the processes it started itself): at once
 * when it has exited, else at the SIGCHLD its exit sends (a child closes its pipes a moment
 * before it becomes a zombie; a timer would add its granularity to every delegate).
 */
interface SpawnLibc {
  posix_spawn(
    pid: Int32Array,
    path: string,
    fa: Buffer,
    attr: Buffer,
    argv: (string | null)[],
    envp: (string | null)[],
  ): number;
  fileActionsInit(fa: Buffer): number;
  fileActionsDestroy(fa: Buffer): number;
  addDup2(fa: Buffer, fd: number, newfd: number): number;
  /** glibc 2.34+; undefined on an older libc (descriptors braid opens are close-on-exec anyway). */
  addCloseFrom: ((fa: Buffer, from: number) => number) | undefined;
  attrInit(attr: Buffer): number;
  attrDestroy(attr: Buffer): number;
  attrSetFlags(attr: Buffer, flags: number): number;
  attrSetSigDefault(attr: Buffer, set: Buffer): number;
  attrSetSigMask(attr: Buffer, set: Buffer): number;
  sigemptyset(set: Buffer): number;
  pipe2(fds: Int32Array, flags: number): number;
  waitpid(pid: number, status: Int32Array, options: number): number;
  close(fd: number): number;
}

let bound: SpawnLibc | undefined;

function optionalFn<T>(lib: koffi.IKoffiLib, decl: string): T | undefined {
  try {
    return lib.func(decl) as unknown as T;
  } catch {
    return undefined;
  }
}

function spawnLibc(): SpawnLibc {
  if (bound) return bound;
  const lib = koffi.load('libc.so.6');
  const fn = <T>(decl: string) => lib.func(decl) as unknown as T;
  bound = {
    posix_spawn: fn(
      'int posix_spawn(_Out_ int32_t *pid, const char *path, void *fa, void *attr, const char **argv, const char **envp)',
    ),
    fileActionsInit: fn('int posix_spawn_file_actions_init(void *fa)'),
    fileActionsDestroy: fn('int posix_spawn_file_actions_destroy(void *fa)'),
    addDup2: fn('int posix_spawn_file_actions_adddup2(void *fa, int fd, int newfd)'),
    addCloseFrom: optionalFn(lib, 'int posix_spawn_file_actions_addclosefrom_np(void *fa, int from)'),
    attrInit: fn('int posix_spawnattr_init(void *attr)'),
    attrDestroy: fn('int posix_spawnattr_destroy(void *attr)'),
    attrSetFlags: fn('int posix_spawnattr_setflags(void *attr, short flags)'),
    attrSetSigDefault: fn('int posix_spawnattr_setsigdefault(void *attr, const void *set)'),
    attrSetSigMask: fn('int posix_spawnattr_setsigmask(void *attr, const void *set)'),
    sigemptyset: fn('int sigemptyset(void *set)'),
    pipe2: fn('int pipe2(_Out_ int32_t *fds, int flags)'),
    waitpid: fn('int waitpid(int pid, _Out_ int32_t *status, int options)'),
    close: fn('int close(int fd)'),
  };
  return bound;
}

const O_CLOEXEC = 0o2000000;
const WNOHANG = 1;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
/** Larger than glibc's posix_spawnattr_t (336 bytes), posix_spawn_file_actions_t (80) and sigset_t (128). */
const OPAQUE_BYTES = 1024;
/** glibc's sigset_t: 1024 bits. */
const SIGSET_BYTES = 128;
/** A safety net beside SIGCHLD: how often a child whose pipes are closed is polled for. */
const POLL_MS = 100;

const signalName = (n: number) => Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;

function pipePair(lib: SpawnLibc): [number, number] {
  const fds = new Int32Array(2);
  if (lib.pipe2(fds, O_CLOEXEC) !== 0)
    throw Object.assign(new Error('pipe2 failed'), { code: errnoName(koffi.errno()) });
  return [fds[0]!, fds[1]!];
}

/** Children whose pipes are closed and that have not been reaped yet. */
const unreaped = new Set<SpawnedDelegate>();
let onSigchld: (() => void) | undefined;

function awaitExit(child: SpawnedDelegate): void {
  if (!onSigchld) {
    // Node's signal handles do not keep the process alive; libuv keeps reaping its own children.
    onSigchld = () => {
      for (const c of [...unreaped]) c.tryReap();
    };
    process.on('SIGCHLD', onSigchld);
  }
  unreaped.add(child);
  child.tryReap();
}

class SpawnedDelegate extends EventEmitter implements DelegateChild {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly pid: number,
    readonly stdin: net.Socket,
    readonly stdout: net.Socket,
    readonly stderr: net.Socket,
    private readonly lib: SpawnLibc,
  ) {
    super();
    let open = 2;
    const closed = () => {
      if (--open === 0) awaitExit(this);
    };
    stdout.once('close', closed);
    stderr.once('close', closed);
  }

  /** Reaps the child if it has exited, then emits 'close'; else waits for the next SIGCHLD. */
  tryReap(): void {
    if (!unreaped.has(this)) return;
    const status = new Int32Array(1);
    const r = this.lib.waitpid(this.pid, status, WNOHANG);
    if (r === 0) {
      this.timer ??= setInterval(() => this.tryReap(), POLL_MS);
      return;
    }
    unreaped.delete(this);
    clearInterval(this.timer);
    // -1 (ECHILD) would mean someone else reaped it: its status is unknown.
    if (r !== this.pid) return void this.emit('close', null, null);
    const s = status[0]!;
    const termsig = s & 0x7f;
    if (termsig === 0) this.emit('close', (s >> 8) & 0xff, null);
    else this.emit('close', null, signalName(termsig));
  }
}

/**
 * Starts `file` with argv `[argv0, ...args]` and exactly `env`; throws like Node's spawn reports a
 * failed start (an error whose `code` is the errno's name, e.g. ENOENT).
 */
export const posixSpawnDelegate: SpawnDelegate = (file, args, opts) => {
  const lib = spawnLibc();
  const fds: number[] = [];
  const fa = Buffer.alloc(OPAQUE_BYTES);
  const attr = Buffer.alloc(OPAQUE_BYTES);
  const sigs = Buffer.alloc(OPAQUE_BYTES);
  lib.fileActionsInit(fa);
  lib.attrInit(attr);
  try {
    const [inR, inW] = pipePair(lib);
    fds.push(inR, inW);
    const [outR, outW] = pipePair(lib);
    fds.push(outR, outW);
    const [errR, errW] = pipePair(lib);
    fds.push(errR, errW);
    // dup2 onto 0, 1, 2 clears close-on-exec there. Descriptors the agent inherited without
    // close-on-exec (from whatever started it) would pass into every delegate: close them all.
    lib.addDup2(fa, inR, 0);
    lib.addDup2(fa, outW, 1);
    lib.addDup2(fa, errW, 2);
    lib.addCloseFrom?.(fa, 3);
    lib.attrSetFlags(attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    // Every signal back to its default, glibc's internal ones (32, 33) too: sigfillset leaves them
    // out, and posix_spawn then leaves them ignored in the child, and ignored survives exec.
    sigs.fill(0xff, 0, SIGSET_BYTES);
    lib.attrSetSigDefault(attr, sigs);
    lib.sigemptyset(sigs);
    lib.attrSetSigMask(attr, sigs);
    const envp = Object.entries(opts.env).map(([k, v]) => `${k}=${v}`);
    const pid = new Int32Array(1);
    const rc = lib.posix_spawn(pid, file, fa, attr, [opts.argv0, ...args, null], [...envp, null]);
    if (rc !== 0) throw Object.assign(new Error(`posix_spawn ${file}: ${errnoName(rc)}`), { code: errnoName(rc) });
    // The child's ends are the child's now.
    for (const fd of [inR, outW, errW]) lib.close(fd);
    fds.length = 0;
    const stdin = new net.Socket({ fd: inW, readable: false, writable: true });
    const stdout = new net.Socket({ fd: outR, readable: true, writable: false });
    const stderr = new net.Socket({ fd: errR, readable: true, writable: false });
    return new SpawnedDelegate(pid[0]!, stdin, stdout, stderr, lib);
  } finally {
    for (const fd of fds) lib.close(fd);
    lib.fileActionsDestroy(fa);
    lib.attrDestroy(attr);
  }
};
