import type { DelegateObserver } from '../cni/list-context.ts';
import type { PluginHandlers } from '../cni/skel.ts';
import { MemoryYamlCache } from '../k8s/parsed-yaml-cache.ts';
import type { NativeAddon } from '../net/native-addon.ts';
import { netlinkSandboxNet } from '../net/sandbox-netlink.ts';
import { addonDeps, createBraidHandlers } from '../multiplex/handlers.ts';
import { SharedApiClients, type AgentCaches } from '../multiplex/kube-session.ts';
import type { PolicyHooks } from '../multiplex/policy-hooks.ts';
import type { Histogram } from './metrics.ts';

/** Delegate run times into the agent's histogram (labels: type, verb). */
export function histogramObserver(histogram: Histogram): DelegateObserver {
  return { delegateFinished: (run) => histogram.observe({ type: run.type, verb: run.verb }, run.seconds) };
}

export interface AgentHandlerParts {
  handlers: PluginHandlers;
  /** Closes what the handlers keep open (API connections). */
  close(): void;
}

/**
 * braid's verbs as braid-agent serves them: rtnetlink in-process for the pod's namespace (no
 * `ip`), container locks as open file description locks, one keep-alive API client for every
 * call, pods and NADs from the watch caches first, the agent's warm policy runtime, delegate
 * times into the metrics.
 */
export function agentHandlers(opts: {
  caches: AgentCaches | undefined;
  policy: PolicyHooks;
  delegateDuration: Histogram;
  /** braid's addon: delegates started with posix_spawn, locks as OFD locks; undefined: Node's spawn and SQLite locks. */
  addon: NativeAddon | undefined;
}): AgentHandlerParts {
  const clients = new SharedApiClients();
  const handlers = createBraidHandlers({
    net: netlinkSandboxNet,
    policy: opts.policy,
    kube: { caches: opts.caches, clients },
    observer: histogramObserver(opts.delegateDuration),
    ...addonDeps(opts.addon),
    manifests: new MemoryYamlCache(),
  });
  return { handlers, close: () => clients.close() };
}
