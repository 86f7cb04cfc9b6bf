import type http from 'node:http';
import type { KubeAccess } from '../k8s/kubeconfig.ts';
import type { KubeClient } from '../k8s/rest-client.ts';
import { statusMessage } from '../k8s/rest-client.ts';
import { openWatch, type WatchEnd, type WatchEvent, type WatchHandle } from '../k8s/watch-stream.ts';
import type { KubeObject, ObjectSink } from './object-store.ts';

/**
 * Keeps one resource's objects in a sink: list (in pages), then watch from the list's
 * resourceVersion with bookmarks, carrying on from the last version seen after every watch
 * that ends; list again only when the server answers 410 Gone. Failures back off exponentially
 * with jitter, so a struggling API server is not hammered by every node at once.
 */
export interface ResourceSpec {
  /** Name in logs and metric labels, e.g. "pods". */
  name: string;
  /** Collection path, e.g. /api/v1/pods. */
  path: string;
  /** Extra query parameters of list and watch, e.g. a fieldSelector. */
  query?: Record<string, string>;
}

export interface ReflectorOptions {
  pageSize: number;
  /** Asked of the server per watch; each watch gets a random 0.5x to 1x of it, to spread reconnects. */
  watchTimeoutSeconds: number;
  minBackoffMs: number;
  maxBackoffMs: number;
  /** A watch silent this long past its timeoutSeconds, or without headers this long, is taken as dead. */
  idleGraceMs: number;
  log: (line: string) => void;
}

export const REFLECTOR_DEFAULTS: Omit<ReflectorOptions, 'log'> = {
  pageSize: 500,
  watchTimeoutSeconds: 300,
  minBackoffMs: 250,
  maxBackoffMs: 30_000,
  idleGraceMs: 30_000,
};

/** What /readyz and the watch metrics report. */
export interface WatchHealth {
  resource: string;
  synced: boolean;
  resourceVersion: string | undefined;
  lists: number;
  /** Lists forced by 410 Gone (watch too old, or an expired continue token). */
  relistsGone: number;
  watches: number;
  /** Watches that ended in failure (dropped, timed out idle, HTTP errors). */
  watchFailures: number;
  events: Record<string, number>;
  lastEventAt: number | undefined;
  lastError: string | undefined;
}

class Gone extends Error {}

const ABSENT = 'the resource is not served by this API server';

function statusDetailsName(body: unknown): string | undefined {
  const details = (body as { details?: { name?: unknown } } | null)?.details;
  return typeof details?.name === 'string' && details.name ? details.name : undefined;
}

function query(params: Record<string, string | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined) q.set(k, v);
  return q.toString();
}

export class Reflector {
  readonly health: WatchHealth;
  private stopped = false;
  private watch: WatchHandle | undefined;
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private failures = 0;
  private readonly syncWaiters: (() => void)[] = [];

  constructor(
    readonly spec: ResourceSpec,
    private readonly sink: ObjectSink,
    private readonly client: KubeClient,
    private readonly access: KubeAccess,
    private readonly agent: http.Agent,
    private readonly opts: ReflectorOptions,
  ) {
    this.health = {
      resource: spec.name,
      synced: false,
      resourceVersion: undefined,
      lists: 0,
      relistsGone: 0,
      watches: 0,
      watchFailures: 0,
      events: {},
      lastEventAt: undefined,
      lastError: undefined,
    };
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Stops watching; a list request under way is not waited for beyond a moment (it ends on its own). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.stop();
    this.wake?.();
    await Promise.race([this.loop, new Promise((r) => setTimeout(r, 1_000).unref())]);
  }

  /** Resolves once the first full list is in the sink. */
  whenSynced(): Promise<void> {
    if (this.health.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        if (this.health.resourceVersion === undefined && (await this.list()) === 'absent') {
          await this.pause(this.opts.maxBackoffMs);
          continue;
        }
        if (this.stopped) break;
        const end = await this.watchOnce();
        if (end.kind === 'gone') {
          this.health.relistsGone++;
          this.health.resourceVersion = undefined;
          this.opts.log(`${this.spec.name}: watch answered 410 Gone (${end.message}); listing again`);
          continue;
        }
        if (end.kind === 'failed') throw new Error(`watch: ${end.reason}`);
        if ('empty' in end) throw new Error('watch: the server ended the stream at once');
      } catch (e) {
        if (this.stopped) break;
        if (e instanceof Gone) this.health.relistsGone++;
        this.health.lastError = e instanceof Gone ? 'list continue token expired' : (e as Error).message;
        await this.backoff();
      }
    }
  }

  private async backoff(): Promise<void> {
    const ceiling = Math.min(this.opts.maxBackoffMs, this.opts.minBackoffMs * 2 ** this.failures);
    this.failures++;
    const ms = ceiling / 2 + Math.random() * (ceiling / 2);
    this.opts.log(`${this.spec.name}: ${this.health.lastError}; trying again in ${Math.round(ms)} ms`);
    await this.pause(ms);
  }

  private async pause(ms: number): Promise<void> {
    if (this.stopped) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => (clearTimeout(timer), resolve());
    });
    this.wake = undefined;
  }

  /**
   * A full list, page by page, into a new list session of the sink. A resource the server does
   * not serve at all (its CRD is not installed) is an empty, synced list: "absent".
   */
  private async list(): Promise<'listed' | 'absent' | 'stopped'> {
    const session = this.sink.beginList();
    let token: string | undefined;
    let version: string | undefined;
    do {
      const path = `${this.spec.path}?${query({ ...this.spec.query, limit: String(this.opts.pageSize), continue: token })}`;
      const res = await this.client.request('GET', path).catch((e: Error) => {
        throw new Error(`list ${this.spec.path}: ${e.message}`);
      });
      if (res.status === 410) {
        this.opts.log(`${this.spec.name}: list continue token expired; listing from the start`);
        throw new Gone();
      }
      if (res.status === 404 && token === undefined && !statusDetailsName(res.body)) {
        if (!this.health.synced || this.health.lastError !== ABSENT)
          this.opts.log(
            `${this.spec.name}: ${this.spec.path} is not served (CRD not installed?); treating it as empty`,
          );
        session.finish();
        this.health.lastError = ABSENT;
        this.markSynced(undefined);
        return 'absent';
      }
      if (res.status !== 200)
        throw new Error(`list ${this.spec.path}: HTTP ${res.status} ${statusMessage(res.body) ?? ''}`.trim());
      const body = res.body as { metadata?: { resourceVersion?: string; continue?: string }; items?: KubeObject[] };
      for (const item of body.items ?? []) session.add(item);
      version = body.metadata?.resourceVersion;
      token = body.metadata?.continue || undefined;
      if (this.stopped) return 'stopped';
    } while (token);
    session.finish();
    this.health.lists++;
    this.health.lastError = undefined;
    this.markSynced(version);
    // A complete list proves the API answers; the next watch failure starts the backoff anew.
    this.failures = 0;
    return 'listed';
  }

  private markSynced(version: string | undefined): void {
    this.health.resourceVersion = version;
    if (this.health.synced) return;
    this.health.synced = true;
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private onEvent(e: WatchEvent): void {
    this.health.events[e.type] = (this.health.events[e.type] ?? 0) + 1;
    this.health.lastEventAt = Date.now();
    if (e.type !== 'BOOKMARK') this.sink.apply(e.type, e.object as KubeObject);
    const rv = e.object.metadata?.resourceVersion;
    if (typeof rv === 'string' && rv !== '') this.health.resourceVersion = rv;
  }

  private async watchOnce(): Promise<WatchEnd | { kind: 'closed'; empty: true }> {
    const timeout = Math.round(this.opts.watchTimeoutSeconds * (0.5 + Math.random() / 2));
    const path = `${this.spec.path}?${query({
      ...this.spec.query,
      watch: '1',
      resourceVersion: this.health.resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: String(timeout),
    })}`;
    this.health.watches++;
    const started = Date.now();
    let events = 0;
    this.watch = openWatch(this.access, this.agent, path, (e) => (events++, this.onEvent(e)), {
      idleTimeoutMs: timeout * 1000 + this.opts.idleGraceMs,
      headerTimeoutMs: this.opts.idleGraceMs,
    });
    const end = await this.watch.ended;
    this.watch = undefined;
    if (end.kind === 'failed') this.health.watchFailures++;
    const lasted = Date.now() - started;
    // A watch that delivered or lasted proves the connection works: reset the backoff.
    if (events > 0 || lasted > 30_000) this.failures = 0;
    if (end.kind === 'closed' && !this.stopped && events === 0 && lasted < 1_000)
      return { kind: 'closed', empty: true };
    return end;
  }
}
