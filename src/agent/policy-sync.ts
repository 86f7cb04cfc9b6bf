import { mkdirSync, watch, type FSWatcher } from 'node:fs';
import type { ClusterView, PodView } from '../policy/model.ts';
import type { HeldDatapath } from '../policy/held-datapath.ts';
import { reconcileNode } from '../policy/node-reconcile.ts';
import type { IfaceRecord } from '../policy/registry.ts';
import type { PolicyInputs, PolicyRuntimeOptions, ReconcileReport } from '../policy/runtime.ts';

/** An interface on this node with its addresses: an enforced one, or one waiting to be. */
export type LocalAddresses = Pick<IfaceRecord, 'pod' | 'network' | 'ifname' | 'ips' | 'mac'>;
import type { ClusterCache } from './cluster-cache.ts';
import type { Counter, Histogram, Registry } from './metrics.ts';

/**
 * Keeps this node's policy maps in step with the cluster: every change to a policy, a namespace's
 * labels or a pod's labels or addresses schedules a reconcile (debounced, so a burst of changes
 * costs one), and a periodic one picks up interfaces a thin-mode ADD attached meanwhile. The
 * policy runtime (src/policy) does the compiling and the map writes; this module only feeds it
 * the cluster from the agent's caches instead of the local stores.
 */
export interface PolicyReconciler {
  /** Recompiles every interface enforced on this node against what `inputsFor` returns. */
  reconcile(inputsFor: (records: readonly LocalAddresses[]) => PolicyInputs): ReconcileReport;
}

/** The reconciler over this node's registry and pinned maps, fed from the agent's caches. */
export function nodeReconciler(opts: PolicyRuntimeOptions, held?: HeldDatapath): PolicyReconciler {
  return { reconcile: (inputsFor) => reconcileNode(opts, inputsFor, held ? { held } : {}) };
}

/**
 * The cluster view from the caches, with the addresses this node's enforced interfaces have
 * (a pod's network-status may not be published yet when its interfaces are already enforced).
 */
export function viewFromCache(
  cache: Pick<ClusterCache, 'pods' | 'namespaces'>,
  records: readonly LocalAddresses[],
): ClusterView {
  const pods = new Map<string, PodView>();
  for (const p of cache.pods.values()) pods.set(`${p.namespace}/${p.name}`, p);
  for (const r of records) {
    const key = `${r.pod.namespace}/${r.pod.name}`;
    const pod = pods.get(key) ?? {
      namespace: r.pod.namespace,
      name: r.pod.name,
      labels: {},
      namedPorts: [],
      attachments: [],
    };
    if (pod.attachments.some((a) => a.network === r.network && (a.ifname ?? r.ifname) === r.ifname)) continue;
    const ips = r.ips.map((ip) => ip.split('/')[0]!);
    pods.set(key, {
      ...pod,
      attachments: [
        ...pod.attachments,
        { network: r.network, ifname: r.ifname, ips, ...(r.mac ? { mac: r.mac } : {}) },
      ],
    });
  }
  return { pods: [...pods.values()], namespaces: [...cache.namespaces.values()] };
}

export interface PolicySyncOptions {
  debounceMs: number;
  periodMs: number;
  /**
   * The registry's directory of enforced interfaces: a record written there by a thin-mode ADD
   * (agent not involved) triggers a reconcile, so the new interface gets the cluster's policies.
   */
  registryDir?: string;
  /** Changes in registryDir this agent made itself (its own ADDs and DELs are complete already). */
  ignore?: (file: string) => boolean;
  log: (line: string) => void;
}

export class PolicySync {
  private timer: NodeJS.Timeout | undefined;
  private periodic: NodeJS.Timeout | undefined;
  private watcher: FSWatcher | undefined;
  private stopped = false;
  private started = false;
  private readonly runs: Counter;
  private readonly duration: Histogram;
  private readonly written: Counter;
  last: ReconcileReport | undefined;

  constructor(
    private readonly reconciler: PolicyReconciler,
    private readonly cache: Pick<ClusterCache, 'pods' | 'namespaces' | 'validPolicies'>,
    registry: Registry,
    private readonly opts: PolicySyncOptions,
  ) {
    this.runs = registry.counter(
      'braid_policy_reconciles_total',
      "Policy reconciles of this node's interfaces, by result (ok, error).",
    );
    this.duration = registry.histogram(
      'braid_policy_reconcile_duration_seconds',
      'Time one policy reconcile of this node took.',
    );
    this.written = registry.counter(
      'braid_policy_map_writes_total',
      'Policy map entries written or deleted by reconciles, by op.',
    );
    registry.gauge(
      'braid_policy_interfaces',
      'Interfaces under policy enforcement on this node at the last reconcile.',
      () => (this.last ? [[{}, this.last.interfaces]] : []),
    );
    registry.gauge(
      'braid_policy_interfaces_failed',
      'Interfaces whose policies failed to compile at the last reconcile (they keep their previous entries).',
      () => (this.last ? [[{}, this.last.errors.length]] : []),
    );
  }

  start(): void {
    this.started = true;
    this.periodic = setInterval(() => this.schedule('periodic'), this.opts.periodMs);
    this.periodic.unref();
    if (this.opts.registryDir) {
      try {
        mkdirSync(this.opts.registryDir, { recursive: true, mode: 0o700 });
        this.watcher = watch(this.opts.registryDir, (_event, file) => {
          if (file && this.opts.ignore?.(String(file))) return;
          this.schedule('registry');
        });
        this.watcher.on('error', () => undefined);
      } catch (e) {
        this.opts.log(
          `policy: cannot watch ${this.opts.registryDir} (new interfaces wait for the periodic reconcile): ${(e as Error).message}`,
        );
      }
    }
    this.schedule('start');
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.periodic);
    this.watcher?.close();
  }

  /** Reconciles at once (a pending scheduled run is folded in); nothing before start(). */
  reconcileNow(): void {
    if (!this.started || this.stopped) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.runNow();
  }

  /** Reconciles soon; changes that arrive meanwhile ride along. Nothing before start(). */
  schedule(_reason: string): void {
    if (!this.started || this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.runNow();
    }, this.opts.debounceMs);
  }

  runNow(): ReconcileReport | undefined {
    const started = performance.now();
    try {
      const report = this.reconciler.reconcile((records) => ({
        policies: this.cache.validPolicies(),
        view: viewFromCache(this.cache, records),
      }));
      this.last = report;
      this.runs.inc({ result: 'ok' });
      this.written.inc({ op: 'write' }, report.written);
      this.written.inc({ op: 'delete' }, report.deleted);
      for (const e of report.errors)
        this.opts.log(`policy: interface ${e.ifaceId} keeps its previous entries: ${e.message}`);
      return report;
    } catch (e) {
      this.runs.inc({ result: 'error' });
      this.opts.log(`policy: reconcile failed: ${(e as Error).message}`);
      return undefined;
    } finally {
      this.duration.observe({}, (performance.now() - started) / 1000);
    }
  }
}
