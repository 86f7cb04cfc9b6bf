import { listCache } from '../cache/attachment-cache.ts';
import type { ClusterCache } from './cluster-cache.ts';
import type { ConcurrencyLimiter } from './limiter.ts';
import { Registry, type Counter, type Histogram, type Labels } from './metrics.ts';

/**
 * The agent's metric families. Plugin calls and delegate runs are recorded as they happen; the
 * rest (queue, cache, watch and policy map state) is read when Prometheus scrapes.
 */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly requests: Counter;
  readonly duration: Histogram;
  readonly queueWait: Histogram;
  readonly abandoned: Counter;
  readonly delegateDuration: Histogram;

  constructor() {
    const r = this.registry;
    this.requests = r.counter(
      'braid_agent_requests_total',
      'Plugin calls the agent answered, by CNI verb and result code (0 = success).',
    );
    this.duration = r.histogram(
      'braid_agent_request_duration_seconds',
      'Time from taking a plugin call to answering it, queueing included, by CNI verb.',
    );
    this.queueWait = r.histogram(
      'braid_agent_request_queue_seconds',
      'Time plugin calls waited for a free slot under the concurrency bound, by CNI verb.',
    );
    this.abandoned = r.counter(
      'braid_agent_requests_abandoned_total',
      'Queued plugin calls dropped because the plugin process went away before a slot was free.',
    );
    this.delegateDuration = r.histogram(
      'braid_delegate_duration_seconds',
      'Run time of delegate plugin processes started by the agent, by delegate type and CNI verb.',
    );
    r.gauge('process_resident_memory_bytes', 'Resident memory of the agent process.', () => [
      [{}, process.memoryUsage.rss()],
    ]);
    r.gauge(
      'braid_agent_memory_bytes',
      'Memory of the agent process by kind: V8 heap used and total, external (buffers).',
      () => {
        const m = process.memoryUsage();
        return [
          [{ kind: 'heap_used' }, m.heapUsed],
          [{ kind: 'heap_total' }, m.heapTotal],
          [{ kind: 'external' }, m.external],
        ];
      },
    );
  }

  /** Slots in use and calls waiting under the concurrency bound. */
  watchLimiter(limiter: ConcurrencyLimiter): void {
    this.registry.gauge('braid_agent_requests_in_flight', 'Plugin calls running now.', () => [[{}, limiter.active]]);
    this.registry.gauge('braid_agent_requests_queued', 'Plugin calls waiting for a slot.', () => [
      [{}, limiter.queued],
    ]);
    this.registry.gauge('braid_agent_concurrency_limit', 'The bound on plugin calls running at once.', () => [
      [{}, limiter.limit],
    ]);
  }

  /** Attachments braid's per-container cache holds on this node, by state. */
  watchAttachments(cacheDir: string): void {
    this.registry.gauge(
      'braid_attachments',
      "Attachments recorded in braid's per-container cache on this node, by state (added, pending).",
      () => {
        const counts = new Map<string, number>([
          ['added', 0],
          ['pending', 0],
        ]);
        for (const { read } of listCache(cacheDir)) {
          if (read.status !== 'ok') continue;
          for (const a of read.record.attachments) counts.set(a.state, (counts.get(a.state) ?? 0) + 1);
        }
        return [...counts].map(([state, n]): [Labels, number] => [{ state }, n]);
      },
    );
  }

  /** Health of each watch and the size of each cache. */
  watchCluster(cache: ClusterCache): void {
    const r = this.registry;
    const each = (value: (h: ClusterCache['reflectors'][number]['health']) => number) => () =>
      cache.reflectors.map((x): [Labels, number] => [{ resource: x.health.resource }, value(x.health)]);
    r.gauge(
      'braid_watch_synced',
      '1 once the resource was listed completely at least once.',
      each((h) => (h.synced ? 1 : 0)),
    );
    r.counter(
      'braid_watch_lists_total',
      'Complete lists of the resource.',
      each((h) => h.lists),
    );
    r.counter(
      'braid_watch_relists_gone_total',
      'Lists forced by 410 Gone (resourceVersion too old, or an expired continue token).',
      each((h) => h.relistsGone),
    );
    r.counter(
      'braid_watch_requests_total',
      'Watch requests opened (each resumes from the last resourceVersion seen).',
      each((h) => h.watches),
    );
    r.counter(
      'braid_watch_failures_total',
      'Watches that ended in failure: dropped or idle connections, HTTP errors.',
      each((h) => h.watchFailures),
    );
    r.gauge(
      'braid_watch_last_event_age_seconds',
      'Seconds since the last watch event (bookmarks included) of the resource.',
      () =>
        cache.reflectors
          .filter((x) => x.health.lastEventAt !== undefined)
          .map((x): [Labels, number] => [{ resource: x.health.resource }, (Date.now() - x.health.lastEventAt!) / 1000]),
    );
    r.counter(
      'braid_watch_events_total',
      'Watch events received, by resource and type (ADDED, MODIFIED, DELETED, BOOKMARK).',
      () =>
        cache.reflectors.flatMap((x) =>
          Object.entries(x.health.events).map(([type, n]): [Labels, number] => [
            { resource: x.health.resource, type },
            n,
          ]),
        ),
    );
    r.gauge('braid_cache_objects', 'Objects held in each agent cache.', () => [
      [{ cache: 'nads' }, cache.nads.size],
      [{ cache: 'pods' }, cache.pods.size],
      [{ cache: 'local_pods' }, cache.localPods.size],
      [{ cache: 'namespaces' }, cache.namespaces.size],
      [{ cache: 'policies' }, cache.policies.size],
    ]);
  }
}
