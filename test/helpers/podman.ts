import { chmodSync, copyFileSync, existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mustRun, runCommand, type CommandResult } from './exec.ts';
import { makeTempDir } from './tmp.ts';

/**
 * Podman 4.3 (Debian 12) as a real container runtime for end-to-end tests: it still has the CNI
 * backend, and calls a network's plugins through libcni exactly as a runtime does (delegates.md).
 *
 * Nothing of the machine's own podman set-up is used or touched:
 * - a private containers.conf in a temp dir, named by CONTAINERS_CONF (network_backend "cni", the
 *   plugin dirs, network_config_dir = that temp dir); /etc/containers is never read or written;
 * - image store, run state and temp files under the same temp dir (--root, --runroot, --tmpdir;
 *   the store costs one `podman import` of a 2 MB tar, ~0.3 s);
 * - runc through a wrapper that gives it a state dir there: `--runtime-flag root=` does not reach
 *   the cleanup process conmon starts, which then creates /run/runc;
 * - each podman command runs in a private mount namespace with a tmpfs on /var/lib and /var/tmp,
 *   because libcni caches results in /var/lib/cni (not configurable in 4.3), `podman import`
 *   writes /var/lib/containers/cache and `podman run` stages files in /var/tmp; the CNI cache is
 *   bind-mounted from the temp dir so that tests can read it and a later podman command finds it.
 *   Mounts podman makes (overlay, the container's netns) stay in that namespace and go with it.
 * The machine lacks CAP_SYS_RESOURCE, so `--ulimit host` (delegates.md) fails here ("error setting
 * rlimit type 7"); containers get nofile/nproc 1024 instead, through default_ulimits.
 */

export const BUSYBOX_IMAGE = 'localhost/braid-bb:latest';
const BUSYBOX = '/bin/busybox';
const APPLETS = ['sh', 'ip', 'ls', 'cat', 'echo', 'true', 'sleep', 'ifconfig', 'route', 'nc', 'wget', 'hostname'];

/** Why podman e2e tests cannot run here, or undefined when they can. */
export function podmanUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'podman e2e tests need root';
  for (const f of ['/usr/bin/podman', '/usr/sbin/runc', BUSYBOX])
    if (!existsSync(f)) return `${f} is missing (scripts/setup.sh installs it)`;
  return undefined;
}

export interface ContainersConfOptions {
  pluginDirs: readonly string[];
  networkConfigDir: string;
  /** Where `podman import` stages the image (default /var/tmp). */
  imageTmpDir: string;
  /** The program podman and conmon run as "runc". */
  runcPath: string;
  /** [engine] env: variables podman sets in its own environment, which libcni passes to plugins. */
  engineEnv?: Readonly<Record<string, string>>;
}

const tomlString = (s: string): string => JSON.stringify(s);
const tomlList = (items: readonly string[]): string => `[${items.map(tomlString).join(', ')}]`;

/** The private containers.conf. */
export function containersConf(o: ContainersConfOptions): string {
  return `# written by test/helpers/podman.ts
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[network]
network_backend = "cni"
cni_plugin_dirs = ${tomlList(o.pluginDirs)}
network_config_dir = ${tomlString(o.networkConfigDir)}

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
image_copy_tmp_dir = ${tomlString(o.imageTmpDir)}
env = ${tomlList(Object.entries(o.engineEnv ?? {}).map(([k, v]) => `${k}=${v}`))}

[engine.runtimes]
runc = [${tomlString(o.runcPath)}]
`;
}

/** One interface as busybox `ip addr` prints it (busybox ip has no -j); field names as in `ip -j`. */
export interface TextIpAddrs {
  ifindex: number;
  ifname: string;
  /** What follows `@`: the peer's index for a veth (`if12`), the lower device for a macvlan. */
  link?: string;
  flags: string[];
  mtu: number;
  link_type: string;
  address?: string;
  addr_info: { family: 'inet' | 'inet6'; local: string; prefixlen: number }[];
}

/** Parses `ip addr` text output (busybox or iproute2). */
export function parseIpAddrText(text: string): TextIpAddrs[] {
  const links: TextIpAddrs[] = [];
  for (const line of text.split('\n')) {
    const header = /^(\d+):\s+([^:@\s]+)(?:@(\S+))?:\s+<([^>]*)>(.*)$/.exec(line);
    if (header) {
      const [, index, ifname, link, flags, rest] = header as unknown as string[];
      const entry: TextIpAddrs = {
        ifindex: Number(index),
        ifname: ifname!,
        flags: flags ? flags.split(',') : [],
        mtu: Number(/\bmtu (\d+)/.exec(rest!)?.[1] ?? 0),
        link_type: '',
        addr_info: [],
      };
      if (link) entry.link = link;
      links.push(entry);
      continue;
    }
    const current = links.at(-1);
    if (!current) continue;
    const l2 = /^\s+link\/(\S+)(?:\s+([0-9a-f:]{17}))?/.exec(line);
    if (l2) {
      current.link_type = l2[1]!;
      if (l2[2]) current.address = l2[2];
      continue;
    }
    const l3 = /^\s+(inet6?)\s+([0-9a-f.:]+)\/(\d+)/.exec(line);
    if (l3) current.addr_info.push({ family: l3[1] as 'inet' | 'inet6', local: l3[2]!, prefixlen: Number(l3[3]) });
  }
  return links;
}

export interface RunContainerOptions {
  network: string;
  /** Container name; podman sends it as K8S_POD_NAME in CNI_ARGS. */
  name?: string;
  /** Default: `ip addr`. */
  command?: readonly string[];
  /** More `podman run` flags, e.g. ['--ip', '10.213.1.9']. */
  extraArgs?: readonly string[];
  timeoutMs?: number;
}

export interface Podman {
  /** The temp dir that holds everything of this podman set-up. */
  readonly dir: string;
  /** network_config_dir: put `<name>.conflist` files here; the conflist's name is the network. */
  readonly networkConfigDir: string;
  /** What libcni cached (results, per-attachment configs), as /var/lib/cni looked to podman. */
  readonly cniCacheDir: string;
  /** Any podman command, with the isolation described above. */
  podman(args: readonly string[], timeoutMs?: number): Promise<CommandResult>;
  /** Imports the busybox image into this store unless it is there already. */
  ensureImage(): Promise<void>;
  /** `podman run --rm --network <net> <image> <command>`; resolves with podman's result. */
  run(options: RunContainerOptions): Promise<CommandResult>;
  /** Writes `<networkConfigDir>/<name>.conflist`; returns its path. */
  writeConflist(conflist: { name: string } & Record<string, unknown>): string;
  /** Removes every container left (their networks are torn down: plugins get DEL), then the temp dir. */
  destroy(): Promise<void>;
}

function buildBusyboxTar(dir: string): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  mkdirSync(join(rootfs, 'bin'), { recursive: true });
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  for (const applet of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', applet));
  const tar = join(dir, 'braid-bb.tar');
  return mustRun(['tar', '-C', rootfs, '-cf', tar, '.']).then(() => tar);
}

// tmpfs on /var/lib and /var/tmp, the CNI cache bind-mounted from the temp dir; see the top comment.
const ISOLATE = [
  'mount -t tmpfs -o mode=0755 braid-e2e /var/lib',
  'mount -t tmpfs -o mode=1777 braid-e2e /var/tmp',
  'mkdir /var/lib/cni',
  'mount --bind "$BRAID_CNI_CACHE" /var/lib/cni',
  'exec "$@"',
].join(' && ');

const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** runc with its state (normally /run/runc) in stateDir. */
function writeRuncWrapper(file: string, stateDir: string): void {
  writeFileSync(file, `#!/bin/sh\nexec /usr/sbin/runc --root ${shQuote(stateDir)} "$@"\n`);
  chmodSync(file, 0o755);
}

/**
 * A podman set-up in a fresh temp dir; `pluginDirs` are searched for plugins in this order.
 * `extraEnv` reaches every plugin podman runs (e.g. BRAID_ASSET_DIR for braid's single
 * executable). It goes through containers.conf's [engine] env, not the podman command's own
 * environment: the `podman container cleanup` that conmon starts when a container exits (and that
 * may be the one to call DEL) gets only a handful of podman's variables, but reads the same conf.
 */
export interface PodmanOptions {
  /**
   * Run every podman command inside this mount namespace (`/proc/<pid>/ns/mnt` of a process that
   * holds a fake host's mounts, test/helpers/fake-host.ts), keeping its propagation so that
   * `rshared`/`rslave` volumes of the fake host's shared mounts work as on a node.
   */
  mountNamespace?: string;
}

export function createPodman(
  pluginDirs: readonly string[],
  extraEnv: Readonly<Record<string, string>> = {},
  options: PodmanOptions = {},
): Podman {
  const dir = makeTempDir('braid-podman');
  const sub = (name: string) => {
    const p = join(dir, name);
    mkdirSync(p, { recursive: true });
    return p;
  };
  const networkConfigDir = sub('networks');
  const cniCacheDir = sub('cni-cache');
  const runcPath = join(dir, 'runc');
  writeRuncWrapper(runcPath, sub('runc-state'));
  const confFile = join(dir, 'containers.conf');
  writeFileSync(
    confFile,
    containersConf({ pluginDirs, networkConfigDir, imageTmpDir: sub('image-tmp'), runcPath, engineEnv: extraEnv }),
  );
  const globalFlags = ['--root', sub('root'), '--runroot', sub('runroot'), '--tmpdir', sub('tmp')];
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CONTAINERS_CONF: confFile,
    BRAID_CNI_CACHE: cniCacheDir,
  };

  const enter = options.mountNamespace ? ['nsenter', `--mount=${options.mountNamespace}`, '--'] : [];
  const propagation = options.mountNamespace ? 'unchanged' : 'private';
  const podman = (args: readonly string[], timeoutMs = 120_000) =>
    runCommand(
      [
        ...enter,
        'unshare',
        '--mount',
        '--propagation',
        propagation,
        '--',
        'sh',
        '-c',
        ISOLATE,
        'sh',
        'podman',
        ...globalFlags,
        ...args,
      ],
      {
        env,
        timeoutMs,
      },
    );
  const must = async (args: readonly string[]) => {
    const r = await podman(args);
    if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited with ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  };

  let image: Promise<void> | undefined;
  const ensureImage = () => {
    image ??= (async () => {
      if ((await podman(['image', 'exists', BUSYBOX_IMAGE])).code === 0) return;
      await must(['import', '-q', await buildBusyboxTar(sub('image')), BUSYBOX_IMAGE]);
    })();
    return image;
  };

  return {
    dir,
    networkConfigDir,
    cniCacheDir,
    podman,
    ensureImage,
    async run(o) {
      await ensureImage();
      const name = o.name ? ['--name', o.name] : [];
      const command = o.command ?? ['ip', 'addr'];
      return podman(
        ['run', '--rm', '--network', o.network, ...name, ...(o.extraArgs ?? []), BUSYBOX_IMAGE, ...command],
        o.timeoutMs,
      );
    },
    writeConflist(conflist) {
      const file = join(networkConfigDir, `${conflist.name}.conflist`);
      writeFileSync(file, JSON.stringify(conflist, null, 2));
      return file;
    },
    async destroy() {
      await podman(['rm', '--all', '--force', '--time', '0']);
      // The `podman container cleanup` conmon starts when a detached container exits may still be
      // taking its lock files in the dir: remove until the dir stays gone.
      for (let i = 0; i < 10; i++) {
        rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
        await new Promise((r) => setTimeout(r, 200));
        if (!existsSync(dir)) break;
      }
    },
  };
}
