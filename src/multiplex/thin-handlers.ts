import type { PluginHandlers } from '../cni/skel.ts';
import type { NativeAddon } from '../net/native-addon.ts';
import { addonSandboxNet, iprouteSandboxNet } from '../net/sandbox-net.ts';
import { addonDeps, createBraidHandlers } from './handlers.ts';
import { lazyPolicyHooks } from './policy-hooks.ts';

/**
 * The handlers of one `braid` plugin process (thin mode): braid's addon where it loads (posix_spawn
 * for the delegates, OFD container locks, the interface list read without a process), else Node's
 * spawn, SQLite locks and iproute2;
 * API clients opened and closed by the call, the policy runtime loaded only when something is
 * enforced, no delegate timing.
 */
export function thinHandlers(addon: NativeAddon | undefined): PluginHandlers {
  return createBraidHandlers({
    net: addon ? addonSandboxNet(addon) : iprouteSandboxNet,
    policy: lazyPolicyHooks,
    ...addonDeps(addon),
  });
}
