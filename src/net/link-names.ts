import { spawn } from 'node:child_process';
import { CniCode, CniError } from '../cni/errors.ts';

/**
 * The interface names in a network namespace, read with one `ip -o link show` inside it. braid
 * asks before ADD so that a name already present (another container sharing the sandbox, a
 * leftover) fails the ADD up front: once a delegate has failed on it, the rollback's DEL would
 * remove the interface that was there before.
 */
export function linkNamesInNetns(netnsPath: string, timeoutMs = 5_000): Promise<Set<string>> {
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', [`--net=${netnsPath}`, 'ip', '-o', 'link', 'show'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CniError(CniCode.Internal, `cannot list the interfaces of netns ${netnsPath}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new CniError(CniCode.InvalidEnv, `cannot enter CNI_NETNS ${netnsPath}: ${stderr.trim() || `exit ${code}`}`));
        return;
      }
      // "7: net1@if3: <BROADCAST,...> mtu 1500 ..." -> net1
      const names = stdout
        .split('\n')
        .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
        .filter((n): n is string => n !== undefined);
      resolve(new Set(names));
    });
  });
}
