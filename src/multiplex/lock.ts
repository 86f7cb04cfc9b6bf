import net from 'node:net';
import { CniCode, CniError } from '../cni/errors.ts';
import { fnv1a64 } from '../k8s/content-hash.ts';

/**
 * A per-container lock held as a bound abstract unix socket. The kernel releases it when the
 * process exits, however it exits, so a crashed or killed braid never leaves a stale lock behind,
 * and taking it costs no native module (braid's plugin path must start fast).
 * Abstract sockets are per network namespace; every braid process of one node runs in the
 * runtime's namespace, so that is the scope we want.
 */
export interface ContainerLock {
  release(): Promise<void>;
}

/** Abstract socket names are limited to 107 bytes; the container ID alone may be longer. */
export function lockName(scope: string, containerId: string): string {
  return `\0braid-lock-${fnv1a64(scope)}-${fnv1a64(containerId)}`;
}

function tryBind(name: string): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(err);
    });
    server.listen({ path: name, exclusive: true }, () => {
      server.unref();
      resolve(server);
    });
  });
}

/** Waits for the lock of one container; gives up with "try again later" after timeoutMs. */
export async function lockContainer(scope: string, containerId: string, timeoutMs: number): Promise<ContainerLock> {
  const name = lockName(scope, containerId);
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    const server = await tryBind(name);
    if (server) {
      return { release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
    }
    if (Date.now() >= deadline) {
      throw new CniError(
        CniCode.TryAgainLater,
        `container ${containerId} is locked by another braid call that has run for more than ${timeoutMs} ms`,
      );
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}
