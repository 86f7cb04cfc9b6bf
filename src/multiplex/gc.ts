import { existsSync } from 'node:fs';
import { parseNetworkConfig } from '../cni/conflist.ts';
import { asCniError, type CniError } from '../base/errors.ts';
import type { Attachment, NetworkConfigList } from '../cni/netconf.ts';
import { validAttachments, type CniEnv, type CniRequest } from '../cni/request.ts';
import { gcNetworkList } from '../cni/runtime.ts';
import type { DelegateObserver } from '../cni/list-context.ts';
import type { BraidConf } from '../config/types.ts';
import { cacheFile, listCache, removeCache, writeCache, type CacheRecord } from '../cache/attachment-cache.ts';
import { delegateContext, delegatePath, networkTarget } from './delegate-context.ts';
import { lockContainer } from './lock.ts';
import { gcMultusContainers } from './multus-verbs.ts';
import type { ResolvedNetwork } from './plan-types.ts';
import { stopRecordedDelegates } from './recorded-delegates.ts';
import { combinedError, teardown } from './teardown.ts';

const key = (a: Attachment) => `${a.containerID}\0${a.ifname}`;

async function collectStale(conf: BraidConf, stale: CacheRecord, env: CniEnv, errors: CniError[]): Promise<void> {
  const lock = await lockContainer(conf.cniDir, stale.containerId, conf.delegateTimeoutMs);
  try {
    // An ADD braid was killed in may have left delegates running: they must not finish after this.
    await stopRecordedDelegates(stale);
    const cniPath = delegatePath(conf, stale.cniPath);
    const outcome = await teardown(
      conf,
      { containerId: stale.containerId, netns: stale.netns, cniPath, env },
      stale.attachments,
    );
    errors.push(...outcome.errors);
    if (outcome.failed.length === 0) removeCache(conf.cniDir, stale.containerId, stale.ifname);
    else writeCache(conf.cniDir, { ...stale, attachments: outcome.failed });
  } finally {
    await lock.release({ remove: !existsSync(cacheFile(conf.cniDir, stale.containerId, stale.ifname)) });
  }
}

/**
 * GC: first DEL every cached container of this braid network that the runtime no longer lists,
 * then forward GC to each delegate network with the attachments it still has (a delegate of
 * CNI < 1.1.0 is skipped by the runtime layer). Keeps going past errors and reports them at the end.
 */
export async function executeGc(
  req: CniRequest,
  conf: BraidConf,
  configuredNetworks: () => Promise<ResolvedNetwork[]>,
  observer?: DelegateObserver,
): Promise<void> {
  const valid = new Set(validAttachments(req.config).map(key));
  const errors: CniError[] = [];
  const kept: CacheRecord[] = [];
  for (const { read } of listCache(conf.cniDir)) {
    if (read.status !== 'ok' || read.record.networkName !== conf.name) continue;
    const rec = read.record;
    if (valid.has(key({ containerID: rec.containerId, ifname: rec.ifname }))) kept.push(rec);
    else await collectStale(conf, rec, req.env, errors);
  }

  // Each delegate network, by CNI network name (the key delegates keep their state under), with
  // every (container, ifname) pair it still serves, whichever pod annotation variant added it.
  const networks = new Map<string, { list: NetworkConfigList; label: string; valid: Attachment[] }>();
  const remember = (list: NetworkConfigList, label: string) => {
    if (!networks.has(list.name)) networks.set(list.name, { list, label, valid: [] });
    return networks.get(list.name)!;
  };
  try {
    for (const net of await configuredNetworks()) remember(net.list, net.network);
  } catch (e) {
    errors.push(asCniError(e));
  }
  for (const rec of kept) {
    for (const att of rec.attachments) {
      const list = parseNetworkConfig(att.confBytes, `cached configuration of ${att.network}`);
      remember(list, att.network).valid.push({ containerID: rec.containerId, ifname: att.ifname });
    }
  }
  const cniPath = delegatePath(conf, req.path);
  // Pods Multus set up before the node switched: stale ones go, the others stay valid.
  const validContainers = new Set(validAttachments(req.config).map((a) => a.containerID));
  const multus = await gcMultusContainers(conf, validContainers, cniPath, req.env);
  errors.push(...multus.errors);
  for (const m of multus.inUse) remember(m.list, m.label).valid.push(...m.valid);
  for (const { list, label, valid: stillValid } of networks.values()) {
    try {
      const call = { network: label, ifname: '', cniArgs: [], capabilityArgs: {} };
      await gcNetworkList(list, delegateContext(conf, networkTarget(cniPath, req, observer), call), stillValid);
    } catch (e) {
      errors.push(asCniError(e));
    }
  }
  const error = combinedError(errors, 'GC');
  if (error) throw error;
}
