import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KubeAccess } from '../../src/k8s/kubeconfig.ts';
import { KubeClient, type KubeClientOptions } from '../../src/k8s/rest-client.ts';
import { FakeApiServer } from '../helpers/fake-apiserver.ts';
import { failure } from '../helpers/failure.ts';

let fake: FakeApiServer;
let clients: KubeClient[];
let dir: string;

beforeEach(async () => {
  fake = await FakeApiServer.start();
  clients = [];
  dir = mkdtempSync(join(tmpdir(), 'braid-k8s-rest-'));
});
afterEach(async () => {
  for (const c of clients) c.close();
  await fake.close();
  rmSync(dir, { recursive: true, force: true });
});

function access(over: Partial<KubeAccess> = {}): KubeAccess {
  return {
    server: fake.url,
    source: 'kubeconfig /test/kubeconfig',
    auth: { kind: 'none' },
    insecureSkipTlsVerify: false,
    ...over,
  };
}

function client(opts: KubeClientOptions = {}, over: Partial<KubeAccess> = {}): KubeClient {
  const c = new KubeClient(access(over), { timeoutMs: 1_000, retries: 3, retryDelayMs: 10, ...opts });
  clients.push(c);
  return c;
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('GET pod and NAD', () => {
  it('reads a pod by the real API path and answers undefined for a 404 Status', async () => {
    const stored = fake.setPod({ namespace: 'team-a', name: 'web-0', annotations: { a: 'b' } });
    const c = client();
    const pod = await c.getPod('team-a', 'web-0');
    expect(pod?.metadata.uid).toBe(stored.metadata.uid);
    expect(pod?.metadata.resourceVersion).toBe(stored.metadata.resourceVersion);
    expect(pod?.metadata.annotations).toEqual({ a: 'b' });
    expect(await c.getPod('team-a', 'absent')).toBeUndefined();
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /api/v1/namespaces/team-a/pods/web-0',
      'GET /api/v1/namespaces/team-a/pods/absent',
    ]);
    expect(c.requestCount).toBe(2);
  });

  it('reads a NAD from the k8s.cni.cncf.io/v1 API', async () => {
    fake.setNad('team-a', 'macvlan', '{"cniVersion":"1.0.0","type":"macvlan"}');
    const nad = await client().getNad('team-a', 'macvlan');
    expect(nad?.kind).toBe('NetworkAttachmentDefinition');
    expect(nad?.spec?.config).toContain('macvlan');
    expect(fake.requests[0]?.path).toBe(
      '/apis/k8s.cni.cncf.io/v1/namespaces/team-a/network-attachment-definitions/macvlan',
    );
  });

  it('tells a missing NAD from a cluster without the NAD CRD', async () => {
    const c = client();
    expect(await c.getNad('team-a', 'absent')).toBeUndefined();
    fake.serveNads = false;
    const err = await failure(c.getNad('team-a', 'macvlan'));
    expect(err.code).toBe(7);
    expect(err.message).toContain('install the NetworkAttachmentDefinition CRD');
    expect(err.message).toContain('team-a/macvlan');
  });

  it('reuses one keep-alive connection for consecutive requests', async () => {
    fake.setPod({ namespace: 'ns', name: 'p' });
    const c = client();
    for (let i = 0; i < 5; i++) await c.getPod('ns', 'p');
    expect(fake.connectionCount).toBe(1);
  });
});

describe('retries', () => {
  it('retries 5xx answers and succeeds when the server recovers', async () => {
    fake.setPod({ namespace: 'ns', name: 'p' });
    fake.inject({ kind: 'status', code: 500 }, {}, 1);
    fake.inject({ kind: 'status', code: 503, reason: 'ServiceUnavailable' }, {}, 1);
    const c = client({ retries: 3 });
    expect(await c.getPod('ns', 'p')).toBeDefined();
    expect(c.requestCount).toBe(3);
    expect(fake.requests).toHaveLength(3);
  });

  it('gives up after the configured retries with code 11 naming the server and the Status message', async () => {
    fake.inject({ kind: 'status', code: 500, message: 'etcdserver: request timed out' }, {}, 10);
    const c = client({ retries: 2 });
    const err = await failure(c.getPod('ns', 'p'));
    expect(err.code).toBe(11);
    expect(err.message).toContain(fake.url);
    expect(err.message).toContain('HTTP 500 (etcdserver: request timed out)');
    expect(err.message).toContain('after 3 attempt(s)');
    expect(c.requestCount).toBe(3);
  });

  it('does not retry a 403 and reports the Status message with an RBAC hint', async () => {
    fake.inject({
      kind: 'status',
      code: 403,
      reason: 'Forbidden',
      message: 'pods "p" is forbidden: User "system:serviceaccount:kube-system:braid" cannot get resource "pods"',
    });
    const c = client();
    const err = await failure(c.getPod('ns', 'p'));
    expect(c.requestCount).toBe(1);
    expect(err.message).toContain('cannot get resource "pods"');
    expect(err.message).toContain('RBAC');
  });

  it('retries a dropped connection and a connection closed mid-response', async () => {
    fake.setPod({ namespace: 'ns', name: 'p' });
    fake.inject({ kind: 'drop' });
    fake.inject({ kind: 'drop-mid-body' });
    const c = client();
    expect((await c.getPod('ns', 'p'))?.metadata.name).toBe('p');
    expect(c.requestCount).toBe(3);
  });
});

describe('time limits: no request may hang an ADD', () => {
  it('a slow answer within the limit is fine', async () => {
    fake.setPod({ namespace: 'ns', name: 'p' });
    fake.inject({ kind: 'delay', ms: 100 });
    expect(await client({ timeoutMs: 1_000 }).getPod('ns', 'p')).toBeDefined();
  });

  it('a server that never answers fails with code 11 within the bound', async () => {
    fake.inject({ kind: 'hang' }, {}, 10);
    const c = client({ timeoutMs: 200, retries: 1, retryDelayMs: 50 });
    expect(c.totalTimeoutMs).toBe(450);
    const start = Date.now();
    const err = await failure(c.getPod('ns', 'p'));
    const elapsed = Date.now() - start;
    expect(err.code).toBe(11);
    expect(err.message).toContain('ETIMEDOUT');
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(elapsed).toBeLessThan(450 + 150);
    expect(c.requestCount).toBe(2);
  });

  it('totalTimeoutMs caps the whole call even with many retries', async () => {
    fake.inject({ kind: 'delay', ms: 5_000 }, {}, 10);
    const c = client({ timeoutMs: 200, retries: 10, retryDelayMs: 10, totalTimeoutMs: 300 });
    const start = Date.now();
    const err = await failure(c.getPod('ns', 'p'));
    expect(err.code).toBe(11);
    expect(Date.now() - start).toBeLessThan(300 + 150);
  });

  it('an API server that refuses connections fails with code 11 naming it, inside the bound', async () => {
    const port = await closedPort();
    const c = client({ timeoutMs: 300, retries: 2, retryDelayMs: 20 }, { server: `http://127.0.0.1:${port}` });
    const start = Date.now();
    const err = await failure(c.getPod('ns', 'p'));
    expect(Date.now() - start).toBeLessThan(c.totalTimeoutMs + 100);
    expect(err.code).toBe(11);
    expect(err.message).toContain(`http://127.0.0.1:${port}`);
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.message).toMatch(/try again later$/);
    expect(c.requestCount).toBe(3);
  });
});

describe('credentials', () => {
  it('re-reads a rotated service-account token file without a new client', async () => {
    fake.setPod({ namespace: 'ns', name: 'p' });
    fake.tokens = new Set(['token-2']);
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'token-1\n');
    const c = client({}, { auth: { kind: 'tokenFile', path: tokenFile } });
    const err = await failure(c.getPod('ns', 'p'));
    expect(err.code).toBe(11);
    expect(err.message).toContain('HTTP 401');
    expect(err.message).toContain('credentials from kubeconfig /test/kubeconfig were rejected');
    writeFileSync(tokenFile, 'token-2\n');
    expect(await c.getPod('ns', 'p')).toBeDefined();
    expect(fake.requests.at(-1)?.identity).toBe('token:token-2');
  });

  it('sends an inline bearer token', async () => {
    fake.setPod({ namespace: 'ns', name: 'p' });
    fake.tokens = new Set(['inline']);
    expect(await client({}, { auth: { kind: 'token', token: 'inline' } }).getPod('ns', 'p')).toBeDefined();
  });
});

describe('server URL with a path prefix (API proxies)', () => {
  it('keeps the prefix in front of every API path', async () => {
    const c = client({ retries: 0 }, { server: `${fake.url}/k8s/clusters/c-1` });
    expect(await c.getPod('ns', 'p')).toBeUndefined();
    expect(fake.requests[0]?.path).toBe('/k8s/clusters/c-1/api/v1/namespaces/ns/pods/p');
  });
});
