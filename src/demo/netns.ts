import { mustRun, run } from './exec.ts';

/** The parts of `ip -j -d addr show` the demo reads. */
export interface IpAddrInfo {
  family: 'inet' | 'inet6';
  local: string;
  prefixlen: number;
  scope: string;
}

export interface IpLink {
  ifname: string;
  operstate: string;
  mtu: number;
  address?: string;
  master?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: IpAddrInfo[];
}

export interface IpRoute {
  dst: string;
  dev?: string;
  gateway?: string;
  scope?: string;
  prefsrc?: string;
}

function parseJson<T>(text: string): T {
  const trimmed = text.trim();
  return (trimmed === '' ? [] : JSON.parse(trimmed)) as T;
}

/**
 * A named network namespace (`ip netns add`, so that `/run/netns/<name>` exists and can be
 * handed to a CNI plugin as CNI_NETNS), looked at with iproute2's JSON output.
 */
export class DemoNetns {
  readonly path: string;

  private constructor(readonly name: string) {
    this.path = `/run/netns/${name}`;
  }

  static async create(name: string): Promise<DemoNetns> {
    await mustRun(['ip', 'netns', 'add', name]);
    return new DemoNetns(name);
  }

  /** `ip -n <name> ...`; throws with ip's message. */
  ip(args: readonly string[]): Promise<string> {
    return mustRun(['ip', '-n', this.name, ...args]);
  }

  async ipJson<T>(args: readonly string[]): Promise<T> {
    return parseJson<T>(await mustRun(['ip', '-j', '-n', this.name, ...args]));
  }

  /** Every link with its kind and addresses. */
  links(): Promise<IpLink[]> {
    return this.ipJson<IpLink[]>(['-d', 'addr', 'show']);
  }

  routes(): Promise<IpRoute[]> {
    return this.ipJson<IpRoute[]>(['-4', 'route', 'show']);
  }

  /** The device the kernel would send a packet to `address` from. */
  async routeDevice(address: string): Promise<string | undefined> {
    const [route] = await this.ipJson<IpRoute[]>(['route', 'get', address]);
    return route?.dev;
  }

  /** The IPv4 address on one interface, with and without its prefix length. */
  async ipv4Of(ifname: string): Promise<{ address: string; cidr: string } | undefined> {
    const [link] = await this.ipJson<IpLink[]>(['-4', 'addr', 'show', 'dev', ifname]);
    const info = link?.addr_info?.find((a) => a.family === 'inet');
    return info ? { address: info.local, cidr: `${info.local}/${info.prefixlen}` } : undefined;
  }

  /** argv that runs cmd inside this namespace (only the network namespace changes). */
  nsenter(cmd: readonly string[]): string[] {
    return ['nsenter', `--net=${this.path}`, '--', ...cmd];
  }

  /** A veth pair inside this namespace, both ends up. */
  async addVethPair(name: string, peer: string): Promise<void> {
    await this.ip(['link', 'add', 'name', name, 'type', 'veth', 'peer', 'name', peer]);
    await this.ip(['link', 'set', name, 'up']);
    await this.ip(['link', 'set', peer, 'up']);
  }

  remove(): Promise<void> {
    return removeNetns(this.name);
  }
}

/** Deletes a namespace, and with it every virtual link still inside; an absent one is fine. */
export async function removeNetns(name: string): Promise<void> {
  const r = await run(['ip', 'netns', 'del', name]);
  if (r.code !== 0 && !/No such file/.test(r.stderr)) throw new Error(`ip netns del ${name}: ${r.stderr.trim()}`);
}

/** Names under /run/netns (for the leftover check). */
export async function listNetns(): Promise<string[]> {
  const out = await mustRun(['ip', '-j', 'netns', 'list']);
  return parseJson<{ name: string }[]>(out).map((n) => n.name);
}
