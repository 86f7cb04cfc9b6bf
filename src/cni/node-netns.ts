import { statSync } from 'node:fs';
import { CniCode, CniError } from '../base/errors.ts';

/**
 * The node is never a pod: a CNI_NETNS that is the network namespace braid itself runs in (in
 * braid-agent: the agent's), or init's, would have delegates put interfaces, addresses and routes
 * on the node. The comparison is by device and inode of the namespace file, so every name of it
 * counts: /proc/self/ns/net, /proc/thread-self/ns/net, /proc/<pid>/ns/net, a bind mount under
 * /var/run/netns.
 */
const OWN_NAMESPACES = ['/proc/self/ns/net', '/proc/1/ns/net'];

function identity(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** Which of braid's own namespaces `netns` is, if any. */
export function nodeNamespaceOf(netns: string): string | undefined {
  if (netns === '') return undefined;
  const id = identity(netns);
  if (id === undefined) return undefined;
  return OWN_NAMESPACES.find((own) => identity(own) === id);
}

/** Refuses a CNI_NETNS that is braid's own or init's network namespace (code 4, naming the path). */
export function refuseNodeNetns(netns: string): void {
  const own = nodeNamespaceOf(netns);
  if (own === undefined) return;
  const whose = own === '/proc/1/ns/net' ? "init's (the node's)" : "braid's own";
  throw new CniError(
    CniCode.InvalidEnv,
    `CNI_NETNS ${netns} is ${whose} network namespace (same as ${own}); braid never configures the node as a pod`,
  );
}
