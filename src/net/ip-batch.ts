import { spawn } from 'node:child_process';
import { CniCode, CniError } from '../cni/errors.ts';

/**
 * Runs several iproute2 commands inside a network namespace with one process
 * (`nsenter --net=<path> ip -force -batch -`): used for the rare multi-step route changes of
 * `default-route`, where one process is cheaper than an rtnetlink session set up from scratch.
 * Failed lines are reported but do not stop the batch.
 */
export function ipBatchInNetns(netnsPath: string, lines: string[], timeoutMs = 10_000, family?: 4 | 6): Promise<string> {
  // Batch lines take no options such as -4/-6, and `route flush` without a family sees IPv4
  // only: a family is chosen for the whole batch.
  const familyOption = family ? [`-${family}`] : [];
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netnsPath}`, 'ip', ...familyOption, '-force', '-batch', '-'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CniError(CniCode.Internal, `cannot run ip in netns ${netnsPath}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new CniError(CniCode.Internal, `ip -batch in netns ${netnsPath} failed: ${stderr.trim() || code}`));
    });
    child.stdin.end(lines.join('\n') + '\n');
  });
}
