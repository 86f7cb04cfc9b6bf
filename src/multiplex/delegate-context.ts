import path from 'node:path';
import type { DelegateContext } from '../cni/runtime.ts';
import type { BraidConf } from '../config/types.ts';

export interface AttachmentCall {
  network: string;
  ifname: string;
  cniArgs: [string, string][];
  capabilityArgs: Record<string, unknown>;
}

/** Multus prepends binDir to the runtime's CNI_PATH; duplicates are dropped, order kept. */
export function delegatePath(conf: BraidConf, runtimePath: string[]): string[] {
  return [...new Set([conf.binDir, ...runtimePath].filter((d) => d !== ''))];
}

export function versionCacheDir(conf: BraidConf): string {
  return path.join(conf.cniDir, 'versions');
}

/** How braid, as a runtime, calls one attachment's delegates. */
export function delegateContext(
  conf: BraidConf,
  containerId: string,
  netns: string,
  cniPath: string[],
  call: AttachmentCall,
): DelegateContext {
  return {
    containerId,
    netns,
    ifname: call.ifname,
    args: call.cniArgs,
    capabilityArgs: call.capabilityArgs,
    cniPath,
    timeoutMs: conf.delegateTimeoutMs,
    versionCacheDir: versionCacheDir(conf),
    label: `${call.network} (${call.ifname})`,
  };
}
