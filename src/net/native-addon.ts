import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundledAsset } from '../base/sea-assets.ts';
import { trace } from '../base/trace.ts';
import { SyscallError } from './errno.ts';

/**
 * braid's Node-API addon (native/braid-native.c): posix_spawn, an interface list read in another
 * namespace, an open file description lock, and _exit, for a thin-mode plugin process, which would otherwise fork a 60 MB Node
 * process for each delegate and for `ip`, and pay ~40 ms to load koffi for the same calls. It
 * loads in well under a millisecond.
 *
 * Optional: a build without it, or a host whose libc is older than glibc 2.34, loads nothing, and
 * braid falls back to Node's spawn and iproute2.
 */
export const NATIVE_ADDON_FILE = 'braid-native.node';

/** A started child: its pid and the parent's ends of its stdin, stdout and stderr pipes. */
export interface SpawnedFds {
  pid: number;
  stdin: number;
  stdout: number;
  stderr: number;
}

export interface NativeAddon {
  /**
   * Starts `file` with exactly `argv` and `envp` ("K=V") in a session of its own, signals at their
   * defaults, and only the three pipes open; throws a SyscallError when it cannot.
   */
  spawn(file: string, argv: string[], envp: string[]): SpawnedFds;
  /** waitpid(WNOHANG): `pid` 0 while the child runs; throws a SyscallError (ECHILD: not ours, or reaped). */
  reap(pid: number): { pid: number; status: number };
  /** The interface names in the network namespace at `netnsPath`; throws a SyscallError. */
  linkNames(netnsPath: string): string[];
  /**
   * fcntl(F_OFD_SETLK, F_WRLCK) on the whole file: true when taken, false when another holder has
   * a conflicting lock (an open file description lock, or a process's POSIX lock such as SQLite's).
   */
  ofdTryLock(fd: number): boolean;
  /** Ends the process at once (_exit): no exit handlers, no heap teardown. */
  exitNow(code: number): never;
}

interface RawAddon {
  ofdTryLock(fd: number): number;
  spawn(file: string, argv: string[], envp: string[]): number[] | number;
  reap(pid: number): number[] | number;
  linkNames(netnsPath: string): string[] | number;
  exitNow(code: number): never;
}

function checked<T>(operation: string, r: T | number): T {
  if (typeof r === 'number') throw new SyscallError(operation, -r);
  return r;
}

function wrap(raw: RawAddon): NativeAddon {
  return {
    spawn(file, argv, envp) {
      const [pid, stdin, stdout, stderr] = checked(`posix_spawn ${file}`, raw.spawn(file, argv, envp));
      return { pid: pid!, stdin: stdin!, stdout: stdout!, stderr: stderr! };
    },
    reap(pid) {
      const [r, status] = checked(`waitpid ${pid}`, raw.reap(pid));
      return { pid: r!, status: status! };
    },
    linkNames: (netnsPath) => checked(`list the interfaces of ${netnsPath}`, raw.linkNames(netnsPath)),
    ofdTryLock(fd) {
      const r = raw.ofdTryLock(fd);
      if (r < 0) throw new SyscallError(`fcntl(F_OFD_SETLK) on descriptor ${fd}`, -r);
      return r === 1;
    },
    exitNow: (code) => raw.exitNow(code),
  };
}

/** Where the addon may be: the single executable's copy, beside the bundle, the repo's dist/ (source runs). */
function candidates(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  let bundled: string | undefined;
  try {
    bundled = bundledAsset(NATIVE_ADDON_FILE);
  } catch (e) {
    // An asset directory braid refuses (not root's own): the call goes on without the addon.
    trace(`native addon: ${(e as Error).message}`);
  }
  return [
    ...(bundled ? [bundled] : []),
    join(here, 'native', NATIVE_ADDON_FILE),
    join(here, '../../dist/native', NATIVE_ADDON_FILE),
  ];
}

/** The addon in `file`; throws when it cannot be loaded (e.g. a libc older than glibc 2.34). */
export function loadNativeAddon(file: string): NativeAddon {
  const module = { exports: {} as RawAddon };
  process.dlopen(module, file);
  return wrap(module.exports);
}

let loaded: { addon?: NativeAddon; problem?: string } | undefined;

function loadOnce(): { addon?: NativeAddon; problem?: string } {
  const places = candidates();
  const file = places.find((p) => existsSync(p));
  if (!file) return { problem: `no ${NATIVE_ADDON_FILE} (looked in ${places.join(', ')})` };
  try {
    return { addon: loadNativeAddon(file) };
  } catch (e) {
    return { problem: `${file}: ${(e as Error).message}` };
  }
}

/** The addon, loaded on first use; undefined when this build or this host has none. */
export function nativeAddon(): NativeAddon | undefined {
  if (!loaded) {
    loaded = loadOnce();
    if (loaded.problem) trace(`native addon not loaded: ${loaded.problem}`);
  }
  return loaded.addon;
}

/** Why nativeAddon() gave nothing (for braid-agent's start-up line); undefined when it loaded. */
export function nativeAddonProblem(): string | undefined {
  nativeAddon();
  return loaded?.problem;
}
