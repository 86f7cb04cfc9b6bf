import fs from 'node:fs';
import { asCniError, CniCode, CniError } from '../base/errors.ts';
import type { CniRequest } from '../cni/request.ts';
import { statusNetworkList } from '../cni/runtime.ts';
import type { DelegateObserver } from '../cni/list-context.ts';
import type { BraidConf } from '../config/types.ts';
import { delegateContext, delegatePath, networkTarget } from './delegate-context.ts';
import type { ResolvedNetwork } from './plan-types.ts';

/**
 * STATUS asks every delegate that an ADD would need before the pod's annotations are known:
 * the cluster network and the default networks. Readiness comes first: without the readiness
 * indicator file braid cannot service an ADD.
 */
export async function executeStatus(
  req: CniRequest,
  conf: BraidConf,
  networksForAdd: () => Promise<ResolvedNetwork[]>,
  observer?: DelegateObserver,
): Promise<void> {
  if (conf.readinessindicatorfile && !fs.existsSync(conf.readinessindicatorfile)) {
    throw new CniError(
      CniCode.NotAvailable,
      `readiness indicator file ${conf.readinessindicatorfile} does not exist: the cluster network is not ready`,
    );
  }
  let networks: ResolvedNetwork[];
  try {
    networks = await networksForAdd();
  } catch (e) {
    const err = asCniError(e);
    throw new CniError(CniCode.NotAvailable, `braid cannot resolve the networks an ADD needs: ${err.message}`);
  }
  const cniPath = delegatePath(conf, req.path);
  for (const net of networks) {
    const call = { network: net.network, ifname: '', cniArgs: [], capabilityArgs: {} };
    await statusNetworkList(net.list, delegateContext(conf, networkTarget(cniPath, req, observer), call));
  }
}
