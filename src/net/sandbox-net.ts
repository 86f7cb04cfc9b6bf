import { CniCode, CniError } from '../base/errors.ts';
import { ipBatchInNetns } from './ip-batch.ts';
import { ipInNetns } from './ip-in-netns.ts';
import type { NativeAddon } from './native-addon.ts';

/** The default route one attachment gets in a family, replacing every other attachment's. */
export interface DefaultRouteChange {
  /** The pod interfaces whose default routes of this family are removed first. */
  flushFrom: string[];
  family: 4 | 6;
  gateway: string;
  dev: string;
}

/**
 * What braid reads and changes in a pod's network namespace itself (the delegates do the rest).
 * A plugin process reads the interface list through braid's addon and spawns iproute2 for changes
 * (loading the netlink binding would cost it ~40 ms it uses once); braid-agent talks rtnetlink
 * in-process (src/net/sandbox-netlink.ts) and spawns nothing.
 */
export interface SandboxNet {
  /** The interface names in the namespace (a failure is code 4: CNI_NETNS is unusable). */
  linkNames(netns: string): Promise<Set<string>>;
  /** Flushes the other default routes of the family and installs the requested one. */
  setDefaultRoute(netns: string, change: DefaultRouteChange): Promise<void>;
}

/** The plugin process's way: one `nsenter --net ip` per read or batch of changes. */
export const iprouteSandboxNet: SandboxNet = {
  async linkNames(netns) {
    const out = await ipInNetns(netns, {
      args: ['-o', 'link', 'show'],
      timeoutMs: 5_000,
      what: 'list the interfaces (CNI_NETNS)',
      failureCode: CniCode.InvalidEnv,
    });
    // "7: net1@if3: <BROADCAST,...> mtu 1500 ..." -> net1
    const names = out
      .split('\n')
      .map((line) => /^\d+:\s+([^:@\s]+)/.exec(line)?.[1])
      .filter((n): n is string => n !== undefined);
    return new Set(names);
  },
  async setDefaultRoute(netns, c) {
    const any = c.family === 4 ? '0.0.0.0/0' : '::/0';
    const lines = c.flushFrom.map((ifname) => `route flush exact ${any} dev ${ifname}`);
    lines.push(`route replace default via ${c.gateway} dev ${c.dev}`);
    // One batch per family: iproute2 refuses "-4"/"-6" on batch lines.
    await ipBatchInNetns(netns, lines, undefined, c.family);
  },
};

/**
 * The plugin process's way where braid's addon loads: the interface list from a netlink dump on a
 * thread inside the namespace (a process less on every ADD), changes through iproute2 as above.
 */
export function addonSandboxNet(addon: NativeAddon): SandboxNet {
  return {
    async linkNames(netns) {
      try {
        return new Set(addon.linkNames(netns));
      } catch (e) {
        throw new CniError(
          CniCode.InvalidEnv,
          `cannot list the interfaces (CNI_NETNS) of ${netns}: ${(e as Error).message}`,
        );
      }
    },
    setDefaultRoute: (netns, change) => iprouteSandboxNet.setDefaultRoute(netns, change),
  };
}
