import { CniCode } from '../cni/errors.ts';
import { ipInNetns } from './ip-in-netns.ts';

/**
 * The interface names in a network namespace, read with one `ip -o link show` inside it. braid
 * asks before ADD so that a name already present (another container sharing the sandbox, a
 * leftover) fails the ADD up front: once a delegate has failed on it, the rollback's DEL would
 * remove the interface that was there before.
 */
export async function linkNamesInNetns(netnsPath: string, timeoutMs = 5_000): Promise<Set<string>> {
  const out = await ipInNetns(netnsPath, {
    args: ['-o', 'link', 'show'],
    timeoutMs,
    what: 'list the interfaces (CNI_NETNS)',
    failureCode: CniCode.InvalidEnv,
  });
  // "7: net1@if3: <BROADCAST,...> mtu 1500 ..." -> net1
  const names = out
    .split('\n')
    .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
    .filter((n): n is string => n !== undefined);
  return new Set(names);
}
