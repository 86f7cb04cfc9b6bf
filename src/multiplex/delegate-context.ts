import path from 'node:path';
import type { HostRoot, SpawnDelegate } from '../cni/exec.ts';
import type { CniEnv, CniRequest } from '../cni/request.ts';
import type { DelegateContext, DelegateObserver } from '../cni/list-context.ts';
import type { BraidConf } from '../config/types.ts';

export interface AttachmentCall {
  network: string;
  ifname: string;
  cniArgs: [string, string][];
  capabilityArgs: Record<string, unknown>;
}

/** Whom one plugin call's delegates run for; STATUS and GC have no container (empty strings). */
export interface DelegateTarget {
  containerId: string;
  netns: string;
  /** Where the delegates are found (see delegatePath). */
  cniPath: string[];
  /**
   * The environment the call came with: the container runtime's, in thick mode too, so that a
   * delegate sees what it would see if the runtime had called it (PATH, proxies, a vendor
   * plugin's own variables), never braid-agent's.
   */
  env: CniEnv;
  /** Told each delegate's run time (braid-agent's metrics); a plugin process has none. */
  observer?: DelegateObserver | undefined;
  /** braid-agent --host-root: delegates run chrooted into the host's root. */
  hostRoot?: HostRoot | undefined;
  /** How the delegates are started (the request's; undefined: Node's spawn). */
  spawn?: SpawnDelegate | undefined;
}

/** A per-container call's target, from its request. */
export function containerTarget(req: CniRequest, cniPath: string[], observer?: DelegateObserver): DelegateTarget {
  return {
    containerId: req.containerId,
    netns: req.netns,
    cniPath,
    env: req.env,
    observer,
    hostRoot: req.hostRoot,
    spawn: req.spawn,
  };
}

/** STATUS and GC of a network: no container, no namespace. */
export function networkTarget(
  cniPath: string[],
  req: Pick<CniRequest, 'env' | 'hostRoot' | 'spawn'>,
  observer?: DelegateObserver,
): DelegateTarget {
  return { containerId: '', netns: '', cniPath, env: req.env, observer, hostRoot: req.hostRoot, spawn: req.spawn };
}

/** Multus prepends binDir to the runtime's CNI_PATH; duplicates are dropped, order kept. */
export function delegatePath(conf: BraidConf, runtimePath: string[]): string[] {
  return [...new Set([conf.binDir, ...runtimePath].filter((d) => d !== ''))];
}

export function versionCacheDir(conf: BraidConf): string {
  return path.join(conf.cniDir, 'versions');
}

/** How braid, as a runtime, calls one attachment's delegates. */
export function delegateContext(conf: BraidConf, target: DelegateTarget, call: AttachmentCall): DelegateContext {
  return {
    containerId: target.containerId,
    netns: target.netns,
    ifname: call.ifname,
    args: call.cniArgs,
    capabilityArgs: call.capabilityArgs,
    cniPath: target.cniPath,
    timeoutMs: conf.delegateTimeoutMs,
    versionCacheDir: versionCacheDir(conf),
    label: `${call.network} (${call.ifname})`,
    env: target.env,
    ...(target.observer ? { observer: target.observer } : {}),
    hostRoot: target.hostRoot,
    spawn: target.spawn,
  };
}
