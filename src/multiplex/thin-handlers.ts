import type { PluginHandlers } from '../cni/skel.ts';
import { iprouteSandboxNet } from '../net/sandbox-net.ts';
import { createBraidHandlers } from './handlers.ts';
import { lazyPolicyHooks } from './policy-hooks.ts';

/**
 * The handlers of one `braid` plugin process (thin mode): iproute2 for the pod's namespace, API
 * clients opened and closed by the call, the policy runtime loaded only when something is
 * enforced, no delegate timing.
 */
export function thinHandlers(): PluginHandlers {
  return createBraidHandlers({ net: iprouteSandboxNet, policy: lazyPolicyHooks });
}
