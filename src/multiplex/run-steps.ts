/** What a run of attachment steps did. */
export interface StepsOutcome {
  /** Positions whose work was started, ascending: these may have acted. */
  started: number[];
  /** Positions whose work failed, ascending (the pod's declared order, not the order they failed in). */
  failures: { position: number; error: unknown }[];
}

/**
 * Runs `work` for every position of `steps` (attachment-order.ts): the steps one after another,
 * the positions of one step at most `limit` at a time. With `stopOnFailure` (ADD) nothing new is
 * started once a position failed, but the work already running is awaited, so that when this
 * resolves no delegate runs any more and `started` names everything that may need undoing.
 */
export async function runSteps(
  steps: number[][],
  limit: number,
  work: (position: number) => Promise<void>,
  opts: { stopOnFailure: boolean },
): Promise<StepsOutcome> {
  const started: number[] = [];
  const failures: StepsOutcome['failures'] = [];
  const stopped = () => opts.stopOnFailure && failures.length > 0;
  for (const step of steps) {
    if (stopped()) break;
    const queue = [...step];
    const worker = async () => {
      for (let position = queue.shift(); position !== undefined && !stopped(); position = queue.shift()) {
        started.push(position);
        try {
          await work(position);
        } catch (error) {
          failures.push({ position, error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, step.length)) }, worker));
  }
  return {
    started: started.sort((a, b) => a - b),
    failures: failures.sort((a, b) => a.position - b.position),
  };
}
