/**
 * FakeApiServer with collections that can be listed (paged, with continue tokens) and watched
 * (resourceVersion, bookmarks, 410 Gone after compaction), as braid-agent's reflectors use them:
 * pods, namespaces, NADs and MultiNetworkPolicies. Faults injected with inject() apply to list
 * and watch requests too; dropWatches() cuts every open watch, compact() forgets history.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { FakeApiServer, statusObject, type FakeApiServerOptions, type FakeObject } from './fake-apiserver.ts';

export type Collection = 'pods' | 'namespaces' | 'nads' | 'policies';

const COLLECTIONS: [RegExp, Collection][] = [
  [/^\/api\/v1\/pods$/, 'pods'],
  [/^\/api\/v1\/namespaces$/, 'namespaces'],
  [/^\/apis\/k8s\.cni\.cncf\.io\/v1\/network-attachment-definitions$/, 'nads'],
  [/^\/apis\/k8s\.cni\.cncf\.io\/v1beta1\/multi-networkpolicies$/, 'policies'],
];

interface HistoryEntry {
  rv: number;
  collection: Collection;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: FakeObject;
}

interface Watcher {
  collection: Collection;
  matches: (o: FakeObject) => boolean;
  bookmarks: boolean;
  res: http.ServerResponse;
}

export interface PodSpecInput {
  namespace: string;
  name: string;
  nodeName: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ports?: { name: string; containerPort: number; protocol?: string }[];
  uid?: string;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export class FakeWatchApiServer extends FakeApiServer {
  private readonly history: HistoryEntry[] = [];
  /** Watches from a version at or below this one get 410 Gone. */
  private compactedRv = 0;
  private currentRv = 0;
  private readonly namespaceObjects = new Map<string, FakeObject>();
  private readonly policyObjects = new Map<string, FakeObject>();
  private readonly watchers = new Set<Watcher>();
  /** False: behave like a cluster without the MultiNetworkPolicy CRD. */
  servePolicies = true;
  /** Every list page waits this long (a slow API server). */
  listDelayMs = 0;
  /** Called before each list page is answered (page 0 is the first of a list). */
  onListPage: ((collection: Collection, page: number) => void) | undefined;
  readonly lists: Record<Collection, number> = { pods: 0, namespaces: 0, nads: 0, policies: 0 };
  readonly watches: Record<Collection, number> = { pods: 0, namespaces: 0, nads: 0, policies: 0 };

  static async startWatchable(opts: FakeApiServerOptions = {}): Promise<FakeWatchApiServer> {
    const server = opts.tls ? https.createServer({ ...opts.tls, rejectUnauthorized: false }) : http.createServer();
    const fake = new FakeWatchApiServer(server, opts);
    server.on('request', (req, res) => void fake.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return fake;
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  /** A pod as a real API server returns it, managedFields and all, on any node. */
  putPod(p: PodSpecInput): FakeObject {
    const key = `${p.namespace}/${p.name}`;
    const pod: FakeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: p.name,
        namespace: p.namespace,
        uid: p.uid ?? this.pods.get(key)?.metadata.uid ?? randomUUID(),
        resourceVersion: '',
        ...(p.labels ? { labels: p.labels } : {}),
        ...(p.annotations ? { annotations: p.annotations } : {}),
        managedFields: [
          {
            manager: 'kube-controller-manager',
            operation: 'Update',
            apiVersion: 'v1',
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:metadata': { 'f:labels': {} }, 'f:spec': { 'f:containers': {} } },
          },
        ],
      } as FakeObject['metadata'],
      spec: {
        nodeName: p.nodeName,
        containers: [
          {
            name: 'app',
            image: 'registry.example/app:1.0',
            ports: p.ports ?? [],
            env: [{ name: 'MODE', value: 'production' }],
            resources: { requests: { cpu: '100m', memory: '64Mi' } },
          },
        ],
        volumes: [
          {
            name: 'kube-api-access',
            projected: { sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }] },
          },
        ],
      },
      status: { phase: 'Running', podIP: '10.244.0.10', podIPs: [{ ip: '10.244.0.10' }] },
    };
    return this.store('pods', this.pods, key, pod);
  }

  override setPod(p: Parameters<FakeApiServer['setPod']>[0]): FakeObject {
    const existed = this.pods.has(`${p.namespace}/${p.name}`);
    const pod = super.setPod(p);
    this.record('pods', existed ? 'MODIFIED' : 'ADDED', pod);
    return pod;
  }

  override deletePod(namespace: string, name: string): void {
    this.remove('pods', this.pods, `${namespace}/${name}`);
  }

  override setNad(namespace: string, name: string, config?: string, annotations?: Record<string, string>): FakeObject {
    const existed = this.nads.has(`${namespace}/${name}`);
    const nad = super.setNad(namespace, name, config, annotations);
    this.record('nads', existed ? 'MODIFIED' : 'ADDED', nad);
    return nad;
  }

  override deleteNad(namespace: string, name: string): void {
    this.remove('nads', this.nads, `${namespace}/${name}`);
  }

  putNamespace(name: string, labels: Record<string, string> = {}): FakeObject {
    const ns: FakeObject = {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: {
        name,
        uid: randomUUID(),
        resourceVersion: '',
        labels: { 'kubernetes.io/metadata.name': name, ...labels },
      } as unknown as FakeObject['metadata'],
    };
    return this.store('namespaces', this.namespaceObjects, name, ns);
  }

  putPolicy(
    namespace: string,
    name: string,
    spec: Record<string, unknown>,
    annotations?: Record<string, string>,
  ): FakeObject {
    const policy: FakeObject = {
      apiVersion: 'k8s.cni.cncf.io/v1beta1',
      kind: 'MultiNetworkPolicy',
      metadata: { name, namespace, uid: randomUUID(), resourceVersion: '', ...(annotations ? { annotations } : {}) },
      spec,
    };
    return this.store('policies', this.policyObjects, `${namespace}/${name}`, policy);
  }

  deletePolicy(namespace: string, name: string): void {
    this.remove('policies', this.policyObjects, `${namespace}/${name}`);
  }

  /** Forgets the history: watches from any version seen so far get 410, as do old continue tokens. */
  compact(): void {
    this.compactedRv = Number(this.nextRevision());
    this.currentRv = this.compactedRv;
    this.history.length = 0;
  }

  /** Cuts every open watch connection, as a restarting API server or a load balancer would. */
  dropWatches(): void {
    for (const w of this.watchers) w.res.socket?.destroy();
    this.watchers.clear();
  }

  /** Sends a BOOKMARK with the current version to every watch that asked for bookmarks. */
  sendBookmarks(): void {
    for (const w of this.watchers)
      if (w.bookmarks) this.write(w, { type: 'BOOKMARK', object: this.bookmark(w.collection) });
  }

  protected override mergeAnnotations(obj: FakeObject, patch: Record<string, string | null>): void {
    super.mergeAnnotations(obj, patch);
    if (obj.kind === 'Pod' && this.pods.get(`${obj.metadata.namespace}/${obj.metadata.name}`) === obj)
      this.record('pods', 'MODIFIED', obj);
  }

  protected override async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const collection = COLLECTIONS.find(([re]) => re.test(url.pathname))?.[1];
    if (!collection || req.method !== 'GET') return super.handle(req, res);
    const identity = this.identify(req);
    this.requests.push({
      method: 'GET',
      path: `${url.pathname}${url.search}`,
      identity: identity ?? 'rejected',
      socket: 0,
    });
    const fault = this.takeFault('GET', url.pathname);
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (fault?.kind === 'drop') return void req.socket.destroy();
    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
    if (fault?.kind === 'status')
      return send(
        fault.code,
        statusObject(fault.code, fault.reason ?? 'InternalError', fault.message ?? `injected ${fault.code}`),
      );
    if (!identity) return send(401, statusObject(401, 'Unauthorized', 'Unauthorized'));
    if ((collection === 'nads' && !this.serveNads) || (collection === 'policies' && !this.servePolicies)) {
      return send(404, statusObject(404, 'NotFound', 'the server could not find the requested resource'));
    }
    const q = url.searchParams;
    const field = /^spec\.nodeName=(.*)$/.exec(q.get('fieldSelector') ?? '')?.[1];
    const matches = (o: FakeObject) =>
      field === undefined || (o.spec as { nodeName?: string } | undefined)?.nodeName === field;
    if (q.get('watch') === '1' || q.get('watch') === 'true') return this.serveWatch(collection, matches, q, res);
    if (this.listDelayMs > 0) await new Promise((r) => setTimeout(r, this.listDelayMs));
    this.serveList(collection, matches, q, send);
  }

  private mapOf(c: Collection): Map<string, FakeObject> {
    return { pods: this.pods, nads: this.nads, namespaces: this.namespaceObjects, policies: this.policyObjects }[c];
  }

  private store(c: Collection, map: Map<string, FakeObject>, key: string, obj: FakeObject): FakeObject {
    const existed = map.has(key);
    obj.metadata.resourceVersion = this.nextRevision();
    map.set(key, obj);
    this.record(c, existed ? 'MODIFIED' : 'ADDED', obj);
    return obj;
  }

  private remove(c: Collection, map: Map<string, FakeObject>, key: string): void {
    const obj = map.get(key);
    if (!obj) return;
    map.delete(key);
    const gone = clone(obj);
    gone.metadata.resourceVersion = this.nextRevision();
    this.record(c, 'DELETED', gone);
  }

  private record(collection: Collection, type: HistoryEntry['type'], obj: FakeObject): void {
    const rv = Number(obj.metadata.resourceVersion);
    this.currentRv = Math.max(this.currentRv, rv);
    const entry = { rv, collection, type, object: clone(obj) };
    this.history.push(entry);
    for (const w of this.watchers)
      if (w.collection === collection && w.matches(entry.object)) this.write(w, { type, object: entry.object });
  }

  private bookmark(c: Collection): object {
    const kind = {
      pods: 'Pod',
      namespaces: 'Namespace',
      nads: 'NetworkAttachmentDefinition',
      policies: 'MultiNetworkPolicy',
    }[c];
    return { kind, metadata: { resourceVersion: String(this.currentRv) } };
  }

  private write(w: Watcher, event: object): void {
    if (!w.res.destroyed) w.res.write(`${JSON.stringify(event)}\n`);
  }

  private serveList(
    c: Collection,
    matches: (o: FakeObject) => boolean,
    q: URLSearchParams,
    send: (code: number, body: unknown) => void,
  ): void {
    this.lists[c]++;
    const token = q.get('continue');
    let listRv = this.currentRv;
    let offset = 0;
    if (token) {
      const parsed = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { rv: number; offset: number };
      ({ rv: listRv, offset } = parsed);
    }
    const limit = Number(q.get('limit') ?? 0) || Infinity;
    this.onListPage?.(c, limit === Infinity ? 0 : Math.round(offset / limit));
    if (token && listRv < this.compactedRv) {
      return send(
        410,
        statusObject(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result.'),
      );
    }
    const all = [...this.mapOf(c).entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, o]) => o)
      .filter(matches);
    const items = all.slice(offset, offset + limit);
    const next =
      offset + limit < all.length
        ? Buffer.from(JSON.stringify({ rv: listRv, offset: offset + limit })).toString('base64')
        : undefined;
    send(200, {
      kind: 'List',
      apiVersion: 'v1',
      metadata: { resourceVersion: String(listRv), ...(next ? { continue: next } : {}) },
      items,
    });
  }

  private serveWatch(
    c: Collection,
    matches: (o: FakeObject) => boolean,
    q: URLSearchParams,
    res: http.ServerResponse,
  ): void {
    this.watches[c]++;
    const from = Number(q.get('resourceVersion') ?? this.currentRv);
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (from < this.compactedRv) {
      res.end(
        `${JSON.stringify({ type: 'ERROR', object: statusObject(410, 'Expired', `too old resource version: ${from} (${this.compactedRv})`) })}\n`,
      );
      return;
    }
    const w: Watcher = { collection: c, matches, bookmarks: q.get('allowWatchBookmarks') === 'true', res };
    for (const e of this.history)
      if (e.collection === c && e.rv > from && matches(e.object)) this.write(w, { type: e.type, object: e.object });
    this.watchers.add(w);
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    res.on('close', () => {
      clearTimeout(timer);
      this.watchers.delete(w);
    });
  }
}
