import type { CniRequest } from '../cni/request.ts';
import type { BraidConf } from '../config/types.ts';
import { CriAnnotationsSource } from '../k8s/cri-annotations.ts';
import { NadDirectory } from '../k8s/nad-directory.ts';
import { PodStore } from '../k8s/pod-store.ts';
import type { NetworkStatus } from '../k8s/types.ts';
import type { Logger } from './log.ts';
import type { PodRef, ResolvedNetwork } from './plan-types.ts';
import { podRefFromArgs, resolveConfiguredNetworks, type Sources } from './resolve.ts';

/**
 * The embedded default: pod annotations from the runtime's capability argument, else from the
 * local pod store; NADs from the local manifest directory. No Kubernetes needed.
 */
export function localSources(conf: BraidConf, req: CniRequest): Sources {
  const pod = podRefFromArgs(req.args);
  return {
    pods: [new CriAnnotationsSource(conf.runtimeConfig, pod), new PodStore(conf.podDir)],
    nads: new NadDirectory(conf.nadDir),
  };
}

export function configuredNetworks(conf: BraidConf, req: CniRequest): Promise<ResolvedNetwork[]> {
  return resolveConfiguredNetworks(conf, localSources(conf, req));
}

/** Writes network-status into the pod store's manifest when the pod lives there. */
export async function publishNetworkStatus(conf: BraidConf, pod: PodRef, entries: NetworkStatus[], log: Logger): Promise<void> {
  try {
    await new PodStore(conf.podDir).setNetworkStatus(pod.namespace, pod.name, entries);
  } catch (e) {
    log.verbose(`network-status of ${pod.namespace}/${pod.name} not written to the pod store: ${(e as Error).message}`);
  }
}
