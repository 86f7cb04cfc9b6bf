import { existsSync } from 'node:fs';
import { asCniError } from '../base/errors.ts';
import { trace } from '../base/trace.ts';
import { validAttachments, type CniRequest } from '../cni/request.ts';
import type { CniResult } from '../cni/result.ts';
import { withRequests, type PluginHandlers } from '../cni/skel.ts';
import { BRAID_SUPPORTED_VERSIONS } from '../cni/versions.ts';
import { loadBraidConf } from '../config/conf.ts';
import { waitForReadinessFile } from '../k8s/readiness.ts';
import type { BraidConf } from '../config/types.ts';
import type { YamlDocCache } from '../k8s/parsed-yaml-cache.ts';
import { executeAdd, undoAdd } from './add.ts';
import { cacheFile } from '../cache/attachment-cache.ts';
import { executeCheck } from './check.ts';
import { executeDel } from './del.ts';
import { executeGc } from './gc.ts';
import { lockContainer, type OfdLocking } from './lock.ts';
import { createLogger, type Logger } from '../log/log.ts';
import type { DelegateObserver } from '../cni/list-context.ts';
import type { SpawnDelegate } from '../cni/exec.ts';
import { posixSpawnDelegate } from '../cni/posix-spawn.ts';
import type { NativeAddon } from '../net/native-addon.ts';
import type { SandboxNet } from '../net/sandbox-net.ts';
import type { CallDeps } from './call-deps.ts';
import type { KubeSession, KubeSessionDeps } from './kube-session.ts';
import { buildPlan } from './plan.ts';
import { publishNetworkStatus, localSources } from './local-sources.ts';
import type { PolicyHooks } from './policy-hooks.ts';
import { resolveInputs } from './resolve.ts';
import { executeStatus } from './status.ts';
import { takeover, wantsKubernetes } from './takeover.ts';
import { reportCompatWarnings } from './compat-report.ts';
import { networksForStatus } from './status-networks.ts';
import { withMultusNetworks } from './multus-verbs.ts';

async function withContainerLock<T>(
  conf: BraidConf,
  req: CniRequest,
  work: () => Promise<T>,
  ofd?: OfdLocking,
): Promise<T> {
  const lock = await lockContainer(conf.cniDir, req.containerId, conf.delegateTimeoutMs, ofd);
  trace('lock taken');
  try {
    return await work();
  } finally {
    // A container braid keeps nothing for (DEL done, ADD refused) keeps no lock file either.
    await lock.release({ remove: !existsSync(cacheFile(conf.cniDir, req.containerId, req.ifname)) });
    trace('unlocked');
  }
}

/**
 * What the handlers are built with. A plugin process (cmd/braid.ts) and braid-agent each build
 * their own: the agent's keep clients, sockets and BPF objects open across calls, a plugin
 * process loads nothing it will use once.
 */
export interface HandlerDeps {
  /** How the pod's namespace is read and changed (iproute2 in a plugin process, rtnetlink in the agent). */
  net: SandboxNet;
  /** The policy runtime (attach at ADD, detach at DEL, collect at GC). */
  policy: PolicyHooks;
  /** braid-agent's watch caches and shared API clients. */
  kube?: KubeSessionDeps;
  /** Told each delegate's run time. */
  observer?: DelegateObserver;
  /** Container locks as open file description locks through braid's addon (lock.ts); else SQLite's. */
  ofd?: OfdLocking;
  /** braid-agent: parsed local pod and NAD manifests kept in memory; else on disk beside the cache. */
  manifests?: YamlDocCache;
  /** How delegates are started (posix_spawn through braid's addon, cni/posix-spawn.ts); else Node's spawn. */
  spawn?: SpawnDelegate;
}

type KubeModule = typeof import('./kube-session.ts');

class BraidHandlers implements PluginHandlers {
  readonly supportedVersions = BRAID_SUPPORTED_VERSIONS;
  private readonly call: CallDeps;

  constructor(private readonly deps: HandlerDeps) {
    this.call = { net: deps.net, observer: deps.observer };
  }

  private withLock<T>(conf: BraidConf, req: CniRequest, work: () => Promise<T>): Promise<T> {
    return withContainerLock(conf, req, work, this.deps.ofd);
  }

  private async addLocked(
    conf: BraidConf,
    req: CniRequest,
    log: Logger,
    kube: KubeModule | undefined,
    session: KubeSession | undefined,
  ): Promise<CniResult> {
    const { policy } = this.deps;
    return this.withLock(conf, req, async () => {
      // Listed while the sources are read: in a plugin process that is an `ip` run beside braid's own work.
      const existingLinks = this.deps.net.linkNames(req.netns);
      existingLinks.catch(() => undefined);
      trace('locked');
      let inputs = await resolveInputs(req, conf, session?.sources ?? localSources(conf, req, this.deps.manifests));
      trace('resolved');
      if (kube) inputs = await kube.withDeviceIds(conf, inputs);
      const plan = buildPlan(inputs);
      await reportCompatWarnings(plan, log, session?.sources.warn);
      log.verbose(`plan: ${plan.attachments.map((a) => `${a.ifname}=${a.network}`).join(', ')}`);
      const { result, record } = await executeAdd(req, conf, plan, existingLinks, this.call);
      trace('attachments added');
      await policy.attach(conf, record).catch(async (e: unknown) => {
        await undoAdd(req, conf, record, this.call);
        throw e;
      });
      trace('policy attached');
      if (!plan.pod || !record.networkStatus) return result;
      if (kube && session) {
        // The runtime will see an error, so the pod must not keep half a network.
        await kube.publishToApi(session, plan.pod, record.networkStatus).catch(async (e: unknown) => {
          await policy.detach(conf, req.containerId).catch(() => undefined);
          await undoAdd(req, conf, record, this.call);
          throw e;
        });
      } else {
        await publishNetworkStatus(conf, plan.pod, record.networkStatus, log);
      }
      trace('network-status published');
      return result;
    });
  }

  async add(req: CniRequest): Promise<CniResult> {
    trace('ADD parsed');
    const conf = loadBraidConf(req.config);
    trace('conf loaded');
    const log = createLogger(conf, `ADD ${req.containerId}`);
    if (conf.readinessindicatorfile) await waitForReadinessFile(conf.readinessindicatorfile, conf.readinessTimeoutMs);
    const kube = wantsKubernetes(conf) ? await import('./kube-session.ts') : undefined;
    const session = await kube?.openKubeSession(conf, req, this.deps.kube);
    try {
      return await this.addLocked(conf, req, log, kube, session);
    } finally {
      session?.release();
    }
  }

  async del(req: CniRequest): Promise<void> {
    trace('DEL parsed');
    const conf = loadBraidConf(req.config);
    const log = createLogger(conf, `DEL ${req.containerId}`);
    await this.withLock(conf, req, async () => {
      trace('locked');
      // Programs and pins first, while the pod's devices still exist; the delegates' DEL runs
      // whatever happened here, and a failure is reported after it so the runtime retries.
      const policyError = await this.deps.policy.detach(conf, req.containerId).then(
        () => undefined,
        (e: unknown) => asCniError(e),
      );
      trace('policy detached');
      // No record: a pod Multus set up (its caches), else the plan again (multiplex/takeover.ts).
      const fallback = takeover(req, conf, log, this.deps.kube);
      await executeDel(req, conf, fallback.recompute, this.deps.observer).catch((e: unknown) => {
        log.error(asCniError(e).message);
        throw e;
      });
      fallback.finish();
      trace('delegates deleted, record removed');
      if (policyError) {
        log.error(policyError.message);
        throw policyError;
      }
    });
  }

  async check(req: CniRequest): Promise<void> {
    const conf = loadBraidConf(req.config);
    await this.withLock(conf, req, () => executeCheck(req, conf, this.deps.observer));
  }

  async status(req: CniRequest): Promise<void> {
    const conf = loadBraidConf(req.config);
    await executeStatus(
      req,
      conf,
      async () => withMultusNetworks(conf, await networksForStatus(conf, req, this.deps.kube)),
      this.deps.observer,
    );
  }

  async gc(req: CniRequest): Promise<void> {
    const conf = loadBraidConf(req.config);
    const gcError = await executeGc(
      req,
      conf,
      () => networksForStatus(conf, req, this.deps.kube),
      this.deps.observer,
    ).then(
      () => undefined,
      (e: unknown) => asCniError(e),
    );
    // Policy programs of containers the runtime no longer lists go too, whatever the delegates did.
    await this.deps.policy.collect(conf, new Set(validAttachments(req.config).map((a) => a.containerID)));
    if (gcError) throw gcError;
  }
}

/** What braid's addon gives the handlers: posix_spawn and OFD locks, or neither (Node's spawn, SQLite locks). */
export function addonDeps(addon: NativeAddon | undefined): Pick<HandlerDeps, 'spawn' | 'ofd'> {
  if (!addon) return {};
  return { spawn: posixSpawnDelegate(addon), ofd: { tryLock: (fd) => addon.ofdTryLock(fd) } };
}

/** braid as a CNI plugin: the runtime's verbs on braid's conf, with the process's own dependencies. */
export function createBraidHandlers(deps: HandlerDeps): PluginHandlers {
  const handlers = new BraidHandlers(deps);
  const { spawn } = deps;
  if (!spawn) return handlers;
  // Delegate execution reads the spawner from the request (cni/runtime.ts), as it reads the host root.
  return withRequests(handlers, (req) => (req.spawn ? req : { ...req, spawn }));
}
