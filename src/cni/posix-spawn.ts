import { EventEmitter } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import { errnoName, SyscallError } from '../net/errno.ts';
import type { NativeAddon, SpawnedFds } from '../net/native-addon.ts';
import type { DelegateChild, SpawnDelegate } from './exec.ts';

/**
 * Delegates started with glibc's posix_spawn (clone with CLONE_VM|CLONE_VFORK) through braid's
 * addon (native/braid-native.c) instead of Node's child_process, whose libuv fork() copies the
 * page tables of the whole process: 2-8 ms per delegate in braid-agent (tens of MB of heap), and
 * 2-3 ms in a plugin process, more than the exec itself, while a vfork-style spawn costs the same
 * however large the parent is.
 *
 * The child leads its own session (as `detached: true`), gets default signal dispositions and an
 * empty signal mask (Node ignores SIGPIPE, and ignored signals survive exec), and stdin, stdout
 * and stderr pipes. It is reaped with waitpid(WNOHANG) once both output pipes are closed (which
 * is also when Node's 'close' fires: libuv only reaps the processes it started itself): at once
 * when it has exited, else at the SIGCHLD its exit sends (a child closes its pipes a moment
 * before it becomes a zombie; a timer would add its granularity to every delegate).
 */

/** A safety net beside SIGCHLD: how often a child whose pipes are closed is polled for. */
const POLL_MS = 100;

const signalName = (n: number) => Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;

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
    private readonly addon: NativeAddon,
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
    let reaped: { pid: number; status: number } | undefined;
    try {
      reaped = this.addon.reap(this.pid);
    } catch {
      // ECHILD: someone else reaped it, and its status is unknown.
    }
    if (reaped?.pid === 0) {
      this.timer ??= setInterval(() => this.tryReap(), POLL_MS);
      return;
    }
    unreaped.delete(this);
    clearInterval(this.timer);
    if (reaped?.pid !== this.pid) return void this.emit('close', null, null);
    const s = reaped.status;
    const termsig = s & 0x7f;
    if (termsig === 0) this.emit('close', (s >> 8) & 0xff, null);
    else this.emit('close', null, signalName(termsig));
  }
}

/**
 * Starts `file` with argv `[argv0, ...args]` and exactly `env`; throws like Node's spawn reports a
 * failed start (an error whose `code` is the errno's name, e.g. ENOENT).
 */
export function posixSpawnDelegate(addon: NativeAddon): SpawnDelegate {
  return (file, args, opts) => {
    const envp = Object.entries(opts.env).map(([k, v]) => `${k}=${v}`);
    let fds: SpawnedFds;
    try {
      fds = addon.spawn(file, [opts.argv0, ...args], envp);
    } catch (e) {
      // As Node's spawn reports it (exec.ts reads `code`); a SyscallError's own `code` is its CNI code.
      if (e instanceof SyscallError) throw Object.assign(new Error(e.message), { code: errnoName(e.errno) });
      throw e;
    }
    const stdin = new net.Socket({ fd: fds.stdin, readable: false, writable: true });
    const stdout = new net.Socket({ fd: fds.stdout, readable: true, writable: false });
    const stderr = new net.Socket({ fd: fds.stderr, readable: true, writable: false });
    return new SpawnedDelegate(fds.pid, stdin, stdout, stderr, addon);
  };
}
