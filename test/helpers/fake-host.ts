import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from './tmp.ts';

/**
 * A temporary "host" for tests of braid as the DaemonSet installs it: a directory laid out like a
 * node's root file system, in which hostPath volumes point (`<root>/opt/cni/bin` for
 * /opt/cni/bin, ...) and into which host-side programs are run chrooted, so that every absolute
 * path braid writes into confs means the same file for the containers and for the "host".
 *
 * What a root needs but a test must not copy or touch lives in a mount namespace of its own, held
 * by a sleeping process: the machine's /usr (libraries, iptables), /proc, /sys, /dev and
 * /run/netns bound in, and a fresh bpffs instance on <root>/sys/fs/bpf, so that pins made there
 * are nobody else's and go with the namespace. The machine's own mount table never changes: the
 * mounts exist only in that namespace (and copies of it), and vanish when the holder is killed.
 * Network namespaces must exist before the host is created (the binds are private).
 */
export interface FakeHost {
  root: string;
  /** `/proc/<pid>/ns/mnt` of the holder: for nsenter --mount and createPodman's mountNamespace. */
  mountNamespace: string;
  /** argv run inside the host's mount namespace (not chrooted). */
  inMounts(argv: readonly string[]): string[];
  destroy(): Promise<void>;
}

const BINDS = ['usr', 'proc', 'sys', 'dev', 'run/netns'];

export async function createFakeHost(): Promise<FakeHost> {
  const root = makeTempDir('braid-t-host');
  for (const d of [...BINDS, 'tmp', 'etc', 'var/lib', 'run']) mkdirSync(join(root, d), { recursive: true });
  for (const l of ['lib', 'lib64', 'bin', 'sbin']) symlinkSync(`usr/${l}`, join(root, l));
  const script = [
    // The root becomes a shared mount of this namespace only: podman's bind-propagation (rslave,
    // rshared) needs a shared source, as / is on a node.
    `mount --bind ${root} ${root}`,
    ...BINDS.map((d) => `mount --rbind /${d} ${root}/${d}`),
    `mount -t bpf braid-t-bpffs ${root}/sys/fs/bpf`,
    `mount --make-rshared ${root}`,
    'echo ready',
    'exec sleep infinity',
  ].join(' && ');
  const holder: ChildProcess = spawn('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  holder.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  await new Promise<void>((resolve, reject) => {
    holder.stdout?.once('data', () => resolve());
    holder.once('exit', (code) => reject(new Error(`fake host mounts failed (exit ${code}): ${stderr}`)));
  });
  const mountNamespace = `/proc/${holder.pid}/ns/mnt`;
  return {
    root,
    mountNamespace,
    inMounts: (argv) => ['nsenter', `--mount=${mountNamespace}`, '--', ...argv],
    destroy: async () => {
      if (holder.exitCode !== null || holder.signalCode !== null) return;
      const exited = new Promise((r) => holder.once('exit', r));
      holder.kill('SIGKILL');
      await exited;
    },
  };
}
