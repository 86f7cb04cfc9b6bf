/**
 * A stand-in for the Kubernetes API server on loopback: the paths, Status objects and
 * resourceVersion behaviour braid relies on, plus injected faults (error statuses, slow answers,
 * dropped connections) so tests can check what a real cluster in trouble does to an ADD.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

export interface FakeObjectMeta {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface FakeObject {
  apiVersion: string;
  kind: string;
  metadata: FakeObjectMeta;
  [key: string]: unknown;
}

export type Fault =
  | { kind: 'status'; code: number; reason?: string; message?: string }
  | { kind: 'delay'; ms: number }
  | { kind: 'drop' }
  | { kind: 'drop-mid-body' }
  | { kind: 'hang' };

export interface RecordedRequest {
  method: string;
  path: string;
  contentType?: string;
  body?: unknown;
  /** "token:<value>", "cert:<CN>" or "anonymous". */
  identity: string;
  socket: number;
}

export interface FakeApiServerOptions {
  tls?: { cert: string; key: string; ca?: string };
  /** Bearer tokens accepted; with neither this nor clientCerts every request is allowed. */
  tokens?: string[];
  /** Accept requests whose client certificate the CA verified. */
  clientCerts?: boolean;
}

interface PendingFault {
  fault: Fault;
  method?: string;
  path?: RegExp;
  times: number;
}

const POD = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)(\/status)?$/;
const NAD = /^\/apis\/k8s\.cni\.cncf\.io\/v1\/namespaces\/([^/]+)\/network-attachment-definitions\/([^/]+)$/;
const EVENTS = /^\/api\/v1\/namespaces\/([^/]+)\/events$/;

export function statusObject(code: number, reason: string, message: string, details?: object): object {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code };
}

export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  readonly events: FakeObject[] = [];
  tokens: Set<string> | undefined;
  /** False: behave like a cluster without the NetworkAttachmentDefinition CRD. */
  serveNads = true;
  protected readonly pods = new Map<string, FakeObject>();
  protected readonly nads = new Map<string, FakeObject>();
  private readonly faults: PendingFault[] = [];
  private revision = 100;
  private sockets = 0;

  protected constructor(
    protected readonly server: http.Server,
    protected readonly opts: FakeApiServerOptions,
  ) {
    this.tokens = opts.tokens ? new Set(opts.tokens) : undefined;
  }

  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const server = opts.tls
      ? https.createServer({ ...opts.tls, requestCert: !!opts.clientCerts, rejectUnauthorized: false })
      : http.createServer();
    const fake = new FakeApiServer(server, opts);
    server.on(opts.tls ? 'secureConnection' : 'connection', (s: { fakeId?: number }) => (s.fakeId = ++fake.sockets));
    server.on('request', (req, res) => void fake.handle(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return fake;
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `${this.opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  }

  /** TCP connections accepted so far (keep-alive reuse keeps this low). */
  get connectionCount(): number {
    return this.sockets;
  }

  setPod(p: {
    namespace: string;
    name: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  }): FakeObject {
    const pod: FakeObject = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { ...p, uid: p.uid ?? randomUUID(), resourceVersion: this.nextRevision() },
      spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'busybox' }] },
      status: { phase: 'Pending' },
    };
    this.pods.set(`${p.namespace}/${p.name}`, pod);
    return pod;
  }

  pod(namespace: string, name: string): FakeObject | undefined {
    return this.pods.get(`${namespace}/${name}`);
  }

  deletePod(namespace: string, name: string): void {
    this.pods.delete(`${namespace}/${name}`);
  }

  /** Another writer (a controller, kubectl annotate) changing annotations. */
  annotatePod(namespace: string, name: string, annotations: Record<string, string | null>): void {
    const pod = this.pod(namespace, name);
    if (!pod) throw new Error(`no pod ${namespace}/${name}`);
    this.mergeAnnotations(pod, annotations);
  }

  setNad(namespace: string, name: string, config?: string, annotations?: Record<string, string>): FakeObject {
    const nad: FakeObject = {
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: {
        name,
        namespace,
        uid: randomUUID(),
        resourceVersion: this.nextRevision(),
        ...(annotations ? { annotations } : {}),
      },
      spec: config === undefined ? {} : { config },
    };
    this.nads.set(`${namespace}/${name}`, nad);
    return nad;
  }

  deleteNad(namespace: string, name: string): void {
    this.nads.delete(`${namespace}/${name}`);
  }

  /** The next `times` requests matching method/path suffer `fault`. */
  inject(fault: Fault, match: { method?: string; path?: RegExp } = {}, times = 1): void {
    this.faults.push({ fault, ...match, times });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  protected nextRevision(): string {
    return String(++this.revision);
  }

  protected mergeAnnotations(obj: FakeObject, patch: Record<string, string | null>): void {
    const next = { ...(obj.metadata.annotations ?? {}) };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete next[k];
      else next[k] = v;
    }
    obj.metadata.annotations = next;
    obj.metadata.resourceVersion = this.nextRevision();
  }

  protected takeFault(method: string, path: string): Fault | undefined {
    const i = this.faults.findIndex((f) => (!f.method || f.method === method) && (!f.path || f.path.test(path)));
    const pending = this.faults[i];
    if (!pending) return undefined;
    if (--pending.times <= 0) this.faults.splice(i, 1);
    return pending.fault;
  }

  protected identify(req: http.IncomingMessage): string | undefined {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (token && this.tokens?.has(token)) return `token:${token}`;
    const tls = req.socket as TLSSocket;
    if (this.opts.clientCerts && tls.authorized) return `cert:${tls.getPeerCertificate().subject.CN}`;
    if (!this.tokens && !this.opts.clientCerts) return 'anonymous';
    return undefined;
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    const identity = this.identify(req);
    this.requests.push({
      method,
      path,
      contentType: req.headers['content-type'],
      body: text ? JSON.parse(text) : undefined,
      identity: identity ?? 'rejected',
      socket: (req.socket as { fakeId?: number }).fakeId ?? 0,
    });
    const send = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const fault = this.takeFault(method, path);
    if (fault?.kind === 'drop') return void req.socket.destroy();
    if (fault?.kind === 'hang') return;
    if (fault?.kind === 'delay') await new Promise((r) => setTimeout(r, fault.ms));
    if (fault?.kind === 'status') {
      const reason =
        fault.reason ?? (fault.code === 409 ? 'Conflict' : fault.code >= 500 ? 'InternalError' : 'BadRequest');
      return send(fault.code, statusObject(fault.code, reason, fault.message ?? `injected ${fault.code}`));
    }
    if (fault?.kind === 'drop-mid-body') {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"kind":"Pod","metadata":');
      setTimeout(() => req.socket.destroy(), 20);
      return;
    }
    if (!identity) return send(401, statusObject(401, 'Unauthorized', 'Unauthorized'));
    send(...this.route(method, path, req.headers['content-type'], text));
  }

  private route(method: string, path: string, contentType: string | undefined, text: string): [number, unknown] {
    const notFound = (kind: string, name: string): [number, unknown] => [
      404,
      statusObject(404, 'NotFound', `${kind} "${name}" not found`, { name, kind }),
    ];
    let m = POD.exec(path);
    if (m) {
      const [, ns = '', name = '', sub] = m.map((s) => (s === undefined ? s : decodeURIComponent(s)));
      const pod = this.pod(ns, name);
      if (!pod) return notFound('pods', name);
      if (method === 'GET') return [200, pod];
      if (!sub || (method !== 'PATCH' && method !== 'PUT'))
        return [405, statusObject(405, 'MethodNotAllowed', `${method} is not allowed here`)];
      const body = JSON.parse(text) as {
        metadata?: { resourceVersion?: string; annotations?: Record<string, string | null> };
      };
      const rv = body.metadata?.resourceVersion;
      if (rv !== undefined && rv !== pod.metadata.resourceVersion) {
        return [
          409,
          statusObject(
            409,
            'Conflict',
            `Operation cannot be fulfilled on pods "${name}": the object has been modified; please apply your changes to the latest version and try again`,
            { name, kind: 'pods' },
          ),
        ];
      }
      if (method === 'PATCH' && !/^application\/(merge-patch|strategic-merge-patch)\+json/.test(contentType ?? '')) {
        return [
          415,
          statusObject(
            415,
            'UnsupportedMediaType',
            `the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json`,
          ),
        ];
      }
      if (method === 'PUT') pod.metadata.annotations = {};
      this.mergeAnnotations(pod, body.metadata?.annotations ?? {});
      return [200, pod];
    }
    m = NAD.exec(path);
    if (m && method === 'GET' && this.serveNads) {
      const nad = this.nads.get(`${decodeURIComponent(m[1] ?? '')}/${decodeURIComponent(m[2] ?? '')}`);
      return nad ? [200, nad] : notFound('network-attachment-definitions.k8s.cni.cncf.io', m[2] ?? '');
    }
    m = EVENTS.exec(path);
    if (m && method === 'POST') {
      const event = JSON.parse(text) as FakeObject;
      event.metadata.uid = randomUUID();
      event.metadata.resourceVersion = this.nextRevision();
      this.events.push(event);
      return [201, event];
    }
    return [404, statusObject(404, 'NotFound', 'the server could not find the requested resource')];
  }
}

/** PEM texts; otherCaCert is a CA that signed nothing here, for "wrong CA" tests. */
export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  otherCaCert: string;
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl; undefined without openssl. */
export function makeTestPki(dir: string): TestPki | undefined {
  const run = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  try {
    run('version');
  } catch {
    return undefined;
  }
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=braid-test-ca');
  run('req', '-x509', ...ec, '-keyout', 'other.key', '-out', 'other.crt', '-days', '2', '-subj', '/CN=other-ca');
  const issue = (name: string, cn: string, ext: string): void => {
    writeFileSync(join(dir, `${name}.ext`), `${ext}\n`);
    run('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    run(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  };
  issue('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth');
  issue('client', 'system:node:node-a', 'extendedKeyUsage=clientAuth');
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  const [caCert, serverCert, serverKey, clientCert, clientKey, otherCaCert] = [
    'ca.crt',
    'server.crt',
    'server.key',
    'client.crt',
    'client.key',
    'other.crt',
  ].map(read) as [string, string, string, string, string, string];
  return { dir, caCert, serverCert, serverKey, clientCert, clientKey, otherCaCert };
}
