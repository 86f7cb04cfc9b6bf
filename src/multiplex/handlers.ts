import { asCniError } from '../cni/errors.ts';
import type { CniRequest } from '../cni/request.ts';
import type { PluginHandlers } from '../cni/skel.ts';
import { BRAID_SUPPORTED_VERSIONS } from '../cni/versions.ts';
import { loadBraidConf } from '../config/conf.ts';
import type { BraidConf } from '../config/types.ts';
import { executeAdd } from './add.ts';
import type { CachedAttachment } from './cache.ts';
import { executeCheck } from './check.ts';
import { executeDel } from './del.ts';
import { executeGc } from './gc.ts';
import { lockContainer } from './lock.ts';
import { createLogger } from './log.ts';
import { buildPlan } from './plan.ts';
import { configuredNetworks, localSources, publishNetworkStatus } from './local-sources.ts';
import { resolveInputs } from './resolve.ts';
import { executeStatus } from './status.ts';

async function withContainerLock<T>(conf: BraidConf, req: CniRequest, work: () => Promise<T>): Promise<T> {
  const lock = await lockContainer(conf.cniDir, req.containerId, conf.delegateTimeoutMs);
  try {
    return await work();
  } finally {
    await lock.release();
  }
}

/** DEL without a cache: the plan again, from local sources only, with no results to pass. */
async function recomputeFromLocalSources(req: CniRequest, conf: BraidConf): Promise<CachedAttachment[] | undefined> {
  const plan = buildPlan(await resolveInputs(req, conf, localSources(conf, req)));
  return plan.attachments.map((a) => ({
    network: a.network,
    ifname: a.ifname,
    isDefault: a.isDefault,
    confBytes: a.list.bytes,
    cniArgs: a.cniArgs,
    capabilityArgs: a.capabilityArgs,
    state: 'pending' as const,
  }));
}

/** braid as a CNI plugin: the runtime's verbs on braid's conf. */
export const braidHandlers: PluginHandlers = {
  supportedVersions: BRAID_SUPPORTED_VERSIONS,

  async add(req) {
    const conf = loadBraidConf(req.config);
    const log = createLogger(conf, `ADD ${req.containerId}`);
    return withContainerLock(conf, req, async () => {
      const inputs = await resolveInputs(req, conf, localSources(conf, req));
      const plan = buildPlan(inputs);
      log.verbose(`plan: ${plan.attachments.map((a) => `${a.ifname}=${a.network}`).join(', ')}`);
      const { result, record } = await executeAdd(req, conf, plan);
      if (plan.pod && record.networkStatus) await publishNetworkStatus(conf, plan.pod, record.networkStatus, log);
      return result;
    });
  },

  async del(req) {
    const conf = loadBraidConf(req.config);
    const log = createLogger(conf, `DEL ${req.containerId}`);
    await withContainerLock(conf, req, () =>
      executeDel(req, conf, () => recomputeFromLocalSources(req, conf)).catch((e: unknown) => {
        log.error(asCniError(e).message);
        throw e;
      }),
    );
  },

  async check(req) {
    const conf = loadBraidConf(req.config);
    await withContainerLock(conf, req, () => executeCheck(req, conf));
  },

  async status(req) {
    const conf = loadBraidConf(req.config);
    await executeStatus(req, conf, () => configuredNetworks(conf, req));
  },

  async gc(req) {
    const conf = loadBraidConf(req.config);
    await executeGc(req, conf, () => configuredNetworks(conf, req));
  },
};
