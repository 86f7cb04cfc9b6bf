import { CniCode, CniError } from '../cni/errors.ts';
import { isLongLived } from '../cni/long-lived.ts';
import { ipInNetns } from './ip-in-netns.ts';

/**
 * The interface names in a network namespace, read with one `ip -o link show` inside it. braid
 * asks before ADD so that a name already present (another container sharing the sandbox, a
 * leftover) fails the ADD up front: once a delegate has failed on it, the rollback's DEL would
 * remove the interface that was there before.
 */
export async function linkNamesInNetns(netnsPath: string, timeoutMs = 5_000): Promise<Set<string>> {
  // A long-lived process pays for the native netlink binding once, not a spawned `ip` per ADD;
  // a plugin process keeps `ip`, because loading the binding costs it ~40 ms.
  if (isLongLived()) return linkNamesOverNetlink(netnsPath);
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

async function linkNamesOverNetlink(netnsPath: string): Promise<Set<string>> {
  const [{ withNetlink }, { listLinks }] = await Promise.all([import('./netlink-socket.ts'), import('./links.ts')]);
  try {
    return withNetlink(netnsPath, (sock) => new Set(listLinks(sock).map((l) => l.name)));
  } catch (e) {
    throw new CniError(CniCode.InvalidEnv, `cannot list the interfaces (CNI_NETNS) of ${netnsPath}: ${(e as Error).message}`);
  }
}
