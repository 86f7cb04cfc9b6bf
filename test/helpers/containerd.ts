import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCommand, type CommandResult } from './exec.ts';

/**
 * containerd (Debian's 1.6) with its CRI plugin, as a test's own: root, state, socket, the opt
 * plugin's dir and pod network namespaces (netns_mounts_under_state_dir) all in `dir`; runc with
 * cgroupfs and its state there too; the CNI bin and conf dirs the test's. It runs in the test's node
 * network namespace (the host side of pod networks lands there) and in a mount namespace of its
 * own with a tmpfs on /run and /var/lib, so that what containerd and its shims keep there by fixed
 * path (/run/containerd/s shim sockets, libcni's /var/lib/cni cache) never reaches the machine.
 */
export interface ContainerdOptions {
  dir: string;
  nodeNetns: string;
  cniBinDir: string;
  cniConfDir: string;
  sandboxImage: string;
  /** More of containerd's environment, which its CNI plugins inherit (e.g. BRAID_BPF_DIR). */
  env?: Record<string, string>;
}

export interface Containerd {
  socket: string;
  /** containerd's mount namespace (`/proc/<pid>/ns/mnt`): pod netns paths exist only there. */
  mountNamespace: string;
  /** `ctr` against this containerd, in the k8s.io namespace CRI uses. */
  ctr(args: readonly string[]): Promise<CommandResult>;
  log(): string;
  /** Kills containerd and every shim it started (by pid), then waits for them. */
  stop(): Promise<void>;
}

export const CONTAINERD = '/usr/bin/containerd';

export function containerdUnavailable(): string | undefined {
  for (const f of [CONTAINERD, '/usr/bin/ctr', '/usr/sbin/runc', '/usr/bin/containerd-shim-runc-v2']) {
    if (!existsSync(f)) return `${f} is missing (scripts/setup.sh installs containerd)`;
  }
  return undefined;
}

function config(o: ContainerdOptions, socket: string): string {
  const q = (s: string) => JSON.stringify(s);
  return `version = 2
root = ${q(join(o.dir, 'root'))}
state = ${q(join(o.dir, 'state'))}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = ${q(socket)}
[ttrpc]
  address = ${q(`${socket}.ttrpc`)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(join(o.dir, 'opt'))}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(o.sandboxImage)}
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  netns_mounts_under_state_dir = true
  # The machine may lack CAP_SYS_RESOURCE: sandboxes keep containerd's OOM score instead of -998.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = ${q(join(o.dir, 'runc'))}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(o.cniBinDir)}
    conf_dir = ${q(o.cniConfDir)}
    max_conf_num = 1
`;
}

const ISOLATE =
  'mount -t tmpfs -o mode=0755 braid-t-containerd /run && mount -t tmpfs -o mode=0755 braid-t-containerd /var/lib && exec "$@"';

/** Pids of the shims serving this containerd (their command line names its socket). */
function shimPids(socket: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd[0]?.endsWith('containerd-shim-runc-v2') && cmd.includes(socket)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

export async function startContainerd(o: ContainerdOptions): Promise<Containerd> {
  const socket = join(o.dir, 'containerd.sock');
  const configFile = join(o.dir, 'config.toml');
  mkdirSync(o.dir, { recursive: true });
  writeFileSync(configFile, config(o, socket));
  const child: ChildProcess = spawn(
    'nsenter',
    [
      `--net=${o.nodeNetns}`,
      '--',
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      ISOLATE,
      'sh',
      CONTAINERD,
      '--config',
      configFile,
      '--log-level',
      'info',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...o.env } },
  );
  let log = '';
  child.stderr?.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const ctr = (args: readonly string[]) =>
    runCommand(['ctr', '--address', socket, '--namespace', 'k8s.io', ...args], { timeoutMs: 60_000 });
  const deadline = Date.now() + 30_000;
  while (!(existsSync(socket) && (await ctr(['version'])).code === 0)) {
    if (child.exitCode !== null) throw new Error(`containerd exited with ${child.exitCode}: ${log}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`containerd did not come up on ${socket}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    socket,
    mountNamespace: `/proc/${child.pid}/ns/mnt`,
    ctr,
    log: () => log,
    stop: async () => {
      const shims = shimPids(socket);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      for (const pid of shims) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    },
  };
}
