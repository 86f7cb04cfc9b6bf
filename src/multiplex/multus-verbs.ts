import { parseNetworkConfig } from '../cni/conflist.ts';
import { asCniError, type CniError } from '../base/errors.ts';
import type { Attachment, NetworkConfigList } from '../cni/netconf.ts';
import type { CniEnv, CniRequest } from '../cni/request.ts';
import { checkNetworkList } from '../cni/runtime.ts';
import type { BraidConf } from '../config/types.ts';
import { containerTarget, delegateContext, delegatePath } from './delegate-context.ts';
import { lockContainer } from './lock.ts';
import {
  listMultusContainers,
  readMultusContainer,
  removeMultusContainer,
  type MultusContainer,
} from './multus-cache.ts';
import type { ResolvedNetwork } from './plan-types.ts';
import { combinedError, teardown } from './teardown.ts';

/** kubelet's CNI_IFNAME: what Multus gave its master when GC has no request to tell. */
const RUNTIME_IFNAME = 'eth0';

/**
 * CHECK of a container Multus set up: every attachment libcni cached a result for (CHECK needs
 * it as prevResult). False when Multus left nothing for the container.
 */
export async function checkMultusContainer(req: CniRequest, conf: BraidConf): Promise<boolean> {
  const found = readMultusContainer(conf.multusCniDir, req.containerId, req.ifname, req.args);
  const checkable = found?.attachments.filter((a) => a.result) ?? [];
  if (checkable.length === 0) return false;
  const target = containerTarget(req, delegatePath(conf, req.path));
  const errors: CniError[] = [];
  for (const att of checkable) {
    try {
      const list = parseNetworkConfig(att.confBytes, `Multus' cached configuration of ${att.network}`);
      await checkNetworkList(list, delegateContext(conf, target, att), att.result!);
    } catch (e) {
      errors.push(asCniError(e));
    }
  }
  const error = combinedError(errors, 'CHECK');
  if (error) throw error;
  return true;
}

async function collectStaleMultus(
  conf: BraidConf,
  found: MultusContainer,
  cniPath: string[],
  env: CniEnv,
  errors: CniError[],
): Promise<void> {
  const lock = await lockContainer(conf.cniDir, found.containerId, conf.delegateTimeoutMs);
  try {
    const target = { containerId: found.containerId, netns: found.netns, cniPath, env };
    const outcome = await teardown(conf, target, found.attachments);
    errors.push(...outcome.errors);
    if (outcome.failed.length === 0) removeMultusContainer(found);
  } finally {
    await lock.release();
  }
}

export interface MultusGcOutcome {
  /** Networks Multus' remaining pods use, each with the attachments it still serves. */
  inUse: { list: NetworkConfigList; label: string; valid: Attachment[] }[];
  errors: CniError[];
}

/**
 * GC of Multus' pods: those the runtime no longer lists are DELeted from Multus' caches (which
 * then go); those it still lists keep their attachments valid for the delegate networks' GC, so
 * that an IPAM plugin does not free the addresses of a pod Multus set up.
 */
export async function gcMultusContainers(
  conf: BraidConf,
  validContainers: Set<string>,
  cniPath: string[],
  env: CniEnv,
): Promise<MultusGcOutcome> {
  const errors: CniError[] = [];
  const inUse: MultusGcOutcome['inUse'] = [];
  for (const id of listMultusContainers(conf.multusCniDir)) {
    const found = readMultusContainer(conf.multusCniDir, id, RUNTIME_IFNAME, []);
    if (!found) continue;
    if (!validContainers.has(id)) {
      await collectStaleMultus(conf, found, cniPath, env, errors);
      continue;
    }
    for (const att of found.attachments) {
      try {
        const list = parseNetworkConfig(att.confBytes, `Multus' cached configuration of ${att.network}`);
        inUse.push({ list, label: att.network, valid: [{ containerID: id, ifname: att.ifname }] });
      } catch (e) {
        errors.push(asCniError(e));
      }
    }
  }
  return { inUse, errors };
}

/** STATUS: the networks braid's ADD needs, then those Multus' remaining pods still use (once each, by CNI name). */
export async function withMultusNetworks(conf: BraidConf, configured: ResolvedNetwork[]): Promise<ResolvedNetwork[]> {
  const names = new Set(configured.map((n) => n.list.name));
  const out = [...configured];
  for (const id of listMultusContainers(conf.multusCniDir)) {
    for (const att of readMultusContainer(conf.multusCniDir, id, RUNTIME_IFNAME, [])?.attachments ?? []) {
      let list: NetworkConfigList;
      try {
        list = parseNetworkConfig(att.confBytes, `Multus' cached configuration of ${att.network}`);
      } catch {
        continue;
      }
      if (names.has(list.name)) continue;
      names.add(list.name);
      out.push({ network: att.network, list, origin: `Multus' cache of container ${id}` });
    }
  }
  return out;
}
