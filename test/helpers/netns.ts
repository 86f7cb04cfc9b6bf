import { randomBytes } from 'node:crypto';
import { mustRun, runCommand, type CommandOptions, type CommandResult } from './exec.ts';

/**
 * Network namespaces for root tests, made with `ip netns add` (so `/run/netns/<name>` exists and a
 * plugin can be given it as CNI_NETNS) and always named `<prefix>-<random hex>`; scripts/test.sh
 * fails the run when a `braid-t-*` namespace outlives the tests. Call destroyAllNetns() in afterEach.
 */

/** One entry of `ip -j link show` (the fields tests read; iproute2 prints more). */
export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  link_type: string;
  address?: string;
  /** Peer or lower device name, when it is in the same namespace. */
  link?: string;
  link_netnsid?: number;
  master?: string;
  [key: string]: unknown;
}

export interface IpAddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope: string;
  [key: string]: unknown;
}

/** One entry of `ip -j addr show`. */
export interface IpAddrs extends IpLink {
  addr_info: IpAddrInfo[];
}

/** One entry of `ip -j route show`. */
export interface IpRoute {
  dst: string;
  dev?: string;
  gateway?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  flags: string[];
  [key: string]: unknown;
}

export interface Netns {
  readonly name: string;
  /** `/run/netns/<name>`: what CNI_NETNS and `nsenter --net=` take. */
  readonly path: string;
  /**
   * Runs a command inside with `ip netns exec`. That also enters a new mount namespace with `/sys`
   * remounted, which hides the host's bpffs at /sys/fs/bpf: anything that reads or writes BPF pins
   * must use nsenter() instead.
   */
  exec(cmd: readonly string[], options?: CommandOptions): Promise<CommandResult>;
  /** Runs a command inside with `nsenter --net=<path>`: only the network namespace changes. */
  nsenter(cmd: readonly string[], options?: CommandOptions): Promise<CommandResult>;
  /** `ip -n <name> <args>`; throws with ip's message on failure. */
  ip(args: readonly string[]): Promise<string>;
  /** `ip -j -n <name> <args>` parsed; an empty answer is []. */
  ipJson<T = unknown>(args: readonly string[]): Promise<T>;
  links(): Promise<IpLink[]>;
  addrs(): Promise<IpAddrs[]>;
  routes(family?: 4 | 6): Promise<IpRoute[]>;
  /** Kills what still runs inside, then deletes the namespace (and with it its veths). */
  destroy(): Promise<void>;
}

const created = new Map<string, Netns>();

/** `<prefix>-<8 hex digits>`: random so that parallel runs and leftovers never collide. */
export function netnsName(prefix = 'braid-t'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** `ip` arguments that address a namespace, or the test process's own one for null. */
export function ipArgs(ns: Netns | null, args: readonly string[]): string[] {
  return ns ? ['ip', '-n', ns.name, ...args] : ['ip', ...args];
}

export function parseIpJson<T>(stdout: string): T {
  const text = stdout.trim();
  return (text === '' ? [] : JSON.parse(text)) as T;
}

async function killProcessesIn(name: string): Promise<void> {
  const r = await runCommand(['ip', 'netns', 'pids', name]);
  for (const pid of r.stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Creates a namespace (loopback left down, as a runtime leaves it for the loopback plugin). */
export async function createNetns(prefix = 'braid-t'): Promise<Netns> {
  const name = netnsName(prefix);
  await mustRun(['ip', 'netns', 'add', name]);
  const path = `/run/netns/${name}`;
  const ns: Netns = {
    name,
    path,
    exec: (cmd, options) => runCommand(['ip', 'netns', 'exec', name, ...cmd], options),
    nsenter: (cmd, options) => runCommand(['nsenter', `--net=${path}`, '--', ...cmd], options),
    ip: (args) => mustRun(['ip', '-n', name, ...args]),
    ipJson: async <T>(args: readonly string[]) => parseIpJson<T>(await mustRun(['ip', '-j', '-n', name, ...args])),
    links: () => ns.ipJson<IpLink[]>(['link', 'show']),
    addrs: () => ns.ipJson<IpAddrs[]>(['addr', 'show']),
    routes: (family = 4) => ns.ipJson<IpRoute[]>([`-${family}`, 'route', 'show']),
    destroy: async () => {
      created.delete(name);
      await killProcessesIn(name);
      const r = await runCommand(['ip', 'netns', 'del', name]);
      if (r.code !== 0 && !/No such file/.test(r.stderr)) {
        throw new Error(`ip netns del ${name}: ${r.stderr.trim()}`);
      }
    },
  };
  created.set(name, ns);
  return ns;
}

/** Destroys every namespace createNetns() made in this process; for afterEach. */
export async function destroyAllNetns(): Promise<void> {
  const errors: string[] = [];
  for (const ns of [...created.values()]) {
    await ns.destroy().catch((e: Error) => errors.push(e.message));
  }
  if (errors.length > 0) throw new Error(errors.join('; '));
}

/**
 * A veth pair with one end in each namespace (null: the test process's namespace), both up.
 * Deleting either namespace deletes the pair.
 */
export async function vethPair(nsA: Netns | null, nsB: Netns | null, nameA: string, nameB: string): Promise<void> {
  const peer = ['peer', 'name', nameB, ...(nsB ? ['netns', nsB.name] : [])];
  await mustRun(ipArgs(nsA, ['link', 'add', nameA, 'type', 'veth', ...peer]));
  await mustRun(ipArgs(nsA, ['link', 'set', nameA, 'up']));
  await mustRun(ipArgs(nsB, ['link', 'set', nameB, 'up']));
}

/** Moves a link between namespaces (null: the test process's namespace). */
export async function moveLink(link: string, from: Netns | null, to: Netns | null): Promise<void> {
  const target = to ? to.name : String(process.pid);
  // `netns <pid>` names the test process's own namespace, which has no name under /run/netns.
  await mustRun(ipArgs(from, ['link', 'set', link, 'netns', target]));
}
