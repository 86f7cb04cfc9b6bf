import path from 'node:path';
import type { CniRequest } from '../cni/request.ts';
import type { BraidConf } from '../config/types.ts';
import { CriAnnotationsSource } from '../k8s/cri-annotations.ts';
import { NadDirectory } from '../k8s/nad-directory.ts';
import { ParsedYamlCache, type YamlDocCache } from '../k8s/parsed-yaml-cache.ts';
import { PodStore } from '../k8s/pod-store.ts';
import type { NetworkStatus } from '../k8s/types.ts';
import type { Logger } from '../log/log.ts';
import type { PodRef, ResolvedNetwork } from './plan-types.ts';
import { podRefFromArgs, resolveConfiguredNetworks, type Sources } from './resolve.ts';

/**
 * The embedded default: pod annotations from the runtime's capability argument, else from the
 * local pod store; NADs from the local manifest directory. No Kubernetes needed. Parsed manifests
 * come from `yaml` (braid-agent's in memory), else from the files beside braid's cache.
 */
export function localSources(conf: BraidConf, req: CniRequest, yaml: YamlDocCache = manifestCache(conf)): Sources {
  const pod = podRefFromArgs(req.args);
  return {
    pods: [new CriAnnotationsSource(conf.runtimeConfig, pod), new PodStore(conf.podDir, yaml)],
    nads: new NadDirectory(conf.nadDir, yaml),
  };
}

/** Parsed pod and NAD manifests, kept beside braid's cache (a subdirectory: the records are its *.json). */
export function manifestCache(conf: BraidConf): ParsedYamlCache {
  return new ParsedYamlCache(path.join(conf.cniDir, 'manifests'));
}

export function configuredNetworks(conf: BraidConf, req: CniRequest): Promise<ResolvedNetwork[]> {
  return resolveConfiguredNetworks(conf, localSources(conf, req));
}

/** Writes network-status into the pod store's manifest when the pod lives there. */
export async function publishNetworkStatus(
  conf: BraidConf,
  pod: PodRef,
  entries: NetworkStatus[],
  log: Logger,
): Promise<void> {
  try {
    await new PodStore(conf.podDir).setNetworkStatus(pod.namespace, pod.name, entries);
  } catch (e) {
    log.verbose(`network-status of ${pod.namespace}/${pod.name} not written to the pod store: ${(e as Error).message}`);
  }
}
