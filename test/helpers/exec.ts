import { spawn } from 'node:child_process';

/** What a finished (or killed) child process left behind. */
export interface CommandResult {
  /** Exit status; null when a signal ended the process. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the process ran past its time limit and was killed. */
  timedOut: boolean;
}

export interface CommandOptions {
  /** The complete environment of the child (default: this process's environment). */
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, which is then closed; without it stdin is empty. */
  input?: string;
  /** SIGKILL after this long (default 30 s): a hung child must not hang the suite. */
  timeoutMs?: number;
  cwd?: string;
}

/** Runs argv[0] with the rest as arguments (no shell) and collects its output. */
export function runCommand(argv: readonly string[], options: CommandOptions = {}): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (!file) throw new Error('runCommand: empty argv');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: 'pipe' });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 30_000);
    child.stdout.on('data', (b: Buffer) => stdout.push(b));
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    // A child that exits without reading stdin makes the write fail with EPIPE; that is its business.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${argv.join(' ')}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        timedOut,
      });
    });
  });
}

/** Like runCommand, but a non-zero exit is an error that quotes the command and its stderr. */
export async function mustRun(argv: readonly string[], options: CommandOptions = {}): Promise<string> {
  const r = await runCommand(argv, options);
  if (r.code !== 0) {
    const why = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exited with ${r.code}`;
    throw new Error(`${argv.join(' ')} ${why}: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}
