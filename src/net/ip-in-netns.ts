import { CniCode, CniError, type CniCodeValue } from '../base/errors.ts';

export interface IpRun {
  /** Arguments after `ip`. */
  args: string[];
  /** Standard input (for `-batch -`). */
  input?: string;
  timeoutMs?: number;
  /** What the caller was doing, for the error message. */
  what: string;
  /** CNI code when ip exits non-zero. */
  failureCode?: CniCodeValue;
}

/**
 * One iproute2 process inside a network namespace (`nsenter --net=<path> ip ...`). braid's
 * multiplexer uses it for its few kernel reads and writes, where one process costs less than
 * loading the netlink bindings into a short-lived plugin.
 */
export function ipInNetns(netnsPath: string, run: IpRun): Promise<string> {
  return new Promise((resolve, reject) => {
    // Loaded here, not at the top: a plugin process that never runs `ip` does not pay for the module.
    const { spawn } = process.getBuiltinModule('node:child_process');
    const child = spawn('nsenter', [`--net=${netnsPath}`, 'ip', ...run.args], {
      stdio: [run.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), run.timeoutMs ?? 10_000);
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CniError(CniCode.Internal, `cannot ${run.what} in netns ${netnsPath}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else {
        const why = stderr.trim() || `ip exited with ${code}`;
        reject(new CniError(run.failureCode ?? CniCode.Internal, `cannot ${run.what} in netns ${netnsPath}: ${why}`));
      }
    });
    if (run.input !== undefined) child.stdin!.end(run.input);
  });
}
