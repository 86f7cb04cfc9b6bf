import { asCniError, CniCode, CniError } from '../base/errors.ts';
import { findPlugin } from '../cni/find.ts';
import type { CniRequest } from '../cni/request.ts';
import { LIMITS } from '../base/defaults.ts';
import type { CniResult } from '../cni/result.ts';
import { addNetworkList } from '../cni/runtime.ts';
import { trace } from '../base/trace.ts';
import type { BraidConf } from '../config/types.ts';
import type { CallDeps } from './call-deps.ts';
import { networkStatusEntries } from '../k8s/network-status.ts';
import type { NetworkStatus } from '../k8s/types.ts';
import { writeError } from '../base/atomic-file.ts';
import {
  CACHE_KIND,
  cacheFile,
  quarantineCache,
  readCache,
  removeCache,
  writeCache,
  type CacheRecord,
} from '../cache/attachment-cache.ts';
import { applyDefaultRoute } from './default-route.ts';
import { copyDeviceInfo, readDeviceInfo } from './device-info.ts';
import { orderAttachments, plannedForOrder } from './attachment-order.ts';
import { containerTarget, delegateContext, delegatePath, type DelegateTarget } from './delegate-context.ts';
import type { Plan, PlannedAttachment } from './plan-types.ts';
import { forgetDelegates, stopRecordedDelegates } from './recorded-delegates.ts';
import { runSteps } from './run-steps.ts';
import { combinedError, teardown } from './teardown.ts';
import { repairAttachments } from './unreadable-attachments.ts';

export interface AddOutcome {
  result: CniResult;
  record: CacheRecord;
}

function newRecord(req: CniRequest, conf: BraidConf, plan: Plan, cniPath: string[]): CacheRecord {
  const record: CacheRecord = {
    kind: CACHE_KIND,
    containerId: req.containerId,
    ifname: req.ifname,
    netns: req.netns,
    networkName: conf.name,
    cniVersion: req.cniVersion,
    cniPath,
    state: 'adding',
    attachments: plan.attachments.map((a) => {
      const cached: CacheRecord['attachments'][number] = {
        network: a.network,
        ifname: a.ifname,
        isDefault: a.isDefault,
        confBytes: a.list.bytes,
        cniArgs: a.cniArgs,
        capabilityArgs: a.capabilityArgs,
        state: 'pending',
      };
      if (a.defaultRoute) cached.defaultRoute = a.defaultRoute;
      if (a.auxiliary) cached.auxiliary = true;
      return cached;
    }),
    updatedAt: '',
  };
  if (plan.pod) record.pod = plan.pod;
  return record;
}

/**
 * Refuses an ADD for a container braid already set up, and finishes the cleanup of an ADD that
 * was killed half-way (its record is still `adding`) before starting again; true when it did.
 */
async function clearPrevious(req: CniRequest, conf: BraidConf, plan: Plan, deps: CallDeps): Promise<boolean> {
  const previous = readCache(conf.cniDir, req.containerId, req.ifname);
  if (previous.status === 'corrupt') {
    quarantineCache(previous.file);
    return false;
  }
  if (previous.status !== 'ok') return false;
  const rec = previous.record;
  await stopRecordedDelegates(rec);
  if (rec.state === 'added') {
    throw new CniError(
      CniCode.AlreadyAttached,
      `container ${req.containerId} already has ${rec.attachments.length} attachment(s) on ${req.ifname} from an ` +
        'earlier ADD; the runtime must DEL it first',
    );
  }
  const planned = newRecord(req, conf, plan, rec.cniPath).attachments;
  const repaired = await repairAttachments(rec.attachments, async () => planned);
  for (const note of repaired.notes) process.stderr.write(`braid: cleanup of container ${req.containerId}: ${note}\n`);
  const { failed, errors } = await teardown(
    conf,
    containerTarget(req, rec.cniPath, deps.observer),
    repaired.attachments,
  );
  if (failed.length > 0) throw combinedError(errors, 'cleanup')!;
  removeCache(conf.cniDir, req.containerId, req.ifname);
  return true;
}

/**
 * Every delegate binary must exist before anything is set up. Otherwise the rollback would DEL a
 * plugin that cannot be found, fail, and keep the cache record (and the runtime's DEL with it)
 * failing for good, although nothing was ever created for that attachment.
 */
function requireDelegateBinaries(plan: Plan, cniPath: string[], root: string | undefined): void {
  for (const a of plan.attachments) {
    for (const plugin of a.list.plugins) {
      try {
        findPlugin(typeof plugin.type === 'string' ? plugin.type : '', cniPath, root);
      } catch (e) {
        const err = asCniError(e);
        throw new CniError(err.code, `network ${a.network} (${a.ifname}): ${err.message}`, err.details);
      }
    }
  }
}

/** NPWG 4.2 / Multus validateIfName: a name the sandbox already has fails the ADD before anything runs. */
function requireFreeIfnames(plan: Plan, existing: Set<string>, netns: string): void {
  const taken = plan.attachments.filter((a) => existing.has(a.ifname));
  if (taken.length === 0) return;
  throw new CniError(
    CniCode.AlreadyAttached,
    `interface ${taken.map((a) => `${a.ifname} (for ${a.network})`).join(', ')} already exists in ${netns}; ` +
      'braid leaves it alone and sets up nothing',
  );
}

/** One attachment's ADD, its delegate process recorded before it acts. */
async function addAttachment(
  conf: BraidConf,
  target: DelegateTarget,
  record: CacheRecord,
  attachment: PlannedAttachment,
  cached: CacheRecord['attachments'][number],
): Promise<void> {
  const ctx = delegateContext(conf, target, attachment);
  ctx.onAddStart = (proc) => {
    cached.delegate = proc;
    writeCache(conf.cniDir, record);
  };
  copyDeviceInfo(attachment, attachment.dpDeviceInfoFile);
  cached.result = await addNetworkList(attachment.list, ctx);
  delete cached.delegate;
  cached.state = 'added';
  trace(`added ${attachment.network} as ${attachment.ifname}`);
}

/**
 * Runs the plan's attachments in order (NPWG 7.3: never in parallel), or with
 * `parallelAttachments` the additional networks at once (attachment-order.ts). The first
 * failure starts nothing more; once what runs has finished, everything started is DELeted, the
 * failed attachments included, and the error of the first failed one in the pod's order is
 * returned (others that failed too are named after it).
 */
export async function executeAdd(
  req: CniRequest,
  conf: BraidConf,
  plan: Plan,
  existingLinks: Promise<Set<string>>,
  deps: CallDeps,
): Promise<AddOutcome> {
  const cleanedUp = await clearPrevious(req, conf, plan, deps);
  const cniPath = delegatePath(conf, req.path);
  requireDelegateBinaries(plan, cniPath, req.hostRoot?.root);
  requireFreeIfnames(plan, cleanedUp ? await deps.net.linkNames(req.netns) : await existingLinks, req.netns);
  const record = newRecord(req, conf, plan, cniPath);
  writeCache(conf.cniDir, record);
  trace('intent recorded');

  const target = containerTarget(req, cniPath, deps.observer);
  const steps = orderAttachments(conf, 'ADD', req.containerId, plan.attachments.map(plannedForOrder));
  const run = await runSteps(
    steps,
    LIMITS.parallelAttachments,
    (i) => addAttachment(conf, target, record, plan.attachments[i]!, record.attachments[i]!),
    { stopOnFailure: true },
  );
  if (run.failures.length > 0) {
    await rollBack(
      req,
      conf,
      record,
      run.started.map((i) => record.attachments[i]!),
      deps,
    );
    if (run.failures.length === 1) throw run.failures[0]!.error;
    throw combinedError(
      run.failures.map((f) => asCniError(f.error)),
      'ADD',
    )!;
  }

  try {
    await applyDefaultRoute(req.netns, record.attachments, deps.net);
  } catch (e) {
    await rollBack(req, conf, record, record.attachments, deps);
    throw e;
  }

  forgetDelegates(record);
  record.networkStatus = statusOf(record);
  record.state = 'added';
  try {
    writeCache(conf.cniDir, record);
  } catch (e) {
    // An ADD whose record is missing or torn could never be checked or fully deleted: it fails
    // like any other step, and its attachments go with it.
    await rollBack(req, conf, record, record.attachments, deps);
    throw writeError(cacheFile(conf.cniDir, req.containerId, req.ifname), e);
  }
  trace('record written');
  return { result: record.attachments[0]!.result!, record };
}

async function rollBack(
  req: CniRequest,
  conf: BraidConf,
  record: CacheRecord,
  attempted: CacheRecord['attachments'],
  deps: CallDeps,
): Promise<void> {
  forgetDelegates(record);
  const { failed, errors } = await teardown(conf, containerTarget(req, record.cniPath, deps.observer), attempted);
  if (failed.length === 0) {
    removeCache(conf.cniDir, req.containerId, req.ifname);
    return;
  }
  // Keep what could not be removed so that the runtime's DEL (CNI: always sent after a failed
  // ADD) retries exactly that.
  record.attachments = failed;
  try {
    writeCache(conf.cniDir, record);
  } catch (e) {
    process.stderr.write(`braid: rollback could not record what is left: ${asCniError(e).message}\n`);
  }
  for (const err of errors) process.stderr.write(`braid: rollback failed: ${err.message}\n`);
}

/**
 * Takes back a completed ADD when a step after the delegates fails (publishing network-status):
 * the runtime sees an error, so nothing of the pod may stay.
 */
export async function undoAdd(req: CniRequest, conf: BraidConf, record: CacheRecord, deps: CallDeps): Promise<void> {
  await rollBack(req, conf, record, record.attachments, deps);
}

export function statusOf(record: CacheRecord): NetworkStatus[] {
  return record.attachments.flatMap((a) => {
    if (a.auxiliary) return [];
    const opts: Parameters<typeof networkStatusEntries>[3] = { isDefault: a.isDefault, netns: record.netns };
    if (a.defaultRoute) opts.defaultRoute = a.defaultRoute;
    const deviceInfo = readDeviceInfo(a);
    if (deviceInfo) opts.deviceInfo = deviceInfo;
    return networkStatusEntries(a.network, a.ifname, a.result, opts);
  });
}
