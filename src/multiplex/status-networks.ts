import type { CniRequest } from '../cni/request.ts';
import type { BraidConf } from '../config/types.ts';
import type { KubeSessionDeps } from './kube-session.ts';
import { configuredNetworks } from './local-sources.ts';
import type { ResolvedNetwork } from './plan-types.ts';
import { resolveConfiguredNetworks } from './resolve.ts';
import { wantsKubernetes } from './takeover.ts';

/**
 * The networks every ADD needs (the cluster network, the default networks), for STATUS and GC.
 * A NAD-named `clusterNetwork` lives in the API: with API access braid resolves it there (in
 * braid-agent from its watch cache first), as ADD does, else from local sources only. Without
 * this a runtime that calls STATUS (containerd 2.x on kubelet's status poll) would see the
 * node's network as not ready.
 */
export async function networksForStatus(
  conf: BraidConf,
  req: CniRequest,
  kubeDeps?: KubeSessionDeps,
): Promise<ResolvedNetwork[]> {
  if (wantsKubernetes(conf)) {
    const kube = await import('./kube-session.ts');
    const session = await kube.openKubeSession(conf, req, kubeDeps);
    if (session) {
      try {
        return await resolveConfiguredNetworks(conf, session.sources);
      } finally {
        session.release();
      }
    }
  }
  return configuredNetworks(conf, req);
}
