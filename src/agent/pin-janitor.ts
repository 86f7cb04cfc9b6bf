import { collectPolicyGarbage } from '../policy/release.ts';
import type { HeldDatapath } from '../policy/held-datapath.ts';
import type { PolicyRuntimeOptions } from '../policy/runtime.ts';

/**
 * braid-agent's periodic policy GC, with or without a cluster to sync from: interfaces whose
 * device is gone and every dead link slot under the agent's pin root (found by listing bpffs),
 * whichever conf or lost cache they were of. Nothing is done before the first period.
 */
export function startPinJanitor(
  opts: PolicyRuntimeOptions,
  held: HeldDatapath,
  periodMs: number,
  log: (line: string) => void,
): () => void {
  const timer = setInterval(() => {
    try {
      const gone = collectPolicyGarbage(opts, undefined, { held });
      if (gone.length > 0) log(`policy: removed the programs of ${gone.length} interface(s) whose device is gone`);
    } catch (e) {
      log(`policy: periodic GC under ${opts.bpfRoot} failed: ${(e as Error).message}`);
    }
  }, periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
