import type { EventEmitter } from 'node:events';
import { accessSync, constants } from 'node:fs';
import { pdeathsigLauncher, processStartTime, type DelegateProcess } from './delegate-process.ts';
import { join } from 'node:path';
import { CniCode, CniError } from '../base/errors.ts';
import { trace } from '../base/trace.ts';

/**
 * braid-agent --host-root: delegates run with `root` (the host's root file system as mounted in the
 * agent's container) as their root directory, started through `helper` (braid-chroot, which
 * chroots and execs), as Multus' thick plugin runs them. Plugin paths stay the host's own.
 */
export interface HostRoot {
  root: string;
  helper: string;
}

/** Where a host path is in this process's file system. */
export function hostPathHere(hostRoot: HostRoot | undefined, path: string): string {
  return hostRoot ? join(hostRoot.root, path) : path;
}

/**
 * A started delegate, as execPlugin uses it: Node's ChildProcess (stdio pipes) has this shape.
 * Emits 'error' when it could not start and 'close' (code, signal) once it has exited and its
 * output pipes are closed.
 */
export interface DelegateChild extends EventEmitter {
  readonly pid?: number | undefined;
  readonly stdin: NodeJS.WritableStream & EventEmitter & { destroy(): void };
  readonly stdout: NodeJS.ReadableStream & { destroy(): void };
  readonly stderr: NodeJS.ReadableStream & { destroy(): void };
}

/**
 * How a process starts a delegate: `file` with argv `[argv0, ...args]`, exactly `env`, its own
 * session, stdio pipes. May throw when it cannot start it (then `code` names the errno).
 */
export type SpawnDelegate = (
  file: string,
  args: string[],
  opts: { env: Record<string, string>; argv0: string },
) => DelegateChild;

/**
 * Node's spawn: where braid's addon is not loaded (posix-spawn.ts). The module is loaded at the
 * first delegate, so that a process using the addon never loads it.
 */
export const nodeSpawnDelegate: SpawnDelegate = (file, args, opts) =>
  process.getBuiltinModule('node:child_process').spawn(file, args, {
    env: opts.env,
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
    argv0: opts.argv0,
  }) as DelegateChild;

export interface ExecOptions {
  /** Absolute path of the plugin binary (as the host sees it, with hostRoot). */
  path: string;
  /** Run the plugin chrooted into this root; undefined: in this process's own. */
  hostRoot?: HostRoot | undefined;
  /** The complete environment of the plugin (nothing is inherited implicitly). */
  env: Record<string, string>;
  stdin: string;
  timeoutMs: number;
  /** Names the delegate in error messages, e.g. "net1 (default/macvlan)/macvlan". */
  label: string;
  /** Where the delegate's stderr goes (M3); defaults to our own stderr. */
  stderr?: NodeJS.WritableStream;
  /**
   * Called as soon as the delegate's process exists, to record it; when it throws, the
   * delegate is killed and the call fails with that error.
   */
  onStart?: (proc: DelegateProcess) => void;
  /** How the delegate is started; defaults to Node's spawn. */
  spawn?: SpawnDelegate | undefined;
}

/** A delegate's own CNI error (B4): code and details kept, message prefixed with the label. */
export class DelegateError extends CniError {
  readonly label: string;
  /** The message exactly as the delegate printed it. */
  readonly delegateMsg: string;

  constructor(code: number, label: string, delegateMsg: string, details?: string) {
    super(code, `${label}: ${delegateMsg}`, details);
    this.label = label;
    this.delegateMsg = delegateMsg;
  }
}

const QUOTE_BYTES = 200;

function quote(buf: Buffer): string {
  const text = buf.subarray(0, QUOTE_BYTES).toString('utf8');
  return JSON.stringify(buf.length > QUOTE_BYTES ? `${text}...` : text);
}

/** B4/B5: turns a failed delegate's output into the error braid reports. */
export function delegateFailure(label: string, exit: string, stdout: Buffer, stderr: Buffer): CniError {
  const fromStdout = stdout.toString('utf8').trim();
  const text = fromStdout !== '' ? fromStdout : stderr.toString('utf8').trim();
  if (text === '') {
    return new CniError(CniCode.DelegateBadOutput, `delegate ${label} failed (${exit}) without printing an error`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const e = parsed as { code?: unknown; msg?: unknown; details?: unknown } | undefined;
  if (e && typeof e === 'object' && typeof e.code === 'number' && Number.isInteger(e.code) && e.code > 0) {
    const msg = typeof e.msg === 'string' ? e.msg : `error code ${e.code}`;
    const details = typeof e.details === 'string' && e.details !== '' ? e.details : undefined;
    return new DelegateError(e.code, label, msg, details);
  }
  return new CniError(
    CniCode.DelegateBadOutput,
    `delegate ${label} failed (${exit}) and its output is not a CNI error: ${quote(Buffer.from(text))}`,
  );
}

/** Only an executable goes through the launcher, so that a bad path still fails as spawn reports it. */
function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/**
 * Runs one plugin binary (no shell) and returns its stdout. The plugin leads its own process
 * group so that on timeout the whole group, including anything it forked, is killed; where
 * setpriv is installed it is started with a parent-death signal, so that it also dies with braid.
 */
export function execPlugin(opts: ExecOptions): Promise<string> {
  const { path, env, stdin, timeoutMs, label, hostRoot } = opts;
  const errStream = opts.stderr ?? process.stderr;
  return new Promise((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    // With a host root, braid-chroot chroots and execs (and sets the parent-death signal itself).
    const launcher = hostRoot ? [hostRoot.helper, hostRoot.root] : executable(path) ? pdeathsigLauncher() : undefined;
    const [file, args] = launcher ? [launcher[0]!, [...launcher.slice(1), path]] : [path, []];
    const cannotRun = (e: NodeJS.ErrnoException) =>
      new CniError(CniCode.IoFailure, `cannot run delegate ${label} (${file}): ${e.code ?? e.message}`);
    trace(`delegate ${label}: spawning`);
    let child: DelegateChild;
    try {
      child = (opts.spawn ?? nodeSpawnDelegate)(file, args, { env, argv0: hostRoot ? file : path });
    } catch (e) {
      reject(cannotRun(e as NodeJS.ErrnoException));
      return;
    }
    trace(`delegate ${label}: spawned`);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      errStream.write(b);
    });
    // A plugin that exits without reading its stdin must not crash us with EPIPE.
    child.stdin.on('error', () => {});
    if (opts.onStart && child.pid !== undefined) {
      try {
        opts.onStart({ pid: child.pid, startTime: processStartTime(child.pid) ?? '' });
      } catch (e) {
        killGroup(child.pid);
        child.stdin.destroy();
        finish(() => reject(e));
        return;
      }
    }
    child.stdin.end(stdin);

    timer = setTimeout(() => {
      finish(() => {
        if (child.pid !== undefined) killGroup(child.pid);
        child.stdout.destroy();
        child.stderr.destroy();
        reject(
          new CniError(CniCode.DelegateTimeout, `delegate ${label} timed out after ${timeoutMs} ms and was killed`),
        );
      });
    }, timeoutMs);

    child.on('error', (e: NodeJS.ErrnoException) => finish(() => reject(cannotRun(e))));
    child.on('close', (code: number | null, signal: NodeJS.Signals | null) =>
      finish(() => {
        trace(`delegate ${label}: exited`);
        const stdoutBuf = Buffer.concat(out);
        if (code === 0) resolve(stdoutBuf.toString('utf8'));
        else {
          const exit = signal ? `killed by ${signal}` : `exit code ${code}`;
          reject(delegateFailure(label, exit, stdoutBuf, Buffer.concat(err)));
        }
      }),
    );
  });
}
