/**
 * A bound on concurrent work: at most `limit` tasks run, the rest wait in arrival order. Nothing
 * is ever refused; a burst costs queueing time, not memory per running delegate (Multus #1346).
 */
export class ConcurrencyLimiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Most tasks that ever waited at once (for the benchmark). */
  peakQueued = 0;

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new Error(`concurrency limit must be a positive integer, got ${limit}`);
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /** Runs `task` once a slot is free. `stillWanted` is asked when the slot comes: false skips the task. */
  async run<T>(task: () => Promise<T>, stillWanted: () => boolean = () => true): Promise<T | undefined> {
    if (this.running >= this.limit) {
      await new Promise<void>((resolve) => {
        this.waiting.push(resolve);
        this.peakQueued = Math.max(this.peakQueued, this.waiting.length);
      });
    } else {
      this.running++;
    }
    try {
      if (!stillWanted()) return undefined;
      return await task();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next task, so `running` stays the same.
      if (next) next();
      else this.running--;
    }
  }
}
