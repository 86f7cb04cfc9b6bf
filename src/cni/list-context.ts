import type { DelegateProcess } from './delegate-process.ts';
import type { HostRoot, SpawnDelegate } from './exec.ts';
import type { CniCommand } from './request.ts';

/** What braid runs one delegate network (a conflist) with, for one container and one verb (runtime.ts). */
export interface DelegateContext {
  containerId: string;
  netns: string;
  ifname: string;
  args: [string, string][];
  /** Offered to each plugin as `runtimeConfig[key]` when it declares `capabilities[key]: true`. */
  capabilityArgs: Record<string, unknown>;
  cniPath: string[];
  timeoutMs: number;
  versionCacheDir?: string;
  /** Names this network in errors, e.g. `net1 (default/macvlan-conf)`. */
  label: string;
  /**
   * Base environment of every plugin (braid passes the one its own call came with, which in
   * braid-agent is the runtime's, not the agent's); defaults to process.env.
   */
  env?: Record<string, string | undefined>;
  /** Where the plugins' stderr goes; defaults to our stderr. */
  stderr?: NodeJS.WritableStream;
  /** braid-agent --host-root: plugins are found and run in the host's root file system. */
  hostRoot?: HostRoot | undefined;
  /** How delegates are started; undefined: Node's spawn. */
  spawn?: SpawnDelegate | undefined;
  /** Records each ADD plugin's process before it acts (see ExecOptions.onStart). */
  onAddStart?: (proc: DelegateProcess) => void;
  /** Told how long each delegate run took (braid-agent's latency histogram). */
  observer?: DelegateObserver;
}

/** One finished delegate run: its type (the binary's name), the verb, and its wall time. */
export interface DelegateRun {
  type: string;
  verb: CniCommand;
  seconds: number;
}

export interface DelegateObserver {
  delegateFinished(run: DelegateRun): void;
}
