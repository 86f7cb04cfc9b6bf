import type { PluginHandlers } from '../cni/skel.ts';
import { findKubeAccess } from '../k8s/kubeconfig.ts';
import { KubeClient } from '../k8s/rest-client.ts';
import { podEntriesDir } from '../policy/pod-entries.ts';
import { agentPolicyHooks } from './agent-policy-hooks.ts';
import { startPinJanitor } from './pin-janitor.ts';
import { agentHandlers } from './agent-handlers.ts';
import { CachedNadSource, CachedPodSource } from './cached-sources.ts';
import { stateDirOf, type PolicyRuntimeOptions } from '../policy/runtime.ts';
import { LocalStoreWatch } from '../policy/store-watch.ts';
import { AgentMetrics } from './agent-metrics.ts';
import { ClusterCache } from './cluster-cache.ts';
import { nativeAddon, nativeAddonProblem } from '../net/native-addon.ts';
import { handlersInHostRoot, resolveHostRoot } from './host-root.ts';
import { ConcurrencyLimiter } from './limiter.ts';
import type { AgentOptions } from './options.ts';
import { registerPolicyMetrics } from './policy-metrics.ts';
import { nodeReconciler, PolicySync, type PolicyReconciler } from './policy-sync.ts';
import type { ReflectorOptions } from './reflector.ts';
import { AgentServer } from './server.ts';
import { serveDelegate } from './multus-delegate.ts';
import { readMultusDaemonConfig } from './multus-api.ts';
import { CONF_DEFAULTS } from '../config/conf.ts';

/**
 * braid-agent put together: the socket server that runs braid's verbs in this process, the
 * watches that keep the cluster in memory, and the policy sync that follows them.
 */
export interface AgentDeps {
  log: (line: string) => void;
  env: Record<string, string | undefined>;
  /** braid's verbs; tests substitute stubs. */
  handlers?: PluginHandlers;
  /** Tests: a reconciler that records instead of touching BPF maps. */
  policyReconciler?: PolicyReconciler;
  /** Tests: shorter timeouts and backoff. */
  reflector?: Partial<Omit<ReflectorOptions, 'log'>>;
  policyDebounceMs?: number;
  policyPeriodMs?: number;
}

export interface RunningAgent {
  metrics: AgentMetrics;
  limiter: ConcurrencyLimiter;
  server: AgentServer;
  /** Undefined when no Kubernetes access is configured (the agent then only serves calls). */
  cache: ClusterCache | undefined;
  policySync: PolicySync | undefined;
  /** The TCP port of /metrics, when listening. */
  metricsPort: number | undefined;
  stop(): Promise<void>;
}

/** The embedded default: the local policy and pod stores are the cluster, watched for changes. */
function startLocalPolicyWatch(
  opts: AgentOptions,
  metrics: AgentMetrics,
  log: (line: string) => void,
): LocalStoreWatch {
  const runtime: PolicyRuntimeOptions = {
    bpfRoot: opts.bpfRoot,
    policyDir: opts.policyDir,
    podDir: opts.podDir,
    cacheDir: opts.cacheDir,
  };
  registerPolicyMetrics(metrics.registry, runtime);
  // ADD and DEL apply a pod's own status to the policy state; only edits by others reconcile.
  const watch = new LocalStoreWatch(runtime, { log, reconcileOnStatus: false });
  watch.start();
  return watch;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

export async function startAgent(opts: AgentOptions, deps: AgentDeps): Promise<RunningAgent> {
  const { log } = deps;
  const hostRoot = resolveHostRoot(opts.hostRoot, opts.chrootHelper);
  const metrics = new AgentMetrics();
  const limiter = new ConcurrencyLimiter(opts.maxConcurrent);
  metrics.watchLimiter(limiter);
  metrics.watchAttachments(opts.cacheDir);

  const access = await findKubeAccess(opts.kubeconfig, deps.env);
  let cache: ClusterCache | undefined;
  let policySync: PolicySync | undefined;
  let client: KubeClient | undefined;
  let localPolicy: LocalStoreWatch | undefined;
  let policyHooks: ReturnType<typeof agentPolicyHooks> | undefined;
  if (access) {
    client = new KubeClient(access, { timeoutMs: opts.apiTimeoutMs, retries: 2 });
    cache = new ClusterCache(client, access, {
      nodeName: opts.nodeName,
      policy: opts.policy,
      log,
      reflector: { watchTimeoutSeconds: opts.watchTimeoutSeconds, ...deps.reflector },
      onPolicyInputChange: (resource) => policySync?.schedule(resource),
    });
    metrics.watchCluster(cache);
    if (opts.policy) {
      const runtime: PolicyRuntimeOptions = {
        bpfRoot: opts.bpfRoot,
        policyDir: opts.policyDir,
        podDir: opts.podDir,
        cacheDir: opts.cacheDir,
      };
      registerPolicyMetrics(metrics.registry, runtime);
      policyHooks = agentPolicyHooks(cache, true);
      const held = policyHooks.held(runtime.bpfRoot, stateDirOf(runtime));
      policySync = new PolicySync(deps.policyReconciler ?? nodeReconciler(runtime, held), cache, metrics.registry, {
        debounceMs: deps.policyDebounceMs ?? 200,
        periodMs: deps.policyPeriodMs ?? 30_000,
        // Pod entries a thin-mode ADD or DEL wrote (the agent was not involved) trigger a reconcile.
        registryDir: podEntriesDir(stateDirOf(runtime)),
        ignore: policyHooks.ownsEntry,
        log,
      });
    }
  } else {
    log(
      'no Kubernetes access configured (no --kubeconfig, no in-cluster service): serving plugin calls' +
        (opts.policy ? `; policies follow the local stores ${opts.policyDir} and ${opts.podDir}` : ' only'),
    );
    if (opts.policy) localPolicy = startLocalPolicyWatch(opts, metrics, log);
  }

  // ADDs served here read pods and NADs from the watch caches before asking the API server.
  const caches = cache ? { pods: new CachedPodSource(cache), nads: new CachedNadSource(cache) } : undefined;
  policyHooks ??= agentPolicyHooks(cache, false);
  const janitorRuntime: PolicyRuntimeOptions = {
    bpfRoot: opts.bpfRoot,
    policyDir: opts.policyDir,
    podDir: opts.podDir,
    cacheDir: opts.cacheDir,
  };
  const stopJanitor = startPinJanitor(
    janitorRuntime,
    policyHooks.held(opts.bpfRoot, stateDirOf(janitorRuntime)),
    deps.policyPeriodMs ?? 60_000,
    log,
  );
  const own = agentHandlers({
    caches,
    policy: policyHooks,
    delegateDuration: metrics.delegateDuration,
    addon: nativeAddon(),
  });
  let stopping = false;
  const multusShim = { overlay: readMultusDaemonConfig(opts.multusDaemonConfig), cacheDir: opts.cacheDir };
  const server = new AgentServer({
    multusShim,
    socketPath: opts.socketPath,
    handlers: handlersInHostRoot(deps.handlers ?? own.handlers, hostRoot),
    limiter,
    metrics,
    health: { live: () => !stopping, notReady: () => cache?.notSynced() },
    multusDelegate: (req, res) =>
      serveDelegate(
        {
          cacheDir: opts.cacheDir,
          binDir: CONF_DEFAULTS.binDir,
          delegateTimeoutMs: CONF_DEFAULTS.delegateTimeoutSeconds * 1000,
          log,
          ...(client ? { client } : {}),
        },
        req,
        res,
      ),
  });
  await server.listen();
  let metricsPort: number | undefined;
  try {
    if (opts.metricsAddress) metricsPort = await server.listenTcp(opts.metricsAddress.host, opts.metricsAddress.port);
  } catch (e) {
    await server.close();
    throw e;
  }
  cache?.start();
  // The first reconcile waits for the lists: an empty cache would open every isolated interface.
  void cache?.whenSynced().then(() => policySync?.start());
  log(
    `listening on ${opts.socketPath}${metricsPort ? `, metrics on port ${metricsPort}` : ''}; node ${opts.nodeName}; at most ${opts.maxConcurrent} calls at once${hostRoot ? `; delegates run in ${hostRoot.root}` : ''}`,
  );
  const addonProblem = nativeAddonProblem();
  if (addonProblem) {
    log(
      `braid's addon did not load (${addonProblem}): delegates start through Node's spawn (a fork of the agent per delegate) and container locks go through SQLite`,
    );
  }

  return {
    metrics,
    limiter,
    server,
    cache,
    policySync,
    metricsPort,
    async stop() {
      stopping = true;
      policySync?.stop();
      localPolicy?.stop();
      // The socket goes first: from now on `braid` does its calls itself.
      await Promise.race([server.close(), sleep(opts.shutdownGraceMs)]);
      await cache?.stop();
      client?.close();
      own.close();
      stopJanitor();
      policyHooks?.close();
    },
  };
}
