import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Child processes of the demo. Every child is remembered until it exits, so that a failure or a
 * Ctrl-C can end exactly the processes the demo started (by pid) before the namespaces go away.
 */

export interface RunResult {
  /** Exit status; null when a signal ended the process. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall-clock time from spawn to exit. */
  ms: number;
  timedOut: boolean;
}

export interface RunOptions {
  /** The child's whole environment (default: ours). */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed. */
  input?: string;
  /** SIGKILL after this long; a hung child must not hang the demo. */
  timeoutMs?: number;
}

const children = new Set<ChildProcess>();

/** Starts a child that outlives this call (a server); stop it with stopChild or stopAllChildren. */
export function startChild(argv: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
  const [file, ...args] = argv;
  if (!file) throw new Error('startChild: empty command');
  const child = spawn(file, args, { env: env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  child.on('exit', () => children.delete(child));
  // A child that exits without reading stdin makes our write fail with EPIPE: its business.
  child.stdin?.on('error', () => {});
  return child;
}

export function stopChild(child: ChildProcess): void {
  children.delete(child);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Ends every child the demo started and that still runs. */
export function stopAllChildren(): void {
  for (const child of [...children]) stopChild(child);
}

/** Runs a command (no shell) to its end and collects its output. */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = startChild(argv, options.env);
    } catch (e) {
      reject(e as Error);
      return;
    }
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stopChild(child);
    }, options.timeoutMs ?? 30_000);
    child.stdout!.on('data', (b: Buffer) => stdout.push(b));
    child.stderr!.on('data', (b: Buffer) => stderr.push(b));
    child.stdin!.end(options.input ?? '');
    child.on('error', (e) => {
      clearTimeout(timer);
      children.delete(child);
      reject(new Error(`cannot run ${argv[0]}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        code,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        ms: performance.now() - started,
        timedOut,
      });
    });
  });
}

/** Like run, but anything other than exit status 0 is an error quoting the command and its stderr. */
export async function mustRun(argv: readonly string[], options: RunOptions = {}): Promise<string> {
  const r = await run(argv, options);
  if (r.code !== 0) {
    const why = r.timedOut ? 'timed out' : `exited with ${r.code ?? 'a signal'}`;
    throw new Error(`\`${argv.join(' ')}\` ${why}: ${r.stderr.trim() || r.stdout.trim() || 'no output'}`);
  }
  return r.stdout;
}
