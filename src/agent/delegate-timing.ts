import { AsyncLocalStorage } from 'node:async_hooks';
import { type ChildProcess } from 'node:child_process';
import diagnostics from 'node:diagnostics_channel';
import { basename, dirname, resolve } from 'node:path';
import type { Histogram } from './metrics.ts';

/**
 * Per-delegate latency without touching the CNI runtime: each plugin call the agent serves runs
 * inside an async context that names its verb and the directories its delegates come from, and
 * Node's `child_process` diagnostics channel reports every process started. A process started
 * from one of those directories is a delegate; its type is its file name. Helpers braid starts
 * (nsenter, ip) live elsewhere and are not counted. A delegate's VERSION probe (rare: the answer
 * is cached on disk) is counted under the verb that needed it.
 */
export interface CallContext {
  verb: string;
  /** Directories delegates are found in: braid's binDir, then CNI_PATH. */
  delegateDirs: ReadonlySet<string>;
}

const calls = new AsyncLocalStorage<CallContext>();

/** Runs `fn` as the plugin call `ctx`, so that the delegates it starts are attributed to it. */
export function withCallContext<T>(ctx: CallContext, fn: () => Promise<T>): Promise<T> {
  return calls.run(ctx, fn);
}

/** braid's binDir (the conf's, or Multus' default) and the runtime's CNI_PATH. */
export function delegateDirsOf(env: Record<string, string>, stdin: string): Set<string> {
  const dirs = new Set((env.CNI_PATH ?? '').split(':').filter((d) => d !== '').map((d) => resolve(d)));
  let binDir = '/opt/cni/bin';
  try {
    const conf = JSON.parse(stdin) as { binDir?: unknown; plugins?: { binDir?: unknown }[] };
    const fromList = Array.isArray(conf.plugins) ? conf.plugins.find((p) => typeof p?.binDir === 'string')?.binDir : undefined;
    const value = typeof conf.binDir === 'string' ? conf.binDir : fromList;
    if (typeof value === 'string' && value !== '') binDir = value;
  } catch {
    // the call will fail on its conf; nothing to attribute
  }
  dirs.add(resolve(binDir));
  return dirs;
}

/**
 * Starts recording delegate run times into `histogram` (labels: type, verb). Returns the function
 * that stops it.
 */
export function recordDelegateTimes(histogram: Histogram): () => void {
  const onSpawn = (message: unknown): void => {
    const ctx = calls.getStore();
    if (!ctx) return;
    const child = (message as { process?: ChildProcess }).process;
    if (!child) return;
    const started = performance.now();
    // The channel reports before the process exists; its file is known once spawn() returns.
    queueMicrotask(() => {
      // argv[0]: a delegate started through its parent-death-signal launcher (setpriv) keeps its own path there.
      const file = child.spawnargs[0] ?? child.spawnfile;
      if (!file || !ctx.delegateDirs.has(dirname(resolve(file)))) return;
      child.once('close', () => {
        histogram.observe({ type: basename(file), verb: ctx.verb }, (performance.now() - started) / 1000);
      });
    });
  };
  diagnostics.subscribe('child_process', onSpawn);
  return () => diagnostics.unsubscribe('child_process', onSpawn);
}
