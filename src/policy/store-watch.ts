import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import { reconcileAll } from './node-reconcile.ts';
import type { PolicyRuntimeOptions, ReconcileReport } from './runtime.ts';

/**
 * Live policy updates on the embedded default (no Kubernetes): watches the local policy store
 * (policies and Namespace manifests) and the local pod store (pod labels, named ports,
 * network-status) and reconciles every enforced interface after a change, so that editing a pod's
 * labels or dropping a policy file in place takes effect without `braid policy apply`. A burst of
 * changes (an editor's save, an ADD's status write) costs one reconcile after `debounceMs`; a slow
 * periodic reconcile covers events inotify cannot deliver (a store on a network filesystem, a
 * directory replaced as a whole). braid-agent runs this when it has no Kubernetes access; `braid
 * policy watch` runs it in the foreground on a host without the agent.
 */
export interface StoreWatchOptions {
  /** Quiet time after the last change before reconciling (default 150 ms). */
  debounceMs?: number;
  /** Reconcile this often whatever the events (default 30 s; 0: never). */
  periodMs?: number;
  log: (line: string) => void;
  /** Called after every reconcile (tests, the CLI's output). */
  onReconcile?: (report: ReconcileReport, trigger: string) => void;
  /**
   * Whether a change under a pod namespace's `.status/` (network-status, which braid's own ADD
   * writes) triggers a reconcile (default true). braid-agent turns it off: its ADD and DEL already
   * update every interface whose policy names the pod, and a whole-node reconcile per pod would
   * make each ADD's cost grow with the pods on the node. The periodic reconcile still sees them.
   */
  reconcileOnStatus?: boolean;
  /** Default reconcileAll; tests substitute a recorder. */
  reconcile?: (opts: PolicyRuntimeOptions) => ReconcileReport;
}

/** `<namespace>/.status/<pod>.json` (or the directory itself), relative to the pod store. */
function isStatusPath(file: string | null): boolean {
  return file !== null && file.split('/')[1] === '.status';
}

export class LocalStoreWatch {
  private readonly watchers: FSWatcher[] = [];
  private timer: NodeJS.Timeout | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private pending = '';
  private stopped = false;

  constructor(
    private readonly runtime: PolicyRuntimeOptions,
    private readonly opts: StoreWatchOptions,
  ) {}

  /** Starts watching (creating missing store directories) and reconciles once at once. */
  start(): void {
    for (const [what, dir] of [
      ['policy store', this.runtime.policyDir],
      ['pod store', this.runtime.podDir],
    ] as const) {
      try {
        mkdirSync(dir, { recursive: true });
        // Recursive: pods live in <podDir>/<ns>/, their status in <podDir>/<ns>/.status/.
        const w = watch(dir, { recursive: true }, (_event, file) => {
          if (what === 'pod store' && this.opts.reconcileOnStatus === false && isStatusPath(file)) return;
          this.schedule(`${what}${file ? `: ${file}` : ''}`);
        });
        w.on('error', (e) =>
          this.opts.log(`policy: watching ${dir} failed (changes wait for the periodic reconcile): ${e.message}`),
        );
        this.watchers.push(w);
      } catch (e) {
        this.opts.log(
          `policy: cannot watch ${what} ${dir} (changes wait for the periodic reconcile): ${(e as Error).message}`,
        );
      }
    }
    const period = this.opts.periodMs ?? 30_000;
    if (period > 0) {
      this.periodic = setInterval(() => this.schedule('periodic'), period);
      this.periodic.unref();
    }
    this.run('start');
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.periodic);
    for (const w of this.watchers) w.close();
    this.watchers.length = 0;
  }

  private schedule(trigger: string): void {
    if (this.stopped) return;
    this.pending ||= trigger;
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const why = this.pending;
      this.pending = '';
      this.run(why);
    }, this.opts.debounceMs ?? 150);
  }

  private run(trigger: string): void {
    if (this.stopped) return;
    try {
      const report = (this.opts.reconcile ?? reconcileAll)(this.runtime);
      for (const e of report.errors)
        this.opts.log(`policy: interface ${e.ifaceId} keeps its previous entries: ${e.message}`);
      this.opts.onReconcile?.(report, trigger);
    } catch (e) {
      // A half-written manifest or a lock held too long: the next change or period tries again.
      this.opts.log(`policy: reconcile after ${trigger} failed: ${(e as Error).message}`);
    }
  }
}
