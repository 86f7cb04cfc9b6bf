import { asCniError } from '../cni/errors.ts';
import { trace } from '../cni/trace.ts';
import { validAttachments, type CniRequest } from '../cni/request.ts';
import type { CniResult } from '../cni/result.ts';
import type { PluginHandlers } from '../cni/skel.ts';
import { BRAID_SUPPORTED_VERSIONS } from '../cni/versions.ts';
import { loadBraidConf } from '../config/conf.ts';
import { waitForReadinessFile } from '../k8s/readiness.ts';
import { linkNamesInNetns } from '../net/link-names.ts';
import type { BraidConf } from '../config/types.ts';
import { executeAdd, undoAdd } from './add.ts';
import { executeCheck } from './check.ts';
import { executeDel } from './del.ts';
import { executeGc } from './gc.ts';
import { lockContainer } from './lock.ts';
import { createLogger, type Logger } from './log.ts';
import type { KubeSession } from './kube-session.ts';
import { buildPlan } from './plan.ts';
import { localSources, publishNetworkStatus } from './local-sources.ts';
import { attachPolicy, collectPolicy, detachPolicy } from './policy-hooks.ts';
import { resolveInputs } from './resolve.ts';
import { executeStatus } from './status.ts';
import { takeover, wantsKubernetes } from './takeover.ts';
import { reportCompatWarnings } from './compat-report.ts';
import { networksForStatus } from './status-networks.ts';
import { withMultusNetworks } from './multus-verbs.ts';

async function withContainerLock<T>(conf: BraidConf, req: CniRequest, work: () => Promise<T>): Promise<T> {
  const lock = await lockContainer(conf.cniDir, req.containerId, conf.delegateTimeoutMs);
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

type KubeModule = typeof import('./kube-session.ts');

async function addLocked(
  conf: BraidConf,
  req: CniRequest,
  log: Logger,
  kube: KubeModule | undefined,
  session: KubeSession | undefined,
): Promise<CniResult> {
  return withContainerLock(conf, req, async () => {
    // Listed while the sources are read: the process runs beside braid's own work.
    const existingLinks = linkNamesInNetns(req.netns);
    existingLinks.catch(() => undefined);
    trace('locked');
    let inputs = await resolveInputs(req, conf, session?.sources ?? localSources(conf, req));
    trace('resolved');
    if (kube) inputs = await kube.withDeviceIds(conf, inputs);
    const plan = buildPlan(inputs);
    await reportCompatWarnings(plan, log, session?.sources.warn);
    log.verbose(`plan: ${plan.attachments.map((a) => `${a.ifname}=${a.network}`).join(', ')}`);
    const { result, record } = await executeAdd(req, conf, plan, existingLinks);
    trace('attachments added');
    await attachPolicy(conf, record).catch(async (e: unknown) => {
      await detachPolicy(conf, req.containerId).catch(() => undefined);
      await undoAdd(req, conf, record);
      throw e;
    });
    trace('policy attached');
    if (!plan.pod || !record.networkStatus) return result;
    if (kube && session) {
      // The runtime will see an error, so the pod must not keep half a network.
      await kube.publishToApi(session, plan.pod, record.networkStatus).catch(async (e: unknown) => {
        await undoAdd(req, conf, record);
        throw e;
      });
    } else {
      await publishNetworkStatus(conf, plan.pod, record.networkStatus, log);
    }
    return result;
  });
}

/** braid as a CNI plugin: the runtime's verbs on braid's conf. */
export const braidHandlers: PluginHandlers = {
  supportedVersions: BRAID_SUPPORTED_VERSIONS,

  async add(req) {
    trace('ADD parsed');
    const conf = loadBraidConf(req.config);
    trace('conf loaded');
    const log = createLogger(conf, `ADD ${req.containerId}`);
    if (conf.readinessindicatorfile) await waitForReadinessFile(conf.readinessindicatorfile, conf.readinessTimeoutMs);
    const kube = wantsKubernetes(conf) ? await import('./kube-session.ts') : undefined;
    const session = await kube?.openKubeSession(conf, req);
    try {
      return await addLocked(conf, req, log, kube, session);
    } finally {
      session?.release();
    }
  },

  async del(req) {
    const conf = loadBraidConf(req.config);
    const log = createLogger(conf, `DEL ${req.containerId}`);
    await withContainerLock(conf, req, async () => {
      // Programs and pins first, while the pod's devices still exist; the delegates' DEL runs
      // whatever happened here, and a failure is reported after it so the runtime retries.
      const policyError = await detachPolicy(conf, req.containerId).then(
        () => undefined,
        (e: unknown) => asCniError(e),
      );
      // No record: a pod Multus set up (its caches), else the plan again (multiplex/takeover.ts).
      const fallback = takeover(req, conf, log);
      await executeDel(req, conf, fallback.recompute).catch((e: unknown) => {
        log.error(asCniError(e).message);
        throw e;
      });
      fallback.finish();
      if (policyError) {
        log.error(policyError.message);
        throw policyError;
      }
    });
  },

  async check(req) {
    const conf = loadBraidConf(req.config);
    await withContainerLock(conf, req, () => executeCheck(req, conf));
  },

  async status(req) {
    const conf = loadBraidConf(req.config);
    await executeStatus(req, conf, async () => withMultusNetworks(conf, await networksForStatus(conf, req)));
  },

  async gc(req) {
    const conf = loadBraidConf(req.config);
    const gcError = await executeGc(req, conf, () => networksForStatus(conf, req)).then(
      () => undefined,
      (e: unknown) => asCniError(e),
    );
    // Policy programs of containers the runtime no longer lists go too, whatever the delegates did.
    await collectPolicy(conf, new Set(validAttachments(req.config).map((a) => a.containerID)));
    if (gcError) throw gcError;
  },
};
