import { parseNetworkConfig } from '../cni/conflist.ts';
import { asCniError, CniCode, CniError } from '../base/errors.ts';
import type { CniRequest } from '../cni/request.ts';
import { checkNetworkList } from '../cni/runtime.ts';
import type { DelegateObserver } from '../cni/list-context.ts';
import type { BraidConf } from '../config/types.ts';
import { readCache } from '../cache/attachment-cache.ts';
import { containerTarget, delegateContext, delegatePath } from './delegate-context.ts';
import { checkMultusContainer } from './multus-verbs.ts';
import { combinedError } from './teardown.ts';

/** CHECK every attachment (Multus checks only the cluster network) and report all that fail. */
export async function executeCheck(req: CniRequest, conf: BraidConf, observer?: DelegateObserver): Promise<void> {
  const read = readCache(conf.cniDir, req.containerId, req.ifname);
  // A pod Multus set up before the node switched to braid.
  if (read.status === 'missing' && (await checkMultusContainer(req, conf))) return;
  if (read.status !== 'ok' || read.record.state !== 'added') {
    throw new CniError(
      CniCode.UnknownContainer,
      `braid has no completed ADD for container ${req.containerId} on ${req.ifname}` +
        (read.status === 'corrupt' ? ` (its cache ${read.file} is unreadable: ${read.reason})` : ''),
    );
  }
  const cniPath = delegatePath(conf, [...req.path, ...read.record.cniPath]);
  const target = containerTarget(req, cniPath, observer);
  const errors: CniError[] = [];
  for (const att of read.record.attachments) {
    try {
      if (!att.result)
        throw new CniError(CniCode.Internal, `attachment ${att.network} (${att.ifname}) has no cached result`);
      const list = parseNetworkConfig(att.confBytes, `cached configuration of ${att.network}`);
      await checkNetworkList(list, delegateContext(conf, target, att), att.result);
    } catch (e) {
      errors.push(asCniError(e));
    }
  }
  const error = combinedError(errors, 'CHECK');
  if (error) throw error;
}
