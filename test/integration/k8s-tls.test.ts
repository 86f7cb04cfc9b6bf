import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CniError } from '../../src/base/errors.ts';
import { loadKubeconfig, type KubeAccess } from '../../src/k8s/kubeconfig.ts';
import { KubeClient } from '../../src/k8s/rest-client.ts';
import { FakeApiServer, makeTestPki, type TestPki } from '../helpers/fake-apiserver.ts';

// The certificates are made with openssl at test time; without openssl only the http tests run.
const dir = mkdtempSync(join(tmpdir(), 'braid-k8s-tls-'));
const pki: TestPki | undefined = makeTestPki(dir);
if (!pki) console.warn('openssl not found: skipping the https API server tests (http only)');

let fake: FakeApiServer;
const clients: KubeClient[] = [];

beforeAll(async () => {
  if (!pki) return;
  fake = await FakeApiServer.start({
    tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert },
    tokens: ['sa-token'],
    clientCerts: true,
  });
  fake.setPod({ namespace: 'ns', name: 'p' });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await fake?.close();
  rmSync(dir, { recursive: true, force: true });
});

function client(access: KubeAccess): KubeClient {
  const c = new KubeClient(access, { timeoutMs: 1_000, retries: 2, retryDelayMs: 10 });
  clients.push(c);
  return c;
}

function kubeconfig(name: string, cluster: Record<string, unknown>, user: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(
    path,
    JSON.stringify({
      clusters: [{ name: 'c', cluster: { server: fake.url, ...cluster } }],
      users: [{ name: 'u', user }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return path;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

describe.skipIf(!pki)('https API server', () => {
  it('verifies the server against the kubeconfig CA and sends the bearer token', async () => {
    const path = kubeconfig(
      'token.kubeconfig',
      { 'certificate-authority-data': b64(pki!.caCert) },
      { token: 'sa-token' },
    );
    const c = client(await loadKubeconfig(path, {}));
    expect((await c.getPod('ns', 'p'))?.metadata.name).toBe('p');
    expect(fake.requests.at(-1)?.identity).toBe('token:sa-token');
  });

  it('authenticates with a client certificate and key from files', async () => {
    writeFileSync(join(dir, 'client.pem'), pki!.clientCert);
    writeFileSync(join(dir, 'client-key.pem'), pki!.clientKey);
    const path = kubeconfig(
      'cert.kubeconfig',
      { 'certificate-authority': join(dir, 'ca.crt') },
      { 'client-certificate': 'client.pem', 'client-key': 'client-key.pem' },
    );
    const c = client(await loadKubeconfig(path, {}));
    expect(await c.getPod('ns', 'p')).toBeDefined();
    expect(fake.requests.at(-1)?.identity).toBe('cert:system:node:node-a');
  });

  it('connects without verification when insecure-skip-tls-verify is set', async () => {
    const path = kubeconfig('insecure.kubeconfig', { 'insecure-skip-tls-verify': true }, { token: 'sa-token' });
    expect(await client(await loadKubeconfig(path, {})).getPod('ns', 'p')).toBeDefined();
  });

  it('fails with code 7 naming the kubeconfig when the CA does not match, without retrying', async () => {
    const path = kubeconfig(
      'wrong-ca.kubeconfig',
      { 'certificate-authority-data': b64(pki!.otherCaCert) },
      { token: 'sa-token' },
    );
    const c = client(await loadKubeconfig(path, {}));
    const before = fake.requests.length;
    const err = await c.getPod('ns', 'p').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CniError);
    expect((err as CniError).code).toBe(7);
    expect((err as CniError).message).toContain(path);
    expect((err as CniError).message).toMatch(/TLS verification .* failed/);
    expect(c.requestCount).toBe(1);
    expect(fake.requests.length).toBe(before);
  });

  it('rejects an unknown token with 401 and code 11', async () => {
    const path = kubeconfig(
      'bad-token.kubeconfig',
      { 'certificate-authority-data': b64(pki!.caCert) },
      { token: 'expired' },
    );
    const err = await client(await loadKubeconfig(path, {}))
      .getPod('ns', 'p')
      .catch((e: unknown) => e);
    expect((err as CniError).code).toBe(11);
    expect((err as CniError).message).toContain('HTTP 401 Unauthorized');
  });
});
